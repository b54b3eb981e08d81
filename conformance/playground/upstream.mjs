// A scripted OpenAI-compatible chat-completions upstream for the playground tests, like
// ../node/fake-upstream.mjs (replies queued per tag found in the request, i.e. in the
// assistant's instructions) plus what the browser tests need: text replies paced at a given rate
// (the 100 tokens/s streaming measure).
//
//   const up = await startUpstream();
//   const tag = up.newTag();
//   up.script(tag, text('Hel', 'lo'), toolCalls(['get_weather', '{"city":"Paris"}']), paced(tokens, 100));

import http from 'node:http';
import { randomUUID } from 'node:crypto';

/** A text reply, one chunk per piece, all at once. */
export function text(...chunks) {
  return { kind: 'text', chunks, perSecond: 0 };
}

/** A text reply whose pieces are sent `perSecond` a second. */
export function paced(chunks, perSecond) {
  return { kind: 'text', chunks, perSecond };
}

/** Function calls: each `[name, argumentsJson]`. */
export function toolCalls(...calls) {
  return { kind: 'tool_calls', calls };
}

export async function startUpstream() {
  const scripts = new Map();
  const records = [];
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let tag = null;
      let reply = null;
      for (const [t, queue] of scripts) {
        if (raw.includes(t)) {
          tag = t;
          reply = queue.shift() || null;
          break;
        }
      }
      records.push({ tag, body: JSON.parse(raw || 'null') });
      if (req.url !== '/v1/chat/completions' || !reply) {
        res.writeHead(400, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ error: { message: `fake upstream: nothing scripted (tag ${tag})`, type: 'invalid_request_error' } }));
        return;
      }
      stream(res, reply);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    newTag: () => `tag-${randomUUID().replaceAll('-', '')}`,
    script(tag, ...replies) {
      if (!scripts.has(tag)) scripts.set(tag, []);
      scripts.get(tag).push(...replies);
    },
    requests: (tag) => records.filter((r) => r.tag === tag),
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function stream(res, reply) {
  const id = `chatcmpl-${randomUUID().slice(0, 8)}`;
  const chunk = (delta, finish = null) => ({
    id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: 'fake',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const send = (e) => res.write(`data: ${JSON.stringify(e)}\n\n`);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' });
  let completion = 0;
  if (reply.kind === 'text') {
    send(chunk({ role: 'assistant', content: '' }));
    const start = Date.now();
    for (const [i, piece] of reply.chunks.entries()) {
      if (reply.perSecond) {
        // Paced against the start, so timer slack does not add up over the reply.
        const due = start + (i * 1000) / reply.perSecond;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      send(chunk({ content: piece }));
    }
    completion = reply.chunks.length;
    send(chunk({}, 'stop'));
  } else {
    send(chunk({ role: 'assistant', content: null }));
    reply.calls.forEach(([name, args], index) => {
      send(chunk({ tool_calls: [{ index, id: `call_${randomUUID().slice(0, 12)}`, type: 'function', function: { name, arguments: '' } }] }));
      send(chunk({ tool_calls: [{ index, function: { arguments: args } }] }));
    });
    completion = 9;
    send(chunk({}, 'tool_calls'));
  }
  send({ id, object: 'chat.completion.chunk', created: 0, model: 'fake', choices: [],
    usage: { prompt_tokens: 11, completion_tokens: completion, total_tokens: 11 + completion } });
  res.end('data: [DONE]\n\n');
}
