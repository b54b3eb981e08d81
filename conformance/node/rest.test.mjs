// The REST surface through the official openai@4.36.0 SDK (assistants=v1).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { VERSION } from 'openai/version';
import { text } from './fake-upstream.mjs';
import {
  assertErrorEnvelope,
  assertListEnvelope,
  assertShape,
  makeClient,
  messageText,
  setupRun,
  startStack,
  T,
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

test('the SDK is 4.36.0 and sends OpenAI-Beta: assistants=v1', T, async () => {
  assert.equal(VERSION, '4.36.0');
  const before = http.length;
  await client.beta.assistants.list({ limit: 1 });
  const req = http[before];
  assert.equal(req.headers['openai-beta'], 'assistants=v1');
  assert.equal(req.headers.authorization, 'Bearer sk-any');
  assert.equal(req.status, 200);
});

test('assistants: create, retrieve, update, delete', T, async () => {
  const created = await client.beta.assistants.create({
    model: 'gpt-4-turbo',
    name: 'Math tutor',
    description: 'helps with math',
    instructions: 'You are a personal math tutor.',
    tools: [{ type: 'code_interpreter' }, WEATHER_TOOL],
    metadata: { team: 'node', n: '1' },
  });
  assertShape(created, 'assistant');
  assert.equal(created.model, 'gpt-4-turbo');
  assert.equal(created.name, 'Math tutor');
  assert.equal(created.description, 'helps with math');
  assert.equal(created.instructions, 'You are a personal math tutor.');
  assert.deepEqual(created.tools, [{ type: 'code_interpreter' }, WEATHER_TOOL]);
  assert.deepEqual(created.file_ids, []);
  assert.deepEqual(created.metadata, { team: 'node', n: '1' });
  assert.ok(Math.abs(created.created_at - Date.now() / 1000) < 120, 'created_at is a unix time in seconds');

  const got = await client.beta.assistants.retrieve(created.id);
  assert.deepEqual(got, created);

  const updated = await client.beta.assistants.update(created.id, {
    name: 'Algebra tutor',
    tools: [],
    metadata: { team: 'node', n: '2' },
  });
  assertShape(updated, 'assistant');
  assert.equal(updated.id, created.id);
  assert.equal(updated.name, 'Algebra tutor');
  assert.equal(updated.description, 'helps with math', 'fields not in the update are kept');
  assert.equal(updated.instructions, 'You are a personal math tutor.');
  assert.deepEqual(updated.tools, []);
  assert.deepEqual(updated.metadata, { team: 'node', n: '2' });
  assert.equal(updated.created_at, created.created_at);
  assert.deepEqual(await client.beta.assistants.retrieve(created.id), updated);

  const deleted = await client.beta.assistants.del(created.id);
  assert.deepEqual(deleted, { id: created.id, object: 'assistant.deleted', deleted: true });
  await assert.rejects(client.beta.assistants.retrieve(created.id), (err) => {
    assertErrorEnvelope(err, 404);
    assert.ok(err instanceof OpenAI.NotFoundError);
    return true;
  });
});

test('assistants: list auto-pagination over 25 assistants with for await', T, async () => {
  const existing = [];
  for await (const a of client.beta.assistants.list({ limit: 100 })) existing.push(a.id);

  const mine = [];
  for (let i = 0; i < 25; i++) {
    mine.push(await client.beta.assistants.create({ model: 'gpt-4-turbo', name: `pager-${i}`, metadata: { i: String(i) } }));
  }
  const mineIds = new Set(mine.map((a) => a.id));
  const total = existing.length + mine.length;

  // Newest first (the default order), 10 per page.
  const start = http.length;
  const seen = [];
  for await (const a of client.beta.assistants.list({ limit: 10 })) {
    assertShape(a, 'assistant');
    seen.push(a);
  }
  const pages = http.slice(start);
  assert.equal(seen.length, total, 'every assistant exactly once');
  assert.equal(new Set(seen.map((a) => a.id)).size, total, 'no duplicates across pages');
  for (const id of mineIds) assert.ok(seen.some((a) => a.id === id), `${id} listed`);
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i - 1].created_at >= seen[i].created_at, 'desc by created_at');
  }
  // The 25 just created are the newest, so they come first, newest first.
  assert.deepEqual(
    seen.slice(0, 25).map((a) => a.name),
    mine.map((a) => a.name).reverse(),
    'the newest assistants first, in reverse creation order',
  );
  // ceil(total/10) full pages, then the empty page that ends the SDK's iteration (it ignores has_more).
  const expectedPages = Math.ceil(total / 10) + 1;
  assert.equal(pages.length, expectedPages, `pages fetched: ${pages.map((p) => p.url).join(' ')}`);
  assert.ok(pages.every((p) => p.method === 'GET' && p.status === 200));
  const firstUrl = new URL(pages[0].url);
  assert.equal(firstUrl.searchParams.get('limit'), '10');
  assert.equal(firstUrl.searchParams.get('after'), null);
  for (let i = 1; i < pages.length; i++) {
    const u = new URL(pages[i].url);
    assert.equal(u.searchParams.get('after'), seen[Math.min(i * 10, total) - 1].id, `page ${i} continues after the last id of page ${i - 1}`);
  }

  // Single pages by hand: the envelope, `after` in asc order, `before` in desc order.
  const ascAfter = await client.beta.assistants.list({ limit: 3, order: 'asc', after: seen[10].id });
  assertListEnvelope(ascAfter.body, 'asc after');
  assert.deepEqual(ascAfter.data.map((a) => a.id), [seen[9].id, seen[8].id, seen[7].id]);
  assert.equal(ascAfter.body.has_more, true);
  const descBefore = await client.beta.assistants.list({ limit: 3, before: seen[10].id });
  assertListEnvelope(descBefore.body, 'desc before');
  assert.deepEqual(descBefore.data.map((a) => a.id), [seen[7].id, seen[8].id, seen[9].id]);

  // Ascending, the same set the other way round.
  const asc = [];
  for await (const a of client.beta.assistants.list({ limit: 7, order: 'asc' })) asc.push(a.id);
  assert.deepEqual(asc, seen.map((a) => a.id).reverse());

  // after the last id → an empty page with null cursors.
  const empty = await client.beta.assistants.list({ after: seen.at(-1).id });
  assertListEnvelope(empty.body, 'empty page');
  assert.deepEqual(empty.data, []);
  assert.equal(empty.body.has_more, false);
});

