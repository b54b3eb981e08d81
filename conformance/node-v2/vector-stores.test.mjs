// openai@7.60.0 vector stores: CRUD, files.uploadAndPoll, fileBatches.uploadAndPoll / createAndPoll /
// listFiles, search, for-await pagination. Ingestion in this issue only records files.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { toFile } from 'openai';
import { T, collect, countsAddUp, makeClient, startStack } from './helpers.mjs';

let stack;
let client;

before(async () => {
  stack = await startStack();
  ({ client } = makeClient(stack.server.baseURL));
});
after(async () => {
  await stack?.stop();
});

test('vector store CRUD and pagination', T, async () => {
  const vs = await client.vectorStores.create({ name: 'kb', expires_after: { anchor: 'last_active_at', days: 2 } });
  assert.match(vs.id, /^vs_/);
  assert.equal(vs.object, 'vector_store');
  countsAddUp(vs.file_counts);
  assert.ok(vs.expires_at >= vs.created_at + 2 * 86400 - 5);
  const ids = [vs.id];
  for (let i = 0; i < 3; i++) ids.push((await client.vectorStores.create({ name: `v${i}` })).id);
  const listed = (await collect(client.vectorStores.list({ limit: 2 }))).map((x) => x.id);
  for (const id of ids) assert.ok(listed.includes(id));
  assert.equal((await client.vectorStores.update(vs.id, { name: 'kb2' })).name, 'kb2');
  assert.equal((await client.vectorStores.retrieve(vs.id)).name, 'kb2');
  const del = await client.vectorStores.delete(vs.id);
  assert.deepEqual([del.deleted, del.object], [true, 'vector_store.deleted']);
});

test('files.uploadAndPoll, attributes, list, content, delete', T, async () => {
  const vs = await client.vectorStores.create({});
  const vf = await client.vectorStores.files.uploadAndPoll(vs.id, await toFile(Buffer.from('hello'), 'h.txt'));
  assert.equal(vf.status, 'completed');
  assert.equal(vf.vector_store_id, vs.id);
  const up = await client.vectorStores.files.update(vf.id, { vector_store_id: vs.id, attributes: { k: 'v' } });
  assert.deepEqual(up.attributes, { k: 'v' });
  const files = await collect(client.vectorStores.files.list(vs.id, { filter: 'completed' }));
  assert.deepEqual(files.map((f) => f.id), [vf.id]);
  const content = await collect(client.vectorStores.files.content(vf.id, { vector_store_id: vs.id }));
  assert.ok(Array.isArray(content));
  const got = await client.vectorStores.files.retrieve(vf.id, { vector_store_id: vs.id });
  assert.equal(got.id, vf.id);
  const del = await client.vectorStores.files.delete(vf.id, { vector_store_id: vs.id });
  assert.deepEqual([del.deleted, del.object], [true, 'vector_store.file.deleted']);
  countsAddUp((await client.vectorStores.retrieve(vs.id)).file_counts);
});

test('fileBatches.uploadAndPoll, createAndPoll, listFiles', T, async () => {
  const vs = await client.vectorStores.create({});
  const pre = await client.files.create({ file: await toFile(Buffer.from('pre'), 'pre.txt'), purpose: 'assistants' });
  const batch = await client.vectorStores.fileBatches.uploadAndPoll(vs.id, {
    files: [await toFile(Buffer.from('x'), 'x.txt'), await toFile(Buffer.from('yy'), 'y.txt')],
    fileIds: [pre.id],
  });
  assert.match(batch.id, /^vsfb_/);
  assert.equal(batch.status, 'completed');
  assert.equal(batch.file_counts.completed, 3);
  countsAddUp(batch.file_counts);
  const listed = await collect(client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: vs.id, limit: 1 }));
  assert.equal(listed.length, 3);
  const extra = await client.files.create({ file: await toFile(Buffer.from('z'), 'z.txt'), purpose: 'assistants' });
  const b2 = await client.vectorStores.fileBatches.createAndPoll(vs.id, { files: [{ file_id: extra.id, attributes: { n: 1 } }] });
  assert.equal(b2.status, 'completed');
  const r = await client.vectorStores.fileBatches.retrieve(b2.id, { vector_store_id: vs.id });
  assert.equal(r.id, b2.id);
  assert.equal((await client.vectorStores.retrieve(vs.id)).file_counts.total, 4);
});

test('search answers a search results page', T, async () => {
  const vs = await client.vectorStores.create({});
  await client.vectorStores.files.uploadAndPoll(vs.id, await toFile(Buffer.from('the sky is blue'), 's.txt'));
  const results = await collect(client.vectorStores.search(vs.id, { query: 'sky', max_num_results: 3 }));
  for (const r of results) {
    assert.equal(typeof r.file_id, 'string');
    assert.ok(r.score >= 0 && r.score <= 1);
  }
  const page = await client.vectorStores.search(vs.id, { query: ['a', 'b'] });
  assert.ok(Array.isArray(page.data));
});
