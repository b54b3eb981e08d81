// Streaming runs through the openai@4.36.0 stream helpers (AssistantStream) and raw `stream: true`.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { argumentPieces, httpError, text, toolCalls } from './fake-upstream.mjs';
import { sandboxMissing } from './server.mjs';
import {
  assertShape,
  assertStreamEvents,
  makeClient,
  messageText,
  setupRun,
  startStack,
  T,
  TIME_TOOL,
  WEATHER_TOOL,
} from './helpers.mjs';

let stack, client, http;

before(async () => {
  stack = await startStack();
  ({ client, http } = makeClient(stack.server.baseURL));
});

after(async () => {
  await stack?.stop();
});

/** Attach recorders for the AssistantStream events the tests look at. */
function record(stream) {
  const r = {
    events: [],
    textCreated: [],
    textDeltas: [],
    textDeltaSnapshots: [],
    textDone: [],
    messageCreated: [],
    messageDone: [],
    runStepCreated: [],
    runStepDeltas: [],
    runStepDone: [],
    toolCallCreated: [],
    toolCallDeltas: [],
    toolCallDone: [],
    connected: false,
    ended: false,
  };
  const clone = (x) => (x === undefined ? undefined : structuredClone(x));
  stream
    .on('connect', () => (r.connected = true))
    .on('event', (e) => r.events.push(clone(e)))
    .on('textCreated', (t) => r.textCreated.push(clone(t)))
    .on('textDelta', (d, snapshot) => {
      r.textDeltas.push(d.value);
      r.textDeltaSnapshots.push(snapshot.value);
    })
    .on('textDone', (t, m) => r.textDone.push({ text: clone(t), messageId: m?.id }))
    .on('messageCreated', (m) => r.messageCreated.push(clone(m)))
    .on('messageDone', (m) => r.messageDone.push(clone(m)))
    .on('runStepCreated', (s) => r.runStepCreated.push(clone(s)))
    .on('runStepDelta', (d) => r.runStepDeltas.push(clone(d)))
    .on('runStepDone', (s) => r.runStepDone.push(clone(s)))
    .on('toolCallCreated', (c) => r.toolCallCreated.push(clone(c)))
    .on('toolCallDelta', (d) => r.toolCallDeltas.push(clone(d)))
    .on('toolCallDone', (c) => r.toolCallDone.push(clone(c)))
    .on('end', () => (r.ended = true));
  return r;
}

const names = (events) => events.map((e) => e.event);