test('threads: create, retrieve, update, delete', T, async () => {
  const thread = await client.beta.threads.create({
    messages: [{ role: 'user', content: 'first message' }],
    metadata: { kind: 'conformance' },
  });
  assertShape(thread, 'thread');
  assert.deepEqual(thread.metadata, { kind: 'conformance' });

  const empty = await client.beta.threads.create();
  assertShape(empty, 'thread');
  assert.notEqual(empty.id, thread.id);

  assert.deepEqual(await client.beta.threads.retrieve(thread.id), thread);

  const updated = await client.beta.threads.update(thread.id, { metadata: { kind: 'updated', extra: 'x' } });
  assertShape(updated, 'thread');
  assert.equal(updated.id, thread.id);
  assert.equal(updated.created_at, thread.created_at);
  assert.deepEqual(updated.metadata, { kind: 'updated', extra: 'x' });
  assert.deepEqual(await client.beta.threads.retrieve(thread.id), updated);

  const msgs = await client.beta.threads.messages.list(thread.id);
  assert.equal(msgs.data.length, 1);
  assert.equal(messageText(msgs.data[0]), 'first message');

  const deleted = await client.beta.threads.del(thread.id);
  assert.deepEqual(deleted, { id: thread.id, object: 'thread.deleted', deleted: true });
  await assert.rejects(client.beta.threads.retrieve(thread.id), (err) => {
    assertErrorEnvelope(err, 404);
    return true;
  });
  await client.beta.threads.del(empty.id);
});

