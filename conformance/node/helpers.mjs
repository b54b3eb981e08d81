// Shared test helpers: one fake upstream + one assistd per test file, SDK clients whose HTTP traffic
// is recorded, and checks of object shapes against the v1 spec's required fields
// (/work/shared/spec/v1-surface.md §2).

import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeUpstream } from './fake-upstream.mjs';
import { startAssistd } from './server.mjs';

export const API_KEY = 'sk-any';

/** Options for every test: a hung server or stream fails the test instead of hanging the suite. */
export const T = { timeout: 60_000 };

/** Start a fake upstream and an assistd routed to it. */
export async function startStack() {
  const upstream = await startFakeUpstream();
  let server;
  try {
    server = await startAssistd({ upstreamURL: upstream.baseURL });
  } catch (e) {
    await upstream.close();
    throw e;
  }
  return {
    upstream,
    server,
    async stop() {
      await server.stop();
      await upstream.close();
    },
  };
}

/**
 * `new OpenAI({ baseURL, apiKey: 'sk-any' })`, with retries off (a 5xx must fail the test, not be
 * retried away) and every request/response recorded in `http`:
 * `{ method, url, headers (lower-case), status, responseHeaders }`.
 */
export function makeClient(baseURL) {
  const client = new OpenAI({ baseURL, apiKey: API_KEY, maxRetries: 0 });
  const http = [];
  const inner = client.fetch;
  client.fetch = async (url, init = {}) => {
    const entry = { method: (init.method || 'GET').toUpperCase(), url: String(url), headers: lowerHeaders(init.headers) };
    http.push(entry);
    const res = await inner(url, init);
    entry.status = res.status;
    entry.responseHeaders = Object.fromEntries(res.headers.entries());
    return res;
  };
  return { client, http };
}

function lowerHeaders(h) {
  if (!h) return {};
  const entries = typeof h.entries === 'function' ? [...h.entries()] : Object.entries(h);
  return Object.fromEntries(entries.map(([k, v]) => [k.toLowerCase(), String(v)]));
}

// --- shapes --------------------------------------------------------------------------------------

const REQUIRED = {
  assistant: ['id', 'object', 'created_at', 'name', 'description', 'model', 'instructions', 'tools', 'file_ids', 'metadata'],
  'assistant.file': ['id', 'object', 'created_at', 'assistant_id'],
  thread: ['id', 'object', 'created_at', 'metadata'],
  'thread.message': [
    'id', 'object', 'created_at', 'thread_id', 'status', 'incomplete_details', 'completed_at', 'incomplete_at',
    'role', 'content', 'assistant_id', 'run_id', 'file_ids', 'metadata',
  ],
  'thread.message.file': ['id', 'object', 'created_at', 'message_id'],
  'thread.run': [
    'id', 'object', 'created_at', 'thread_id', 'assistant_id', 'status', 'required_action', 'last_error',
    'expires_at', 'started_at', 'cancelled_at', 'failed_at', 'completed_at', 'incomplete_details', 'model',
    'instructions', 'tools', 'file_ids', 'metadata', 'usage', 'max_prompt_tokens', 'max_completion_tokens',
    'truncation_strategy', 'tool_choice', 'response_format',
  ],
  'thread.run.step': [
    'id', 'object', 'created_at', 'assistant_id', 'thread_id', 'run_id', 'type', 'status', 'step_details',
    'last_error', 'expired_at', 'cancelled_at', 'failed_at', 'completed_at', 'metadata', 'usage',
  ],
  'thread.message.delta': ['id', 'object', 'delta'],
  'thread.run.step.delta': ['id', 'object', 'delta'],
  file: ['id', 'bytes', 'created_at', 'filename', 'object', 'purpose', 'status'],
};

const ID_PREFIX = {
  assistant: 'asst_',
  'assistant.file': 'file-',
  thread: 'thread_',
  'thread.message': 'msg_',
  'thread.message.file': 'file-',
  'thread.run': 'run_',
  'thread.run.step': 'step_',
  'thread.message.delta': 'msg_',
  'thread.run.step.delta': 'step_',
  file: 'file-',
};

const RUN_STATUSES = ['queued', 'in_progress', 'requires_action', 'cancelling', 'cancelled', 'failed', 'completed', 'expired'];