test('runs.stream: text deltas, message events, finalRun / finalMessages / messages.list agree', T, async () => {
  const reply = text('Hel', 'lo', ', ', 'wor', 'ld', '!');
  const { assistant, thread } = await setupRun(client, stack.upstream, { replies: [reply] });

  const start = http.length;
  const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const r = record(stream);
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  const steps = await stream.finalRunSteps();

  // The request: POST /threads/{id}/runs with stream: true and the helper header.
  const req = http[start];
  assert.equal(req.method, 'POST');
  assert.ok(req.url.endsWith(`/threads/${thread.id}/runs`));
  assert.equal(req.headers['x-stainless-helper-method'], 'stream');
  assert.match(req.responseHeaders['content-type'], /^text\/event-stream/);

  assert.ok(r.connected && r.ended);
  assertStreamEvents(r.events);
  assert.deepEqual(names(r.events), [
    'thread.run.created',
    'thread.run.queued',
    'thread.run.in_progress',
    'thread.run.step.created',
    'thread.run.step.in_progress',
    'thread.message.created',
    'thread.message.in_progress',
    ...reply.chunks.map(() => 'thread.message.delta'),
    'thread.message.completed',
    'thread.run.step.completed',
    'thread.run.completed',
  ]);

  // Text deltas: one per upstream chunk, the snapshot growing with them.
  assert.deepEqual(r.textDeltas, reply.chunks);
  assert.deepEqual(
    r.textDeltaSnapshots,
    reply.chunks.map((_, i) => reply.chunks.slice(0, i + 1).join('')),
  );
  const streamed = r.textDeltas.join('');
  assert.equal(streamed, 'Hello, world!');
  assert.equal(r.textCreated.length, 1);
  assert.equal(r.textDone.length, 1);
  assert.equal(r.textDone[0].text.value, streamed);

  // Message events.
  assert.equal(r.messageCreated.length, 1);
  const created = r.messageCreated[0];
  assert.equal(created.status, 'in_progress');
  assert.equal(created.role, 'assistant');
  assert.deepEqual(created.content, []);
  assert.equal(r.messageDone.length, 1);
  const done = r.messageDone[0];
  assert.equal(done.id, created.id);
  assert.equal(done.status, 'completed');
  assert.ok(Number.isInteger(done.completed_at));
  assert.equal(messageText(done), streamed);
  assert.deepEqual(done.content, [{ type: 'text', text: { value: streamed, annotations: [] } }]);

  // finalRun / finalMessages / finalRunSteps.
  assertShape(run, 'thread.run');
  assert.equal(run.status, 'completed');
  assert.equal(run.thread_id, thread.id);
  assert.deepEqual(run.usage, { prompt_tokens: 11, completion_tokens: reply.chunks.length, total_tokens: 11 + reply.chunks.length });
  assert.equal(messages.length, 1);
  assert.equal(messages[0].id, done.id);
  assert.equal(messageText(messages[0]), streamed);
  assert.equal(steps.length, 1);
  assert.equal(steps[0].type, 'message_creation');
  assert.equal(steps[0].status, 'completed');
  assert.equal(steps[0].step_details.message_creation.message_id, done.id);
  assert.equal(r.runStepCreated[0].id, steps[0].id);

  // The same text through the REST API.
  const list = await client.beta.threads.messages.list(thread.id, { run_id: run.id });
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, done.id);
  assert.equal(messageText(list.data[0]), streamed);
  const retrieved = await client.beta.threads.runs.retrieve(thread.id, run.id);
  assert.equal(retrieved.status, 'completed');
  assert.deepEqual(retrieved.usage, run.usage);
});

test('runs.create({stream: true}): the raw event stream, iterated with for await', T, async () => {
  const reply = text('raw ', 'events');
  const { assistant, thread } = await setupRun(client, stack.upstream, { replies: [reply] });
  const stream = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id, stream: true });
  const events = [];
  for await (const e of stream) events.push(e);
  assertStreamEvents(events);
  assert.equal(events[0].event, 'thread.run.created');
  assert.equal(events.at(-1).event, 'thread.run.completed', 'the stream ends after the terminal run event ([DONE] is not an event)');
  const deltas = events.filter((e) => e.event === 'thread.message.delta');
  assert.deepEqual(
    deltas.map((e) => e.data.delta.content.map((c) => [c.index, c.type, c.text.value])),
    reply.chunks.map((v) => [[0, 'text', v]]),
  );
  const runId = events[0].data.id;
  for (const e of events.filter((e) => e.event.startsWith('thread.run.') && !e.event.startsWith('thread.run.step'))) {
    assert.equal(e.data.id, runId);
  }
  for (const e of events.filter((e) => e.event.startsWith('thread.message') || e.event.startsWith('thread.run.step.'))) {
    if (e.data.object !== 'thread.message.delta' && e.data.object !== 'thread.run.step.delta') assert.equal(e.data.run_id, runId);
  }
});