test('messages: create, retrieve, update, list (order, pagination)', T, async () => {
  const thread = await client.beta.threads.create();
  const created = [];
  for (let i = 0; i < 5; i++) {
    const m = await client.beta.threads.messages.create(thread.id, {
      role: 'user',
      content: `message ${i}`,
      metadata: { i: String(i) },
    });
    assertShape(m, 'thread.message');
    assert.equal(m.thread_id, thread.id);
    assert.equal(m.role, 'user');
    assert.equal(m.status, 'completed');
    assert.equal(m.run_id, null);
    assert.equal(m.assistant_id, null);
    assert.deepEqual(m.content, [{ type: 'text', text: { value: `message ${i}`, annotations: [] } }]);
    assert.deepEqual(m.file_ids, []);
    assert.deepEqual(m.metadata, { i: String(i) });
    created.push(m);
  }

  assert.deepEqual(await client.beta.threads.messages.retrieve(thread.id, created[2].id), created[2]);
  const upd = await client.beta.threads.messages.update(thread.id, created[2].id, { metadata: { i: '2', edited: 'yes' } });
  assert.deepEqual(upd.metadata, { i: '2', edited: 'yes' });
  assert.equal(messageText(upd), 'message 2');

  const page = await client.beta.threads.messages.list(thread.id);
  assertListEnvelope(page.body, 'messages');
  assert.deepEqual(page.data.map(messageText), ['message 4', 'message 3', 'message 2', 'message 1', 'message 0']);

  const asc = [];
  for await (const m of client.beta.threads.messages.list(thread.id, { order: 'asc', limit: 2 })) asc.push(messageText(m));
  assert.deepEqual(asc, ['message 0', 'message 1', 'message 2', 'message 3', 'message 4']);

  const p2 = await client.beta.threads.messages.list(thread.id, { limit: 2 });
  assert.equal(p2.data.length, 2);
  assert.equal(p2.body.has_more, true);
  const next = await p2.getNextPage();
  assert.deepEqual(next.data.map(messageText), ['message 2', 'message 1']);
});

test('files: upload with toFile, retrieve, content, list, attach, delete', T, async () => {
  const file = await client.files.create({ file: await toFile(Buffer.from('hello'), 'a.txt'), purpose: 'assistants' });
  assertShape(file, 'file');
  assert.equal(file.bytes, 5);
  assert.equal(file.filename, 'a.txt');
  assert.equal(file.purpose, 'assistants');
  assert.ok(['uploaded', 'processed', 'error'].includes(file.status));

  assert.deepEqual(await client.files.retrieve(file.id), file);

  const content = await client.files.content(file.id);
  assert.equal(content.status, 200);
  assert.equal(await content.text(), 'hello');

  const list = await client.files.list({ purpose: 'assistants' });
  assert.ok(list.data.some((f) => f.id === file.id));
  for (const f of list.data) assertShape(f, 'file');

  // Attached to an assistant: the assistant file's id is the file's id.
  const assistant = await client.beta.assistants.create({ model: 'gpt-4-turbo', tools: [{ type: 'retrieval' }] });
  const af = await client.beta.assistants.files.create(assistant.id, { file_id: file.id });
  assertShape(af, 'assistant.file');
  assert.equal(af.id, file.id);
  assert.equal(af.assistant_id, assistant.id);
  assert.deepEqual((await client.beta.assistants.retrieve(assistant.id)).file_ids, [file.id]);
  const afs = await client.beta.assistants.files.list(assistant.id);
  assert.deepEqual(afs.data.map((f) => f.id), [file.id]);
  assert.deepEqual(await client.beta.assistants.files.del(assistant.id, file.id), {
    id: file.id,
    object: 'assistant.file.deleted',
    deleted: true,
  });

  // Attached to a message.
  const thread = await client.beta.threads.create();
  const msg = await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'see file', file_ids: [file.id] });
  assert.deepEqual(msg.file_ids, [file.id]);
  const mfs = await client.beta.threads.messages.files.list(thread.id, msg.id);
  assert.equal(mfs.data.length, 1);
  assertShape(mfs.data[0], 'thread.message.file');
  assert.equal(mfs.data[0].id, file.id);
  assert.equal(mfs.data[0].message_id, msg.id);

  assert.deepEqual(await client.files.del(file.id), { id: file.id, object: 'file', deleted: true });
  await assert.rejects(client.files.retrieve(file.id), (err) => {
    assertErrorEnvelope(err, 404);
    return true;
  });
});

