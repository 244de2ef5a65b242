// The JavaScript package under Node, side by side in one run: the package's API, the raw
// jco binding it wraps (the same component and the same files), and EdgeVec (npm `edgevec`,
// its WebAssembly HNSW), on minilm-20k (20,000 x 384-d, cosine; 200 queries, k 10).
//
//   node bench/js_vs_peers.mjs [SHARED_DATA_DIR]
//
// Needs js/node_modules (`npm ci --prefix js`, which pins edgevec) and js/dist
// (`npm run build --prefix js`). One thread each. For every ef: recall@10 against the
// ground truth, single-query QPS (one call per query) and, for Veles, batch QPS (the 200
// queries in one searchBatch call). Payloads are neither stored nor asked for, so every
// side does the same work. The raw binding is called on the package's own collection
// resource (`collection.raw`). Prints the tables.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../js/src/index.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const data = process.argv[2] ?? join(root, '../shared/data');
const K = 10;
const EFS = [16, 24, 32, 48, 64, 96, 128];

function vecs(path, Type) {
  const buf = readFileSync(path);
  const d = buf.readInt32LE(0);
  const n = buf.length / (4 * (d + 1));
  const all = new Type(buf.buffer, buf.byteOffset, buf.length / 4);
  return Array.from({ length: n }, (_, i) => all.slice(i * (d + 1) + 1, (i + 1) * (d + 1)));
}

const base = vecs(join(data, 'minilm-20k/base.fvecs'), Float32Array);
const queries = vecs(join(data, 'minilm-20k/query.fvecs'), Float32Array);
const truth = vecs(join(data, 'minilm-20k/groundtruth.ivecs'), Int32Array).map((t) => new Set(Array.from(t.slice(0, K))));
const recall = (lists) => lists.reduce((s, ids, i) => s + ids.filter((id) => truth[i].has(Number(id))).length, 0) / (K * lists.length);

/** Best of three runs, each the queries ROUNDS times over: [QPS, the last result lists]. */
const ROUNDS = 10;
function timed(f) {
  let best = 0;
  let lists;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < ROUNDS; i++) lists = f();
    best = Math.max(best, (ROUNDS * queries.length) / ((performance.now() - t) / 1000));
  }
  return [best, lists];
}

const rows = [];
const dir = mkdtempSync(join(tmpdir(), 'veles-js-bench-'));
try {
  const t0 = performance.now();
  const db = await open(dir);
  const docs = db.createCollection('bench', { dimension: 384, metric: 'cosine' });
  for (let i = 0; i < base.length; i += 1000) {
    docs.upsert(base.slice(i, i + 1000).map((vector, j) => ({ id: i + j, vector })));
  }
  docs.flush();
  const veles_build = (performance.now() - t0) / 1000;
  // The same collection through the binding the package wraps: the same resource.
  const raw = docs.raw;
  raw.optimize(undefined);
  for (const ef of EFS) {
    const opts = { k: K, ef, withPayload: false };
    const rawOpts = { ef, exact: false, withPayload: false, withVector: false };
    const [pkg, lists] = timed(() => queries.map((q) => docs.search(q, opts).map((h) => h.id)));
    const [rawQps] = timed(() => queries.map((q) => raw.search(q, K, rawOpts).map((h) => h.id)));
    const [batch] = timed(() => docs.searchBatch(queries, opts).map((hs) => hs.map((h) => h.id)));
    const [rawBatch] = timed(() => raw.searchBatch(queries, K, rawOpts));
    rows.push({ ef, recall: recall(lists), pkg, raw: rawQps, batch, rawBatch });
  }
  await db.close();
  console.log(`minilm-20k: Veles build (upserts of 1,000 + flush) ${veles_build.toFixed(1)} s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const ev = await import('../js/node_modules/edgevec/edgevec.js');
ev.initSync({ module: readFileSync(join(root, 'js/node_modules/edgevec/edgevec_bg.wasm')) });
const evRows = [];
{
  // EdgeVec 0.9.0 ranks 'cosine' and 'dot' backwards (its own 3-vector example returns the
  // two orthogonal vectors for a query equal to the third), so it runs 'l2' on the vectors
  // made unit length: the same ranking as cosine. Its ids are the insertion order from 1.
  // ef_search is fixed at construction; the sweep goes through `searchFiltered` with
  // `{efSearch}` (a JSON string each way per query), and plain `search` is timed at the
  // construction's ef to show what the JSON costs.
  const t0 = performance.now();
  const config = new ev.EdgeVecConfig(384);
  config.metric = 'l2';
  config.m = 16;
  config.ef_construction = 200;
  config.ef_search = 64;
  const index = new ev.EdgeVec(config);
  const unit = (v) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const flat = new Float32Array(base.length * 384);
  base.forEach((v, i) => flat.set(unit(v), i * 384));
  index.insertBatchFlat(flat, base.length);
  const build = (performance.now() - t0) / 1000;
  console.log(`minilm-20k: EdgeVec build (insertBatchFlat) ${build.toFixed(1)} s`);
  const qs = queries.map(unit);
  for (const ef of EFS) {
    const options = JSON.stringify({ efSearch: ef });
    const [qps, lists] = timed(() => qs.map((q) =>
      JSON.parse(index.searchFiltered(q, K, options)).results.map((h) => h.id - 1)));
    evRows.push({ ef, recall: recall(lists), qps });
  }
  const [plain, lists] = timed(() => qs.map((q) => index.search(q, K).map((h) => h.id - 1)));
  evRows.push({ ef: '64 (search)', recall: recall(lists), qps: plain });
}

console.log('\nef   Veles recall  package QPS  raw QPS  package/raw  batch QPS  raw batch  batch/raw');
for (const r of rows) {
  console.log(`${String(r.ef).padEnd(4)} ${r.recall.toFixed(4).padStart(12)} ${r.pkg.toFixed(0).padStart(12)} ` +
    `${r.raw.toFixed(0).padStart(8)} ${(r.pkg / r.raw).toFixed(2).padStart(12)} ${r.batch.toFixed(0).padStart(10)} ` +
    `${r.rawBatch.toFixed(0).padStart(10)} ${(r.batch / r.rawBatch).toFixed(2).padStart(10)}`);
}
console.log('\nef   EdgeVec recall  QPS');
for (const r of evRows) console.log(`${String(r.ef).padEnd(4)} ${r.recall.toFixed(4).padStart(14)} ${r.qps.toFixed(0).padStart(6)}`);
const at = (list, qps) => list.filter((r) => r.recall >= 0.95).reduce((m, r) => Math.max(m, qps(r)), 0);
const v = at(rows, (r) => r.pkg);
const e = at(evRows, (r) => r.qps);
console.log(`\nat recall@10 >= 0.95: Veles package ${v.toFixed(0)} QPS, EdgeVec ${e.toFixed(0)} QPS: ${e ? (v / e).toFixed(2) + 'x' : 'EdgeVec never reaches it'}`);