test('function calling: stream to requires_action, then submitToolOutputsStream to completion', T, async () => {
  const args = '{"city":"Paris","unit":"celsius"}';
  const calls = toolCalls(['get_weather', args]);
  const answer = text('It is ', 'sunny in Paris.');
  const { tag, assistant, thread } = await setupRun(client, stack.upstream, {
    tools: [WEATHER_TOOL],
    content: 'Weather in Paris?',
    replies: [calls, answer],
  });

  const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const r = record(stream);
  const run = await stream.finalRun();
  assertStreamEvents(r.events);

  assert.equal(run.status, 'requires_action');
  assert.equal(run.required_action.type, 'submit_tool_outputs');
  const required = run.required_action.submit_tool_outputs.tool_calls;
  assert.equal(required.length, 1);
  const [call] = required;
  assert.match(call.id, /^call_/);
  assert.deepEqual(call.function, { name: 'get_weather', arguments: args });
  assert.equal(call.type, 'function');
  assert.deepEqual(run.usage, null, 'usage is null until the run is terminal');

  // The tool_calls step and the helper events.
  assert.equal(r.runStepCreated.length, 1);
  const step = r.runStepCreated[0];
  assert.equal(step.type, 'tool_calls');
  assert.equal(step.status, 'in_progress');
  assert.equal(r.toolCallCreated.length, 1);
  assert.equal(r.toolCallCreated[0].id, call.id);
  assert.equal(r.toolCallCreated[0].type, 'function');
  assert.equal(r.toolCallCreated[0].function.name, 'get_weather');
  assert.equal(r.toolCallCreated[0].function.arguments, '');
  // The argument pieces arrive as toolCallDelta events, exactly as the upstream sent them.
  assert.deepEqual(
    r.toolCallDeltas.map((d) => [d.index, d.type, d.function.arguments]),
    argumentPieces(args).map((p) => [0, 'function', p]),
  );
  assert.equal(r.toolCallDeltas.map((d) => d.function.arguments).join(''), args);
  assert.equal(r.toolCallDone.length, 1, 'toolCallDone on requires_action');
  assert.equal(r.toolCallDone[0].id, call.id);
  assert.equal(r.events.at(-1).event, 'thread.run.requires_action');
  assert.equal(r.messageCreated.length, 0);

  // Submit the output and stream the rest of the run.
  const output = JSON.stringify({ temperature: 22, sky: 'sunny' });
  const stream2 = client.beta.threads.runs.submitToolOutputsStream(thread.id, run.id, {
    tool_outputs: [{ tool_call_id: call.id, output }],
  });
  const r2 = record(stream2);
  const run2 = await stream2.finalRun();
  assertStreamEvents(r2.events);
  assert.equal(run2.id, run.id);
  assert.equal(run2.status, 'completed');
  assert.equal(run2.required_action, null);
  assert.deepEqual(run2.usage, { prompt_tokens: 22, completion_tokens: 9 + answer.chunks.length, total_tokens: 22 + 9 + answer.chunks.length });
  assert.equal(r2.events[0].event, 'thread.run.queued');
  assert.deepEqual(r2.textDeltas, answer.chunks);
  assert.equal(r2.messageDone.length, 1);
  assert.equal(messageText(r2.messageDone[0]), answer.value);
  const final = await stream2.finalMessages();
  assert.equal(messageText(final[0]), answer.value);

  // The upstream's second request carries the call and its output, with matching ids.
  const reqs = stack.upstream.requests(tag);
  assert.equal(reqs.length, 2);
  const msgs = reqs[1].body.messages;
  const asst = msgs.find((m) => m.role === 'assistant' && m.tool_calls);
  assert.ok(asst, `assistant tool_calls message in ${JSON.stringify(msgs)}`);
  assert.equal(asst.tool_calls.length, 1);
  assert.deepEqual(asst.tool_calls[0].function, { name: 'get_weather', arguments: args });
  const toolMsg = msgs.find((m) => m.role === 'tool');
  assert.deepEqual(toolMsg, { role: 'tool', tool_call_id: asst.tool_calls[0].id, content: output });

  // REST: the assistant message, and the tool_calls step completed with its output.
  const list = await client.beta.threads.messages.list(thread.id);
  assert.deepEqual(list.data.map((m) => [m.role, messageText(m)]), [
    ['assistant', answer.value],
    ['user', 'Weather in Paris?'],
  ]);
  const steps = await client.beta.threads.runs.steps.list(thread.id, run.id, { order: 'asc' });
  assert.deepEqual(steps.data.map((s) => [s.type, s.status]), [
    ['tool_calls', 'completed'],
    ['message_creation', 'completed'],
  ]);
  assert.deepEqual(steps.data[0].step_details.tool_calls, [
    { id: call.id, type: 'function', function: { name: 'get_weather', arguments: args, output } },
  ]);
});

