// The Veles component under jco + Node: a host we did not write.
//
//   node roundtrip.mjs GENERATED_DIR DB_DIR write|read
//
// GENERATED_DIR holds `jco transpile veles.wasm --name veles`; DB_DIR is preopened as the
// guest's "/" (its working directory), and the database is "." in it.
// `write` creates collection "docs" and exercises the write API; `read` opens read-only a
// database written elsewhere. Both print one JSON object on stdout that the Rust side checks.
// The points are the same deterministic set on both sides (see host/tests/node.rs).
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Holds the writer's directory lock the way every Veles host does: an exclusive advisory flock
 * on `<dir>/LOCK` (a reader takes none: it reads beside the writer). Node has no flock of its
 * own, so util-linux's flock(1) takes it and holds it while its stdin stays open (until
 * `release()`, or until this process exits). Resolves to `release`; rejects with 'locked'
 * when another process holds it.
 */
function lockDirectory(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['-xn', '-E', '75', join(dir, 'LOCK'),
      'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.stdout.once('data', () => resolve(() => child.stdin.end()));
    child.once('exit', (code) => reject(new Error(code === 75 ? 'locked' : `flock exited with ${code}`)));
  });
}

const [generated, db, mode] = process.argv.slice(2);
let release = () => {};
try {
  if (mode === 'write') release = await lockDirectory(db);
} catch (e) {
  process.stderr.write(`veles error: ${e.message}\n`);
  process.exit(1);
}
_setPreopens({ '/': db });
const { engine } = await import(pathToFileURL(join(generated, 'veles.js')).href);
const { Database } = engine;

const N = 300;
const vectorOf = (i) => new Float32Array([(i % 7) + 1, (i % 5) + 1, (i % 3) + 1, 1 + i / N]);
const payloadOf = (i) => JSON.stringify({ i, even: i % 2 === 0 });
const evenFilter = {
  nodes: [{ tag: 'field', val: { key: 'even', condition: { tag: 'eq', val: 'true' } } }],
};

/** A WIT error thrown by jco, as text. */
const describe = (e) => JSON.stringify(e?.payload ?? String(e), (_, v) =>
  typeof v === 'bigint' ? v.toString() : v);

function search(c, filter) {
  const options = { ef: undefined, exact: false, withPayload: true, withVector: false };
  const hits = c.search(vectorOf(10), 5, { ...options, filter });
  // The same filter as JSON text must give the same answer.
  const json = c.search(vectorOf(10), 5, { ...options, filterJson: '{"key": "even", "eq": true}' });
  if (JSON.stringify(json.map((h) => h.id.toString())) !== JSON.stringify(hits.map((h) => h.id.toString()))) {
    throw new Error('filter-json and filter nodes disagree');
  }
  return hits.map((h) => Number(h.id));
}

/**
 * A collection with a sparse field and a text index, and a query fusing a text leg and a
 * sparse leg (the Rust side runs the same query natively on the files and compares).
 */
function hybridQuery(database) {
  const h = database.createCollection('hybrid', {
    dimension: 2, metric: 'dot', m: 16, efConstruction: 100, sparse: [{ name: 'terms', idf: true }],
  });
  const words = ['red shoe', 'blue shoe', 'red hat', '東京タワー'];
  const points = [];
  for (let i = 0; i < 40; i++) {
    points.push({
      id: BigInt(i),
      vector: new Float32Array([(i % 5) + 1, 1]),
      payload: JSON.stringify({ body: words[i % 4] }),
      sparse: [{
        field: 'terms',
        vector: { indices: new Uint32Array([i % 7, 7 + (i % 3)]), values: new Float32Array([1, 0.5]) },
      }],
    });
  }
  h.upsert(points);
  h.createIndex('body', 'text');
  h.flush();
  const leg = (source) => ({ source, limit: undefined, filter: {}, weight: 1 });
  const query = {
    legs: [
      leg({ tag: 'text', val: { key: 'body', text: 'red shoes', k1: 1.2, b: 0.75 } }),
      leg({
        tag: 'sparse',
        val: { field: 'terms', vector: { indices: new Uint32Array([3, 8]), values: new Float32Array([1, 2]) } },
      }),
    ],
    fusion: { tag: 'dbsf' },
    limit: 5,
    scoreThreshold: undefined,
    withPayload: false,
    withVector: false,
  };
  return h.queryBatch([query])[0].map((x) => Number(x.id));
}