test('runs: createAndPoll completes with the upstream text', T, async () => {
  const reply = text('The answer', ' is ', '42.');
  const { tag, assistant, thread } = await setupRun(client, stack.upstream, { content: 'What is 6x7?', replies: [reply] });

  const start = http.length;
  const run = await client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id });
  assertShape(run, 'thread.run');
  assert.equal(run.status, 'completed', `run: ${JSON.stringify(run)}`);
  assert.equal(run.thread_id, thread.id);
  assert.equal(run.assistant_id, assistant.id);
  assert.equal(run.model, 'gpt-4-turbo');
  assert.equal(run.instructions, assistant.instructions);
  assert.equal(run.required_action, null);
  assert.equal(run.last_error, null);
  assert.ok(Number.isInteger(run.completed_at));
  assert.deepEqual(run.usage, { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });

  // The polling helper: POST then GETs with X-Stainless-Poll-Helper, sleeping for openai-poll-after-ms.
  const calls = http.slice(start);
  assert.equal(calls[0].method, 'POST');
  assert.ok(calls[0].url.endsWith(`/threads/${thread.id}/runs`));
  for (const c of calls.slice(1)) {
    assert.equal(c.method, 'GET');
    assert.ok(c.url.endsWith(`/threads/${thread.id}/runs/${run.id}`));
    assert.equal(c.headers['x-stainless-poll-helper'], 'true');
  }
  for (const c of calls) assert.match(c.responseHeaders['openai-poll-after-ms'] ?? '', /^\d+$/, 'openai-poll-after-ms header');

  // What the upstream got: the assistant's instructions as the system message, then the user message.
  const [req] = stack.upstream.requests(tag);
  assert.equal(req.body.model, 'gpt-4-turbo');
  assert.equal(req.body.stream, true);
  assert.deepEqual(req.body.stream_options, { include_usage: true });
  assert.deepEqual(req.body.messages.at(0), { role: 'system', content: assistant.instructions });
  assert.deepEqual(req.body.messages.at(-1), { role: 'user', content: 'What is 6x7?' });

  const msgs = await client.beta.threads.messages.list(thread.id);
  assert.equal(msgs.data.length, 2);
  const [answer, question] = msgs.data;
  assertShape(answer, 'thread.message');
  assert.equal(answer.role, 'assistant');
  assert.equal(answer.run_id, run.id);
  assert.equal(answer.assistant_id, assistant.id);
  assert.equal(answer.status, 'completed');
  assert.equal(messageText(answer), reply.value);
  assert.equal(messageText(question), 'What is 6x7?');

  const byRun = await client.beta.threads.messages.list(thread.id, { run_id: run.id });
  assert.deepEqual(byRun.data.map((m) => m.id), [answer.id]);

  const steps = await client.beta.threads.runs.steps.list(thread.id, run.id);
  assert.equal(steps.data.length, 1);
  const [step] = steps.data;
  assertShape(step, 'thread.run.step');
  assert.equal(step.type, 'message_creation');
  assert.equal(step.status, 'completed');
  assert.deepEqual(step.step_details, { type: 'message_creation', message_creation: { message_id: answer.id } });
  assert.deepEqual(await client.beta.threads.runs.steps.retrieve(thread.id, run.id, step.id), step);

  const runs = await client.beta.threads.runs.list(thread.id);
  assert.deepEqual(runs.data.map((r) => r.id), [run.id]);
  const updatedRun = await client.beta.threads.runs.update(thread.id, run.id, { metadata: { k: 'v' } });
  assert.deepEqual(updatedRun.metadata, { k: 'v' });
  assert.equal(updatedRun.status, 'completed');
});

test('errors: the error envelope for unknown ids and bad requests', T, async () => {
  await assert.rejects(client.beta.threads.runs.retrieve('thread_nope', 'run_nope'), (err) => {
    assertErrorEnvelope(err, 404);
    return true;
  });
  await assert.rejects(client.beta.assistants.create({}), (err) => {
    assertErrorEnvelope(err, 400);
    assert.ok(err instanceof OpenAI.BadRequestError);
    return true;
  });
});