test('function calling: two parallel calls streamed, both outputs submitted in one request', T, async () => {
  const weatherArgs = '{"city":"Oslo"}';
  const timeArgs = '{"tz":"Europe/Oslo"}';
  const calls = toolCalls(['get_weather', weatherArgs], ['get_time', timeArgs]);
  const answer = text('Cold, ', 'and 9am.');
  const { assistant, thread } = await setupRun(client, stack.upstream, {
    tools: [WEATHER_TOOL, TIME_TOOL],
    content: 'Weather and time in Oslo?',
    replies: [calls, answer],
  });

  const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const r = record(stream);
  const run = await stream.finalRun();
  assertStreamEvents(r.events);
  assert.equal(run.status, 'requires_action');
  const required = run.required_action.submit_tool_outputs.tool_calls;
  assert.deepEqual(
    required.map((c) => [c.type, c.function.name, c.function.arguments]),
    [
      ['function', 'get_weather', weatherArgs],
      ['function', 'get_time', timeArgs],
    ],
  );
  assert.equal(new Set(required.map((c) => c.id)).size, 2);
  for (const c of required) assert.match(c.id, /^call_/);

  // The raw step deltas: every tool call entry has an index; per index: id + name first, then the pieces.
  const toolDeltas = r.runStepDeltas.flatMap((d) => d.step_details.tool_calls ?? []);
  for (const [i, c] of required.entries()) {
    const mine = toolDeltas.filter((d) => d.index === i);
    assert.equal(mine[0].id, c.id);
    assert.equal(mine[0].type, 'function');
    assert.equal(mine[0].function.name, c.function.name);
    assert.equal(mine.map((d) => d.function.arguments ?? '').join(''), c.function.arguments);
    assert.ok(mine.slice(1).every((d) => d.id === undefined), 'the id only on the first delta of a call');
  }
  // The SDK's helper events. openai@4.36.0 does not accumulate tool_calls deltas into its run-step
  // snapshot (AssistantStream.accumulateDelta skips arrays of objects), so it emits toolCallCreated
  // for the first call only; every later argument piece is still a toolCallDelta.
  assert.equal(r.toolCallCreated[0].id, required[0].id);
  assert.equal(r.toolCallCreated[0].function.name, 'get_weather');
  for (const [i, c] of required.entries()) {
    const pieces = r.toolCallDeltas.filter((d) => d.index === i).map((d) => d.function.arguments ?? '');
    assert.equal(pieces.join(''), c.function.arguments);
  }

  const outputs = [
    { tool_call_id: required[0].id, output: '{"temp":-3}' },
    { tool_call_id: required[1].id, output: '09:00' },
  ];
  const stream2 = client.beta.threads.runs.submitToolOutputsStream(thread.id, run.id, { tool_outputs: outputs });
  const r2 = record(stream2);
  const run2 = await stream2.finalRun();
  assertStreamEvents(r2.events);
  assert.equal(run2.status, 'completed');
  assert.equal(r2.textDeltas.join(''), answer.value);
  const list = await client.beta.threads.messages.list(thread.id, { run_id: run.id });
  assert.deepEqual(list.data.map(messageText), [answer.value]);

  const steps = await client.beta.threads.runs.steps.list(thread.id, run.id, { order: 'asc' });
  assert.deepEqual(
    steps.data[0].step_details.tool_calls.map((c) => [c.id, c.function.name, c.function.arguments, c.function.output]),
    required.map((c, i) => [c.id, c.function.name, c.function.arguments, outputs[i].output]),
  );
});

