// openai@7.60.0 (Assistants v2) REST surface: assistants, threads, messages (delete, attachments),
// runs with createAndPoll / createAndRunPoll / submitToolOutputsAndPoll, steps with include,
// files, and for-await pagination.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { toFile } from 'openai';
import { text, toolCalls } from '../node/fake-upstream.mjs';
import { INCLUDE, MODEL, T, WEATHER, assistant, collect, makeClient, startStack } from './helpers.mjs';

let stack;
let client;
let http;

before(async () => {
  stack = await startStack();
  ({ client, http } = makeClient(stack.server.baseURL));
});
after(async () => {
  await stack?.stop();
});

test('assistants: v2 tools, tool_resources, json_schema; for-await pagination', T, async () => {
  const vs = await client.vectorStores.create({ name: 'kb' });
  const a = await client.beta.assistants.create({
    model: MODEL,
    tools: [{ type: 'file_search', file_search: { max_num_results: 4 } }, { type: 'code_interpreter' }, WEATHER],
    tool_resources: { file_search: { vector_store_ids: [vs.id] } },
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'a', strict: true, schema: { type: 'object', properties: {}, additionalProperties: false } },
    },
    reasoning_effort: 'low',
  });
  assert.match(a.id, /^asst_/);
  assert.deepEqual(a.tools.map((t) => t.type), ['file_search', 'code_interpreter', 'function']);
  assert.equal(a.tools[2].function.strict, true);
  assert.deepEqual(a.tool_resources.file_search.vector_store_ids, [vs.id]);
  assert.equal(a.response_format.type, 'json_schema');
  assert.ok(http.some((h) => h.url.endsWith('/assistants') && h.headers['openai-beta'] === 'assistants=v2'));

  const ids = [a.id];
  for (let i = 0; i < 3; i++) ids.push((await client.beta.assistants.create({ model: MODEL, name: `p${i}` })).id);
  const listed = (await collect(client.beta.assistants.list({ limit: 2 }))).map((x) => x.id);
  for (const id of ids) assert.ok(listed.includes(id), id);
  assert.equal(new Set(listed).size, listed.length);
  const updated = await client.beta.assistants.update(a.id, { name: 'renamed' });
  assert.equal(updated.name, 'renamed');
  const del = await client.beta.assistants.delete(a.id);
  assert.deepEqual([del.id, del.deleted, del.object], [a.id, true, 'assistant.deleted']);
});

test('threads and messages: attachments, part arrays, delete', T, async () => {
  const f = await client.files.create({ file: await toFile(Buffer.from('notes'), 'n.txt'), purpose: 'assistants' });
  const post = http.filter((h) => h.method === 'POST' && h.url.endsWith('/files')).at(-1);
  assert.equal(post.headers['openai-beta'], undefined, 'POST /files carries no OpenAI-Beta');
  const t = await client.beta.threads.create({
    messages: [{ role: 'user', content: 'hi', attachments: [{ file_id: f.id, tools: [{ type: 'file_search' }] }] }],
  });
  assert.equal(t.tool_resources.file_search.vector_store_ids.length, 1);
  const m = await client.beta.threads.messages.create(t.id, {
    role: 'user',
    content: [
      { type: 'text', text: 'look' },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
    ],
  });
  assert.deepEqual(m.content.map((c) => c.type), ['text', 'image_url']);
  const got = await client.beta.threads.messages.retrieve(m.id, { thread_id: t.id });
  assert.equal(got.id, m.id);
  const all = await collect(client.beta.threads.messages.list(t.id, { order: 'asc', limit: 1 }));
  assert.equal(all.length, 2);
  assert.equal(all[0].attachments[0].file_id, f.id);
  const del = await client.beta.threads.messages.delete(m.id, { thread_id: t.id });
  assert.deepEqual([del.id, del.deleted, del.object], [m.id, true, 'thread.message.deleted']);
  assert.equal((await collect(client.beta.threads.messages.list(t.id))).length, 1);
  const td = await client.beta.threads.delete(t.id);
  assert.equal(td.deleted, true);
});

test('runs: createAndPoll with include and v2 parameters; steps with include', T, async () => {
  const tag = stack.upstream.newTag();
  stack.upstream.script(tag, text('Hel', 'lo'));
  const a = await assistant(client, tag, { tools: [WEATHER] });
  const t = await client.beta.threads.create({ messages: [{ role: 'user', content: 'hi' }] });
  const run = await client.beta.threads.runs.createAndPoll(t.id, {
    assistant_id: a.id,
    include: [INCLUDE],
    parallel_tool_calls: false,
    tool_choice: 'required',
    truncation_strategy: { type: 'last_messages', last_messages: 3 },
  });
  assert.equal(run.status, 'completed');
  assert.equal(run.parallel_tool_calls, false);
  const create = http.find((h) => h.method === 'POST' && h.url.includes(`/threads/${t.id}/runs?`));
  assert.ok(create && create.url.includes('include%5B%5D='), create?.url);
  const [body] = (await stack.upstream.waitForRequests(tag, 1)).map((r) => r.body);
  assert.equal(body.parallel_tool_calls, false);
  assert.equal(body.tool_choice, 'required');
  const steps = await collect(client.beta.threads.runs.steps.list(run.id, { thread_id: t.id, include: [INCLUDE] }));
  assert.deepEqual(steps.map((s) => s.type), ['message_creation']);
  const step = await client.beta.threads.runs.steps.retrieve(steps[0].id, {
    thread_id: t.id,
    run_id: run.id,
    include: [INCLUDE],
  });
  assert.equal(step.id, steps[0].id);
  const again = await client.beta.threads.runs.retrieve(run.id, { thread_id: t.id });
  assert.equal(again.status, 'completed');
});

test('runs: submitToolOutputsAndPoll, createAndRunPoll', T, async () => {
  const tag = stack.upstream.newTag();
  stack.upstream.script(tag, toolCalls(['get_weather', '{"city":"Paris"}']), text('Sunny.'), text('Again.'));
  const a = await assistant(client, tag, { tools: [WEATHER] });
  const t = await client.beta.threads.create({ messages: [{ role: 'user', content: 'weather?' }] });
  const waiting = await client.beta.threads.runs.createAndPoll(t.id, { assistant_id: a.id });
  assert.equal(waiting.status, 'requires_action');
  const [call] = waiting.required_action.submit_tool_outputs.tool_calls;
  const done = await client.beta.threads.runs.submitToolOutputsAndPoll(waiting.id, {
    thread_id: t.id,
    tool_outputs: [{ tool_call_id: call.id, output: '22C' }],
  });
  assert.equal(done.status, 'completed');
  const run2 = await client.beta.threads.createAndRunPoll({
    assistant_id: a.id,
    thread: { messages: [{ role: 'user', content: 'more' }] },
    tool_choice: 'auto',
  });
  assert.equal(run2.status, 'completed');
  const msgs = await collect(client.beta.threads.messages.list(run2.thread_id));
  assert.equal(msgs[0].content[0].text.value, 'Again.');
});

test('files: expires_after, v2 purposes, for-await pagination', T, async () => {
  const f = await client.files.create({
    file: await toFile(Buffer.from('soon'), 's.txt'),
    purpose: 'user_data',
    expires_after: { anchor: 'created_at', seconds: 3600 },
  });
  assert.equal(f.purpose, 'user_data');
  assert.equal(f.expires_at, f.created_at + 3600);
  const ids = (await collect(client.files.list({ limit: 2 }))).map((x) => x.id);
  assert.ok(ids.includes(f.id));
  assert.equal(new Set(ids).size, ids.length);
});
