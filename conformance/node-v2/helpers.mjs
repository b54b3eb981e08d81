// Shared by the v2 Node tests: one fake upstream + one assistd per test file (reusing the v1
// suite's ../node/server.mjs and ../node/fake-upstream.mjs), and an openai@7.60.0 client whose HTTP
// traffic is recorded. Schemas are validated by the Python v2 suite; these tests check behaviour.

import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeUpstream } from '../node/fake-upstream.mjs';
import { startAssistd } from '../node/server.mjs';

export const T = { timeout: 30_000 };
export const MODEL = 'gpt-4o';
export const INCLUDE = 'step_details.tool_calls[*].file_search.results[*].content';
export const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    strict: true,
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
  },
};

/** A fake upstream and an assistd routed to it, polling hint 40 ms. */
export async function startStack() {
  const upstream = await startFakeUpstream();
  let server;
  try {
    server = await startAssistd({ upstreamURL: upstream.baseURL, env: { ASSISTD_POLL_AFTER_MS: '40' } });
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

/** The SDK, unmodified, with retries off; `http` records `{ method, url, headers, status }`. */
export function makeClient(baseURL) {
  const http = [];
  const client = new OpenAI({
    baseURL,
    apiKey: 'sk-any',
    maxRetries: 0,
    timeout: 20_000,
    fetch: async (url, init = {}) => {
      const headers = Object.fromEntries(
        Object.entries(Object.fromEntries(new Headers(init.headers || {}).entries())).map(([k, v]) => [k.toLowerCase(), v]),
      );
      const entry = { method: (init.method || 'GET').toUpperCase(), url: String(url), headers };
      http.push(entry);
      const res = await fetch(url, init);
      entry.status = res.status;
      return res;
    },
  });
  return { client, http };
}

/** An assistant whose instructions carry `tag` (the fake upstream's script key). */
export function assistant(client, tag, extra = {}) {
  return client.beta.assistants.create({ model: MODEL, instructions: `You are terse. ${tag}`, ...extra });
}

export function countsAddUp(fc) {
  for (const k of ['in_progress', 'completed', 'failed', 'cancelled', 'total']) {
    assert.ok(Number.isInteger(fc[k]) && fc[k] >= 0, `file_counts.${k}: ${JSON.stringify(fc)}`);
  }
  assert.equal(fc.in_progress + fc.completed + fc.failed + fc.cancelled, fc.total, JSON.stringify(fc));
}

export async function collect(iterable) {
  const out = [];
  for await (const x of iterable) out.push(x);
  return out;
}