test('threads.createAndRunStream: thread.created first, then the run', T, async () => {
  const tag = stack.upstream.newTag();
  const reply = text('New ', 'thread ', 'answer.');
  stack.upstream.script(tag, reply);
  const assistant = await client.beta.assistants.create({ model: 'gpt-4-turbo', instructions: `Be brief. ${tag}` });
  assert.equal(typeof client.beta.threads.createAndRunStream, 'function');

  const stream = client.beta.threads.createAndRunStream({
    assistant_id: assistant.id,
    thread: { messages: [{ role: 'user', content: 'Start a thread' }], metadata: { via: 'createAndRunStream' } },
  });
  const r = record(stream);
  const run = await stream.finalRun();
  assertStreamEvents(r.events);
  assert.equal(r.events[0].event, 'thread.created');
  const thread = r.events[0].data;
  assert.deepEqual(thread.metadata, { via: 'createAndRunStream' });
  assert.equal(r.events[1].event, 'thread.run.created');
  assert.equal(run.status, 'completed');
  assert.equal(run.thread_id, thread.id);
  assert.equal(r.textDeltas.join(''), reply.value);
  assert.equal(messageText(r.messageDone[0]), reply.value);

  const list = await client.beta.threads.messages.list(thread.id);
  assert.deepEqual(list.data.map((m) => [m.role, messageText(m)]), [
    ['assistant', reply.value],
    ['user', 'Start a thread'],
  ]);
});

test('runs.createAndStream (deprecated alias) streams the same way', T, async () => {
  const reply = text('alias');
  const { assistant, thread } = await setupRun(client, stack.upstream, { replies: [reply] });
  const stream = client.beta.threads.runs.createAndStream(thread.id, { assistant_id: assistant.id });
  const r = record(stream);
  const run = await stream.finalRun();
  assert.equal(run.status, 'completed');
  assert.deepEqual(r.textDeltas, ['alias']);
});

test('for await over an AssistantStream yields every event', T, async () => {
  const reply = text('it', 'er', 'ate');
  const { assistant, thread } = await setupRun(client, stack.upstream, { replies: [reply] });
  const events = [];
  for await (const e of client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id })) events.push(e);
  assertStreamEvents(events);
  assert.deepEqual(names(events), [
    'thread.run.created',
    'thread.run.queued',
    'thread.run.in_progress',
    'thread.run.step.created',
    'thread.run.step.in_progress',
    'thread.message.created',
    'thread.message.in_progress',
    'thread.message.delta',
    'thread.message.delta',
    'thread.message.delta',
    'thread.message.completed',
    'thread.run.step.completed',
    'thread.run.completed',
  ]);
  // (The delta events' data is not compared here: openai@4.36.0 accumulates later deltas into the
  // first delta's content object, so by the time a queued event is read its value has grown.)
  const completed = events.find((e) => e.event === 'thread.message.completed').data;
  assert.equal(messageText(completed), 'iterate');
  assert.equal(events.at(-1).data.status, 'completed');
});

test('a failing upstream: the stream ends with thread.run.failed (no error event)', T, async () => {
  const { tag, assistant, thread } = await setupRun(client, stack.upstream, {
    replies: [httpError(400, 'scripted: bad request upstream')],
  });
  const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const r = record(stream);
  // Node 4.36 throws on any `event: error`, so a run failure must be reported by thread.run.failed
  // (with last_error) alone; an error event would hide the failed run from the client.
  let run;
  try {
    run = await stream.finalRun();
  } catch (e) {
    assert.fail(
      `the stream threw ${e.constructor.name}: ${e.message}; events before it: ${names(r.events).join(', ')}`,
    );
  }
  assertStreamEvents(r.events);
  assert.equal(run.status, 'failed');
  assert.ok(Number.isInteger(run.failed_at));
  assert.ok(run.last_error && ['server_error', 'rate_limit_exceeded', 'invalid_prompt'].includes(run.last_error.code));
  assert.equal(typeof run.last_error.message, 'string');
  assert.equal(r.events.at(-1).event, 'thread.run.failed');
  assert.equal(stack.upstream.requests(tag).length, 1, 'a 400 is not retried');
});

