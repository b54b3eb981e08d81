// openai@7.60.0 stream helpers against assistd v2: runs.stream with on('textDelta') and finalRun(),
// createAndRunStream (thread.created first), submitToolOutputsStream.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { text, toolCalls } from '../node/fake-upstream.mjs';
import { sandboxMissing } from '../node/server.mjs';
import { INCLUDE, T, WEATHER, assistant, makeClient, startStack } from './helpers.mjs';

let stack;
let client;

before(async () => {
  stack = await startStack();
  ({ client } = makeClient(stack.server.baseURL));
});
after(async () => {
  await stack?.stop();
});

function record(stream) {
  const events = [];
  const deltas = [];
  stream.on('event', (e) => events.push(e.event));
  stream.on('textDelta', (d) => deltas.push(d.value));
  return { events, deltas };
}

test('runs.stream: textDelta and finalRun', T, async () => {
  const tag = stack.upstream.newTag();
  stack.upstream.script(tag, text('Hel', 'lo', '!'));
  const a = await assistant(client, tag);
  const t = await client.beta.threads.create({ messages: [{ role: 'user', content: 'hi' }] });
  const stream = client.beta.threads.runs.stream(t.id, { assistant_id: a.id, include: [INCLUDE] });
  const rec = record(stream);
  const run = await stream.finalRun();
  assert.equal(run.status, 'completed');
  assert.deepEqual(rec.deltas, ['Hel', 'lo', '!']);
  assert.equal(rec.events[0], 'thread.run.created');
  assert.equal(rec.events.at(-1), 'thread.run.completed');
  const [msg] = await stream.finalMessages();
  assert.equal(msg.content[0].text.value, 'Hello!');
});

test('createAndRunStream starts with thread.created', T, async () => {
  const tag = stack.upstream.newTag();
  stack.upstream.script(tag, text('new'));
  const a = await assistant(client, tag);
  const stream = client.beta.threads.createAndRunStream({
    assistant_id: a.id,
    thread: { messages: [{ role: 'user', content: 'hi' }] },
  });
  const rec = record(stream);
  const run = await stream.finalRun();
  assert.equal(run.status, 'completed');
  assert.deepEqual(rec.events.slice(0, 3), ['thread.created', 'thread.run.created', 'thread.run.queued']);
  assert.deepEqual(rec.deltas, ['new']);
});

test('tool call, then submitToolOutputsStream', T, async () => {
  const tag = stack.upstream.newTag();
  stack.upstream.script(tag, toolCalls(['get_weather', '{"city":"Rome"}']), text('Warm', '.'));
  const a = await assistant(client, tag, { tools: [WEATHER] });
  const t = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Rome?' }] });
  const first = client.beta.threads.runs.stream(t.id, { assistant_id: a.id, parallel_tool_calls: false });
  const created = [];
  first.on('toolCallCreated', (c) => created.push(c.type));
  const waiting = await first.finalRun();
  assert.equal(waiting.status, 'requires_action');
  assert.deepEqual(created, ['function']);
  const [call] = waiting.required_action.submit_tool_outputs.tool_calls;
  assert.equal(call.function.name, 'get_weather');
  const second = client.beta.threads.runs.submitToolOutputsStream(waiting.id, {
    thread_id: t.id,
    tool_outputs: [{ tool_call_id: call.id, output: '25C' }],
  });
  const rec = record(second);
  const done = await second.finalRun();
  assert.equal(done.status, 'completed');
  assert.deepEqual(rec.deltas, ['Warm', '.']);
  assert.equal(rec.events.at(-1), 'thread.run.completed');
});

test('file_search: the stream shows the search call, the final message cites the file', T, async () => {
  const { toFile } = await import('openai');
  const tag = stack.upstream.newTag();
  stack.upstream.script(
    tag,
    toolCalls(['file_search', '{"query":"when is the rocket launch"}']),
    text('Tuesday ', '【0:0†launch.md】.'),
  );
  const vs = await client.vectorStores.create({ name: 'plans' });
  const batch = await client.vectorStores.fileBatches.uploadAndPoll(vs.id, {
    files: [
      await toFile(Buffer.from('The rocket launch is scheduled for Tuesday at dawn.'), 'launch.md'),
      await toFile(Buffer.from('Rain is expected all week in the harbour town.'), 'weather.md'),
    ],
  });
  assert.equal(batch.file_counts.completed, 2);
  const launch = (await client.vectorStores.search(vs.id, { query: 'rocket launch' })).data[0];
  assert.equal(launch.filename, 'launch.md');
  const a = await assistant(client, tag, {
    tools: [{ type: 'file_search' }],
    tool_resources: { file_search: { vector_store_ids: [vs.id] } },
  });
  const t = await client.beta.threads.create({ messages: [{ role: 'user', content: 'When is the launch?' }] });
  const stream = client.beta.threads.runs.stream(t.id, { assistant_id: a.id, include: [INCLUDE] });
  const calls = [];
  stream.on('toolCallCreated', (c) => calls.push(c.type));
  const run = await stream.finalRun();
  assert.equal(run.status, 'completed');
  assert.deepEqual(calls, ['file_search']);
  const [message] = await stream.finalMessages();
  const part = message.content[0].text;
  assert.equal(part.annotations.length, 1);
  const note = part.annotations[0];
  assert.equal(note.type, 'file_citation');
  assert.equal(part.value.slice(note.start_index, note.end_index), '【0:0†launch.md】');
  assert.equal(note.file_citation.file_id, launch.file_id);
});

test('runs.stream with code_interpreter: toolCallCreated, code input and logs deltas', T, async (t) => {
  const missing = sandboxMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const tag = stack.upstream.newTag();
  const code = 'total = sum(range(1, 11))\nprint("total", total)';
  stack.upstream.script(tag, toolCalls(['code_interpreter', JSON.stringify({ code })]), text('The total is 55.'));
  const a = await assistant(client, tag, { tools: [{ type: 'code_interpreter' }] });
  const th = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Sum 1..10.' }] });
  const stream = client.beta.threads.runs.stream(th.id, { assistant_id: a.id });
  const created = [];
  const inputs = [];
  const logs = [];
  stream.on('toolCallCreated', (c) => created.push(c.type));
  stream.on('toolCallDelta', (d) => {
    if (d.type !== 'code_interpreter') return;
    if (d.code_interpreter?.input) inputs.push(d.code_interpreter.input);
    for (const o of d.code_interpreter?.outputs ?? []) if (o.type === 'logs') logs.push(o.logs);
  });
  const run = await stream.finalRun();
  assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
  assert.deepEqual(created, ['code_interpreter']);
  assert.equal(inputs.join(''), code);
  assert.deepEqual(logs, ['total 55\n']);
  const steps = await stream.finalRunSteps();
  const call = steps.find((s) => s.type === 'tool_calls').step_details.tool_calls[0];
  assert.deepEqual(call.code_interpreter, { input: code, outputs: [{ type: 'logs', logs: 'total 55\n' }] });
  const [msg] = await stream.finalMessages();
  assert.equal(msg.content[0].text.value, 'The total is 55.');
});
