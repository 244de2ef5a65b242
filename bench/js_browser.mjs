// The JavaScript package in headless Chromium (issue 34's browser targets): minilm-20k
// (20,000 x 384-d, cosine) imported durably into OPFS through the page API; the page reloaded
// and the time from navigation to the first search answered; then recall@10 and QPS of the
// 200 queries at several ef, single calls and one searchBatch, in the page; beside them, the
// same searches through the package under Node (one thread each); and the package's size.
//
//   npm ci --prefix js && npm run build --prefix js && node bench/js_browser.mjs
//
// Needs Debian's Chromium (/usr/bin/chromium or $CHROMIUM) and ../shared/data/minilm-20k.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { repository, serve } from '../js/demo/serve.mjs';
import { launch, missing } from '../js/test-browser/chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const data = process.env.VELES_DATA ?? join(here, '../../shared/data/minilm-20k');
const EFS = [16, 32, 48, 64, 128];
const why = (await missing()) ?? (existsSync(join(data, 'base.fvecs')) ? undefined : `no data at ${data}`);
if (why) {
  console.error(`cannot run: ${why}`);
  process.exit(2);
}

function fvecs(path) {
  const b = readFileSync(path);
  const dim = b.readInt32LE(0);
  const n = b.length / (4 + 4 * dim);
  return Array.from({ length: n }, (_, i) => new Float32Array(b.buffer.slice(b.byteOffset + i * (4 + 4 * dim) + 4, b.byteOffset + (i + 1) * (4 + 4 * dim))));
}
function ivecs(path) {
  const b = readFileSync(path);
  const k = b.readInt32LE(0);
  const n = b.length / (4 + 4 * k);
  return Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => b.readInt32LE(i * (4 + 4 * k) + 4 + 4 * j)));
}
const queries = fvecs(join(data, 'query.fvecs'));
const truth = ivecs(join(data, 'groundtruth.ivecs')).map((t) => t.slice(0, 10));
const recall = (results) => results.reduce((s, hits, i) => s + hits.filter((h) => truth[i].includes(Number(h))).length, 0) / (10 * results.length);

const server = await serve({ '/': repository, '/data/': data });
const browser = await launch();
const page = await browser.context.newPage();
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
await page.goto(`${server.origin}/bench/browser.html`);

// Import: fetch and parse base.fvecs in the page, upsert in batches of 1,000, flush (durable).
const imported = await page.evaluate(async (q0) => {
  const { open, removeDatabase } = await import('/js/src/browser/index.js');
  await removeDatabase('bench');
  localStorage.setItem('veles-bench-query', JSON.stringify(q0));
  const buf = await (await fetch('/data/base.fvecs')).arrayBuffer();
  const view = new DataView(buf);
  const dim = view.getInt32(0, true);
  const n = buf.byteLength / (4 + 4 * dim);
  const t0 = performance.now();
  const db = await open('bench');
  const c = await db.createCollection('minilm', { dimension: dim, metric: 'cosine' });
  for (let i = 0; i < n; i += 1000) {
    const points = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      points.push({ id: j, vector: new Float32Array(buf, j * (4 + 4 * dim) + 4, dim).slice() });
    }
    await c.upsert(points);
  }
  await c.flush();
  const ms = performance.now() - t0;
  await db.close();
  return { n, ms };
}, Array.from(queries[0]));
console.log(`import: ${imported.n} points, durable, in ${(imported.ms / 1000).toFixed(2)} s`);

// Reload: the page opens the database and answers one search on its own.
const firsts = [];
for (let i = 0; i < 3; i++) {
  await page.goto(`${server.origin}/bench/browser.html?reopen`);
  await page.waitForFunction(() => window.first, null, { timeout: 60_000 });
  const first = await page.evaluate(() => window.first);
  if (first.error || first.hits !== 10) throw new Error(`reopen failed: ${JSON.stringify(first)}`);
  firsts.push(first.ms);
}
console.log(`first search after page load (ms since navigation, 3 reloads): ${firsts.map((m) => m.toFixed(0)).join(', ')}`);

// Searches in the page: best of three rounds of the 200 queries, single calls and a batch.
const inPage = await page.evaluate(async ({ qs, efs }) => {
  const { c } = window.bench;
  const vs = qs.map((q) => Float32Array.from(q));
  const out = [];
  for (const ef of efs) {
    let single = Infinity;
    let batch = Infinity;
    let ids;
    for (let round = 0; round < 3; round++) {
      let t = performance.now();
      const res = [];
      for (const v of vs) res.push((await c.search(v, { k: 10, ef, withPayload: false })).map((h) => String(h.id)));
      single = Math.min(single, performance.now() - t);
      t = performance.now();
      await c.searchBatch(vs, { k: 10, ef, withPayload: false });
      batch = Math.min(batch, performance.now() - t);
      ids = res;
    }
    out.push({ ef, single, batch, ids });
  }
  return out;
}, { qs: queries.map((q) => Array.from(q)), efs: EFS });
await browser.close();
await server.close();

// The same searches through the package under Node, on the same data.
const { open } = await import('../js/src/index.js');
const dir = mkdtempSync(join(tmpdir(), 'veles-js-browser-bench-'));
const db = await open(dir);
const c = db.createCollection('minilm', { dimension: 384, metric: 'cosine' });
const base = fvecs(join(data, 'base.fvecs'));
for (let i = 0; i < base.length; i += 1000) c.upsert(base.slice(i, i + 1000).map((vector, j) => ({ id: i + j, vector })));
c.flush();
const inNode = EFS.map((ef) => {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    for (const q of queries) c.search(q, { k: 10, ef, withPayload: false });
    best = Math.min(best, performance.now() - t);
  }
  return best;
});
await db.close();
rmSync(dir, { recursive: true, force: true });

console.log('\n| ef | recall@10 | page QPS | page batch QPS | Node QPS | page/Node |');
console.log('|---|---|---|---|---|---|');
inPage.forEach((r, i) => {
  const qps = (ms) => Math.round(queries.length / (ms / 1000));
  console.log(`| ${r.ef} | ${recall(r.ids).toFixed(4)} | ${qps(r.single).toLocaleString('en')} | ${qps(r.batch).toLocaleString('en')} | ${qps(inNode[i]).toLocaleString('en')} | ${(inNode[i] / r.single).toFixed(2)} |`);
});

// What a page loads: the component's core module and jco's glue, the WASI modules, the API.
const js = join(here, '../js');
const files = [
  'dist-browser/veles.core.wasm', 'dist-browser/veles.js',
  ...readdirSync(join(js, 'dist-browser/shim')).map((f) => `dist-browser/shim/${f}`),
  ...readdirSync(join(js, 'src/browser')).filter((f) => f.endsWith('.js')).map((f) => `src/browser/${f}`),
  'src/api.js', 'src/convert.js',
];
let raw = 0;
let gz = 0;
for (const f of files) {
  const b = readFileSync(join(js, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
const wasm = readFileSync(join(js, 'dist-browser/veles.core.wasm'));
console.log(`\npackage (browser): ${files.length} files, ${raw.toLocaleString('en')} bytes, ${gz.toLocaleString('en')} gzipped; of which the core wasm ${wasm.length.toLocaleString('en')} / ${gzipSync(wasm, { level: 9 }).length.toLocaleString('en')} gzipped`);