test('the wire: text/event-stream frames of `event:` + `data:`, ending with event: done / data: [DONE]', T, async () => {
  const reply = text('wire');
  const { assistant, thread } = await setupRun(client, stack.upstream, { replies: [reply] });
  const res = await fetch(`${stack.server.baseURL}/threads/${thread.id}/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-any', 'openai-beta': 'assistants=v1' },
    body: JSON.stringify({ assistant_id: assistant.id, stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const body = await res.text();
  // Keep-alive comments (lines starting with ':') are allowed between frames.
  const frames = body
    .split('\n\n')
    .map((f) => f.split('\n').filter((l) => l && !l.startsWith(':')))
    .filter((lines) => lines.length);
  for (const lines of frames) {
    assert.equal(lines.length, 2, `a frame is one event line and one data line: ${JSON.stringify(lines)}`);
    assert.match(lines[0], /^event: [a-z_.]+$/);
    assert.match(lines[1], /^data: /);
  }
  assert.deepEqual(frames.at(-1), ['event: done', 'data: [DONE]']);
  for (const [ev, data] of frames.slice(0, -1)) {
    const parsed = JSON.parse(data.slice('data: '.length));
    assert.ok(parsed.id, `${ev}: data has an id`);
  }
  assert.deepEqual(frames.at(-2)[0], 'event: thread.run.completed');
});

test('runs.stream with code_interpreter: the code and its logs stream as tool call deltas', T, async (t) => {
  const missing = sandboxMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const code = 'a, b, c = 3, 11, 14\nx = (c - b) / a\nprint(f"x = {x:g}")';
  const { tag, assistant, thread } = await setupRun(client, stack.upstream, {
    tools: [{ type: 'code_interpreter' }],
    content: 'I need to solve the equation `3x + 11 = 14`. Can you help me?',
    replies: [toolCalls(['code_interpreter', JSON.stringify({ code })]), text('x = 1', ', Jane.')],
  });
  const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const r = record(stream);
  const run = await stream.finalRun();
  assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
  assertStreamEvents(r.events);

  assert.deepEqual(r.toolCallCreated.map((c) => c.type), ['code_interpreter']);
  assert.match(r.toolCallCreated[0].id, /^call_/);
  const deltas = r.toolCallDeltas;
  assert.ok(deltas.every((d) => d.type === 'code_interpreter' && d.index === 0), JSON.stringify(deltas));
  assert.equal(deltas.map((d) => d.code_interpreter?.input ?? '').join(''), code);
  const logs = deltas.flatMap((d) => d.code_interpreter?.outputs ?? []);
  assert.deepEqual(logs, [{ index: 0, type: 'logs', logs: 'x = 1\n' }]);
  // (openai@4.36.0 hands toolCallDone the call as it was created, not its accumulated snapshot.)
  assert.equal(r.toolCallDone.length, 1);
  assert.equal(r.toolCallDone[0].id, r.toolCallCreated[0].id);
  const stepDone = r.runStepDone.find((s) => s.type === 'tool_calls');
  assert.deepEqual(stepDone.step_details.tool_calls[0].code_interpreter, {
    input: code,
    outputs: [{ type: 'logs', logs: 'x = 1\n' }],
  });

  // The model read the logs as the tool's output; the answer follows.
  const [first, second] = stack.upstream.requests(tag);
  assert.deepEqual(first.body.tools.map((x) => x.function.name), ['code_interpreter']);
  assert.ok(second.body.messages.some((m) => m.role === 'tool' && m.content.includes('x = 1')), JSON.stringify(second.body));
  assert.equal(r.textDone.at(-1).text.value, 'x = 1, Jane.');
  const steps = await client.beta.threads.runs.steps.list(thread.id, run.id, { order: 'asc' });
  assert.deepEqual(steps.data.map((s) => s.type), ['tool_calls', 'message_creation']);
  assert.equal(steps.data[0].step_details.tool_calls[0].code_interpreter.input, code);
});