function write() {
  const database = Database.open('.');
  const c = database.createCollection('docs', {
    dimension: 4, metric: 'cosine', m: 16, efConstruction: 100, sparse: [],
  });
  const points = [];
  for (let i = 0; i < N; i++) {
    points.push({ id: BigInt(i), vector: vectorOf(i), payload: payloadOf(i), sparse: [] });
  }
  for (let i = 0; i < N; i += 100) c.upsert(points.slice(i, i + 100));
  const deleted = Number(c.delete([0n, 1n, 2n, 999n]));
  c.flush();
  // The points API: an index, a count, a payload update and a page, through jco.
  const indexed = c.createIndex('even', 'boolean');
  const evens = Number(c.count({ filterJson: '{"key": "even", "eq": true}' }));
  const updated = Number(c.setPayload([3n, 999n], '{"tag": "x"}'));
  const page = c.scroll(0n, 4, {}, false, true);
  const filtered = search(c, evenFilter);
  // Writes never wait for the graph: the points wait, and optimize links them in steps.
  const waiting = Number(c.stats().unindexed);
  const leftAfterStep = Number(c.optimize(100));
  c.checkpoint();
  const waitingAfterCheckpoint = Number(c.stats().unindexed);
  c.upsert([{ id: 1000n, vector: vectorOf(1000), payload: payloadOf(1000), sparse: [] }]);
  c.flush();
  const compacted = c.compact();
  let wrongDim;
  try {
    c.upsert([{ id: 5n, vector: new Float32Array([1, 2]), payload: undefined, sparse: [] }]);
  } catch (e) {
    wrongDim = e.payload?.tag;
  }
  const hybrid = hybridQuery(database);
  const snapshot = database.snapshot('snap');
  return {
    deleted,
    waiting,
    leftAfterStep,
    waitingAfterCheckpoint,
    indexed,
    evens,
    updated,
    page: page.points.map((p) => Number(p.id)),
    next: page.next === undefined ? null : Number(page.next),
    filtered,
    len: Number(c.len()),
    slotsAfter: compacted.slotsAfter,
    wrongDim,
    hybrid,
    snapshot: snapshot.collections,
    check: database.check().map((r) => ({ collection: r.collection, problems: r.problems.length })),
  };
}

function read() {
  const database = Database.openReadOnly('.');
  const c = database.collection('docs');
  const got = c.get([...Array(N).keys()].map(BigInt));
  const points = got.map((p) => (p === undefined ? null : {
    id: Number(p.id), vector: Array.from(p.vector), payload: p.payload ?? null,
  }));
  let readOnly;
  try {
    c.upsert([{ id: 1n, vector: vectorOf(1), payload: undefined, sparse: [] }]);
  } catch (e) {
    readOnly = e.payload?.tag;
  }
  const filtered = search(c, evenFilter);
  // Only the SQ8 copy in memory, exact vectors read by position: the same answers.
  const quantized = Database.openWith('.', { readOnly: true, vectorMemory: 'quantized' });
  const again = search(quantized.collection('docs'), evenFilter);
  if (JSON.stringify(again) !== JSON.stringify(filtered)) {
    throw new Error(`quantized memory answered ${again}, full memory ${filtered}`);
  }
  return {
    points,
    evens: Number(c.count({ filterJson: '{"key": "even", "eq": true}' })),
    filtered,
    readOnly,
    stats: { len: Number(c.stats().len), generation: c.stats().generation },
  };
}

try {
  const out = mode === 'write' ? write() : read();
  release();
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  process.stderr.write(`veles error: ${describe(e)}\n`);
  process.exit(1);
}
