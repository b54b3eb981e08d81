// A small scripted OpenAI-compatible chat-completions server for the run tests.
//
// `startFakeUpstream()` listens on 127.0.0.1, port 0 (node:http) and answers
// `POST /v1/chat/completions` with OpenAI's streaming (SSE) chunk format:
//
//   data: {"id":..,"object":"chat.completion.chunk","choices":[{"index":0,"delta":{...},"finish_reason":null}]}
//   ...
//   data: {..."choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}
//   data: {..."choices":[],"usage":{"prompt_tokens":..,"completion_tokens":..,"total_tokens":..}}
//   data: [DONE]
//
// One fake serves a whole test file, and assistd may still be busy with an earlier test's run, so
// replies are scripted per *tag*: a unique string that the test puts into its assistant's
// instructions (they reach the upstream as the system message). A request is answered with the next
// reply queued for the tag found in its body, and recorded under that tag. A request matching no
// queued reply gets an HTTP 400 (which assistd does not retry), so a stray run fails fast instead of
// eating another test's replies.
//
//   const tag = up.newTag();
//   up.script(tag, text('Hel', 'lo'), toolCalls(['get_weather', '{"city":"Paris"}'], ['get_time', '{}']));
//   await up.waitForRequests(tag, 1);  up.requests(tag)  // [{ path, headers, body, tag, reply }]

import http from 'node:http';
import { randomUUID } from 'node:crypto';

export const PROMPT_TOKENS = 11;

/** A text reply streamed as one content delta per chunk (completion_tokens = number of chunks). */
export function text(...chunks) {
  return { kind: 'text', chunks, value: chunks.join(''), usage: [PROMPT_TOKENS, chunks.length] };
}

/**
 * Function calls (parallel when more than one): each `[name, argumentsJson]` is streamed as a first
 * delta with the id, type, name and empty arguments, then its arguments in two pieces.
 * `ids` (filled in when the reply is sent) are the upstream's call ids.
 */
export function toolCalls(...calls) {
  return { kind: 'tool_calls', calls, ids: [], usage: [PROMPT_TOKENS, 9] };
}

/** An HTTP error with an OpenAI error body. */
export function httpError(status = 400, message = 'scripted upstream error') {
  return { kind: 'error', status, message };
}

/** The two argument pieces a call's arguments are split into. */
export function argumentPieces(args) {
  const half = Math.floor(args.length / 2);
  return [args.slice(0, half), args.slice(half)];
}

export async function startFakeUpstream() {
  const scripts = new Map(); // tag -> reply[]
  const records = [];
  const waiters = new Set();

  const take = (raw) => {
    for (const [tag, queue] of scripts) {
      if (raw.includes(tag)) return [tag, queue.length ? queue.shift() : null];
    }
    return [null, null];
  };

  const record = (rec) => {
    records.push(rec);
    for (const w of [...waiters]) w();
  };

  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = null;
      }
      const path = (req.url || '').split('?')[0];
      const [tag, reply] = path === '/v1/chat/completions' && req.method === 'POST' ? take(raw) : [null, null];
      record({ method: req.method, path, headers: { ...req.headers }, body, tag, reply, receivedAt: Date.now() });
      if (path !== '/v1/chat/completions' || req.method !== 'POST') {
        return sendJson(res, 404, errorBody(`fake upstream: no route ${req.method} ${path}`));
      }
      if (!reply) {
        return sendJson(res, 400, errorBody(`fake upstream: no reply scripted for this request (tag ${tag})`));
      }
      if (reply.kind === 'error') return sendJson(res, reply.status, errorBody(reply.message));
      stream(res, reply, body?.model ?? 'fake');
    });
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  return {
    port,
    baseURL: `http://127.0.0.1:${port}/v1`,
    newTag: () => `tag-${randomUUID().replaceAll('-', '')}`,
    /** Queue replies for the requests whose body contains `tag`. */
    script(tag, ...replies) {
      if (!scripts.has(tag)) scripts.set(tag, []);
      scripts.get(tag).push(...replies);
    },
    /** Replies queued for `tag` and not used yet. */
    pending: (tag) => (scripts.get(tag) || []).length,
    requests: (tag) => records.filter((r) => tag === undefined || r.tag === tag),
    /** Resolves with the requests for `tag` once there are at least `n` of them. */
    waitForRequests(tag, n, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const got = records.filter((r) => r.tag === tag);
          if (got.length >= n) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(got);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake upstream: expected ${n} request(s) for ${tag}, got ${this.requests(tag).length}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function errorBody(message) {
  return { error: { message, type: 'invalid_request_error', param: null, code: null } };
}

function sendJson(res, status, body) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length, connection: 'close' });
  res.end(data);
}

function stream(res, reply, model) {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta, finish = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const [prompt, completion] = reply.usage;
  const usage = {
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
  const events = [];
  if (reply.kind === 'text') {
    events.push(chunk({ role: 'assistant', content: '' }));
    for (const piece of reply.chunks) events.push(chunk({ content: piece }));
    events.push(chunk({}, 'stop'));
  } else {
    events.push(chunk({ role: 'assistant', content: null }));
    reply.calls.forEach(([name, args], index) => {
      const callId = `call_up${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      reply.ids.push(callId);
      events.push(
        chunk({ tool_calls: [{ index, id: callId, type: 'function', function: { name, arguments: '' } }] }),
      );
      for (const piece of argumentPieces(args)) {
        events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
    events.push(chunk({}, 'tool_calls'));
  }
  events.push(usage);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' });
  for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
  res.end('data: [DONE]\n\n');
}