/** Assert that `obj` is a spec-complete object of the given `object` type; returns obj. */
export function assertShape(obj, kind, where = kind) {
  assert.ok(obj && typeof obj === 'object', `${where}: not an object: ${JSON.stringify(obj)}`);
  assert.equal(obj.object, kind, `${where}: object`);
  const missing = REQUIRED[kind].filter((k) => !(k in obj));
  assert.deepEqual(missing, [], `${where}: missing required fields ${missing.join(', ')} in ${JSON.stringify(obj)}`);
  assert.equal(typeof obj.id, 'string');
  assert.ok(obj.id.startsWith(ID_PREFIX[kind]), `${where}: id ${obj.id} should start with ${ID_PREFIX[kind]}`);
  if ('created_at' in obj) assert.ok(Number.isInteger(obj.created_at), `${where}: created_at is an integer`);
  if (kind === 'thread.run') assert.ok(RUN_STATUSES.includes(obj.status), `${where}: run status ${obj.status}`);
  return obj;
}

/** A list envelope as the spec has it (`first_id`/`last_id` null on an empty page). */
export function assertListEnvelope(body, where = 'list') {
  for (const k of ['object', 'data', 'first_id', 'last_id', 'has_more']) assert.ok(k in body, `${where}: missing ${k}`);
  assert.equal(body.object, 'list');
  assert.equal(typeof body.has_more, 'boolean');
  if (body.data.length) {
    assert.equal(body.first_id, body.data[0].id, `${where}: first_id`);
    assert.equal(body.last_id, body.data.at(-1).id, `${where}: last_id`);
  } else {
    assert.equal(body.first_id, null, `${where}: first_id of an empty page`);
    assert.equal(body.last_id, null, `${where}: last_id of an empty page`);
  }
}

/** The `{error: {message, type, param, code}}` envelope of an SDK APIError. */
export function assertErrorEnvelope(err, status) {
  assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${err}`);
  assert.equal(err.status, status);
  // The SDK hands `body.error` to the error as `.error`.
  assert.deepEqual(Object.keys(err.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof err.error.message, 'string');
  assert.equal(typeof err.error.type, 'string');
}

/** The concatenated text of a message's text parts. */
export function messageText(message) {
  return message.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text.value)
    .join('');
}

/** Every `event.data` of a stream must fit its event name. Returns the checked events. */
export function assertStreamEvents(events) {
  for (const [i, e] of events.entries()) {
    const where = `event #${i} ${e.event}`;
    if (e.event === 'thread.created') assertShape(e.data, 'thread', where);
    else if (e.event === 'thread.run.step.delta') assertShape(e.data, 'thread.run.step.delta', where);
    else if (e.event === 'thread.message.delta') assertShape(e.data, 'thread.message.delta', where);
    else if (e.event.startsWith('thread.run.step.')) {
      assertShape(e.data, 'thread.run.step', where);
      if (e.event !== 'thread.run.step.created') {
        assert.equal(e.event, `thread.run.step.${e.data.status}`, `${where}: status ${e.data.status}`);
      }
    } else if (e.event.startsWith('thread.message.')) {
      assertShape(e.data, 'thread.message', where);
      if (e.event !== 'thread.message.created') {
        assert.equal(e.event, `thread.message.${e.data.status}`, `${where}: status ${e.data.status}`);
      }
    } else if (e.event.startsWith('thread.run.')) {
      assertShape(e.data, 'thread.run', where);
      if (e.event !== 'thread.run.created') assert.equal(e.event, `thread.run.${e.data.status}`, `${where}: status`);
    } else {
      assert.fail(`${where}: unexpected event name (data ${JSON.stringify(e.data)})`);
    }
  }
  return events;
}

/** A fresh tag, an assistant whose instructions carry it, and a thread with one user message. */
export async function setupRun(client, upstream, { tools = [], content = 'Hello?', replies = [] } = {}) {
  const tag = upstream.newTag();
  upstream.script(tag, ...replies);
  const assistant = await client.beta.assistants.create({
    model: 'gpt-4-turbo',
    name: 'conformance',
    instructions: `You are a test assistant. ${tag}`,
    tools,
  });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content }] });
  return { tag, assistant, thread };
}

export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
  },
};

export const TIME_TOOL = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The time in a timezone',
    parameters: { type: 'object', properties: { tz: { type: 'string' } } },
  },
};
