// The package's API under node:test, on a directory on disk. host/tests/js.rs builds dist/
// and runs this with VELES_NATIVE_DB (a database the native library wrote: read it here) and
// VELES_JS_DB (an empty directory: write one here, which the native side then checks).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { VelesError, inMemory, open } from '../src/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'veles-js-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const N = 300;
const vectorOf = (i) => [(i % 7) + 1, (i % 5) + 1, (i % 3) + 1, 1 + i / N];
const payloadOf = (i) => ({ i, even: i % 2 === 0 });

function fill(db) {
  const docs = db.createCollection('docs', { dimension: 4, metric: 'cosine' });
  docs.upsert(Array.from({ length: N }, (_, i) => ({ id: i, vector: vectorOf(i), payload: payloadOf(i) })));
  return docs;
}

test('the README flow: payloads parsed and included by default, filters as objects', async () => {
  const db = await open(join(scratch, 'flow'));
  const docs = fill(db);
  const hits = docs.search(vectorOf(10), { k: 5, filter: { key: 'even', eq: true } });
  assert.equal(hits.length, 5);
  assert.equal(hits[0].id, 10);
  assert.deepEqual(hits[0].payload, payloadOf(10));
  assert.ok(hits.every((h) => h.payload.even && typeof h.id === 'number'));
  assert.equal(docs.search(vectorOf(10), { withPayload: false })[0].payload, undefined);
  assert.equal(docs.searchBatch([vectorOf(1), new Float32Array(vectorOf(2))], { k: 1 })
    .map((h) => h[0].id).join(), '1,2');
  const page = docs.scroll({ limit: 10 });
  assert.deepEqual(page.points.map((p) => p.id), [...Array(10).keys()]);
  assert.equal(page.next, 10);
  assert.equal(docs.scroll({ start: 295 }).next, undefined);
  assert.equal(docs.count({ key: 'even', eq: true }), N / 2);
  assert.equal(docs.count(), N);
  assert.equal(docs.setPayload([1, 2], { tag: 'x' }), 2);
  assert.deepEqual(docs.get([1, 999])[0].payload, { ...payloadOf(1), tag: 'x' });
  assert.equal(docs.get([999])[0], undefined);
  assert.equal(docs.createIndex('i', 'integer'), true);
  assert.equal(docs.count({ key: 'i', lt: 100 }), 100);
  assert.equal(docs.delete([0, 1, 1000]), 2);
  assert.equal(docs.delete({ filter: { key: 'i', gte: 200 } }), 100);
  docs.flush();
  assert.deepEqual(db.check().map((r) => r.problems.length), [0]);
  assert.deepEqual(db.list(), ['docs']);
  await db.close();
  const again = await open(join(scratch, 'flow'), { readOnly: true });
  assert.equal(again.collection('docs').len(), N - 102);
  await again.close();
});

test('ids: numbers while safe, bigints past 2^53, anything else refused, never wrapped', async () => {
  const db = await inMemory();
  const c = db.createCollection('ids', { dimension: 2, metric: 'euclidean' });
  const big = 2n ** 60n + 7n;
  c.upsert([{ id: 5, vector: [1, 2] }, { id: big, vector: [3, 4] }, { id: 2n ** 64n - 1n, vector: [5, 6] }]);
  assert.deepEqual(c.scroll().points.map((p) => p.id), [5, big, 2n ** 64n - 1n]);
  for (const bad of [-1n, 2n ** 64n + 5n, -1, 1.5, NaN, Number.MAX_SAFE_INTEGER + 1, '3', null]) {
    assert.throws(() => c.upsert([{ id: bad, vector: [1, 1] }]),
      (e) => e instanceof VelesError && e.kind === 'invalid-argument' && /is not an integer in 0\.\.2\^64/.test(e.message),
      `id ${String(bad)}`);
  }
  assert.equal(c.len(), 3, 'nothing written by a refused batch');
});

test('errors carry the engine kind and its own message', async () => {
  const db = await inMemory();
  const c = db.createCollection('e', { dimension: 3 });
  assert.throws(() => c.upsert([{ id: 1, vector: [1, 2] }]), (e) =>
    e instanceof VelesError && e.kind === 'dimension-mismatch' &&
    e.message === 'dimension mismatch: expected 3, got 2 (point 1)');
  assert.throws(() => db.collection('nope'), (e) => e.kind === 'not-found' && e.message === "collection 'nope' not found");
  assert.throws(() => c.search([1, 2, 3], { filter: { key: 'a', frobnicate: 1 } }), (e) => e.kind === 'invalid-filter');
  assert.throws(() => c.upsert([{ id: 1, vector: [1, NaN, 2] }]), (e) => e.kind === 'invalid-vector');
  assert.throws(() => db.createCollection('bad name', { dimension: 3 }), (e) => e.kind === 'invalid-name');
  assert.throws(() => db.createCollection('x', { metric: 'cosine' }), (e) => e.kind === 'invalid-argument');
  assert.equal(String(new VelesError('io', 'm')), 'VelesError: m');
});

test('one writer per directory: a second open is refused, a reader is not', async () => {
  const dir = join(scratch, 'lock');
  const writer = await open(dir);
  fill(writer).flush();
  await assert.rejects(open(dir), (e) => e.kind === 'locked');
  const reader = await open(dir, { readOnly: true });
  assert.equal(reader.collection('docs').count(), N);
  await reader.close();
  await writer.close();
  await (await open(dir)).close();
});

test('a database written natively reads here; one written here goes back', { skip: !process.env.VELES_NATIVE_DB }, async () => {
  const native = await open(process.env.VELES_NATIVE_DB, { readOnly: true });
  const docs = native.collection('docs');
  assert.equal(docs.len(), N);
  assert.deepEqual(docs.search(vectorOf(10), { k: 1 })[0].payload, payloadOf(10));
  await native.close();
  const mine = await open(process.env.VELES_JS_DB);
  fill(mine);
  await mine.close();
});

test('close lets every collection go, so the engine closes cleanly: the reopen loads the graph', async () => {
  const dir = join(scratch, 'clean-close');
  const db = await open(dir);
  const c = db.createCollection('many', { dimension: 8 });
  const vector = (i) => Array.from({ length: 8 }, (_, j) => Math.sin(i * 7 + j));
  for (let i = 0; i < 4000; i += 500) c.upsert(Array.from({ length: 500 }, (_, j) => ({ id: i + j, vector: vector(i + j) })));
  await db.close();
  assert.throws(() => c.len(), (e) => e instanceof VelesError && /the database is closed/.test(e.message));
  const again = await open(dir);
  const stats = again.collection('many').stats();
  // Checkpointed at close: nothing to replay, the graph read from its file.
  assert.equal(stats.recovery.replayedRecords, 0n);
  assert.equal(stats.recovery.graphLoaded, true);
  await again.close();
});
