// The demo page: loads the shipped demo data into database 'demo' once, then searches as the
// query id or the filter changes. `window.demo` exposes the open database for the tests.
import { VelesError, importDatabase, open, removeDatabase } from '../src/browser/index.js';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };

/** host/demo/minilm-demo.bin (see host/demo/make_demo_data.py): int8 vectors with a scale. */
function parse(buf) {
  const view = new DataView(buf);
  if (new TextDecoder().decode(new Uint8Array(buf, 0, 8)) !== 'VELESDM1') throw new Error('not a Veles demo file');
  const [nBase, nQuery, dim] = [8, 12, 16].map((at) => view.getUint32(at, true));
  let at = 20;
  const read = () => {
    const scale = view.getFloat32(at, true);
    const codes = new Int8Array(buf, at + 4, dim);
    const vector = Float32Array.from(codes, (c) => c * scale);
    at += 4 + dim;
    const len = view.getUint16(at, true);
    const text = new TextDecoder().decode(new Uint8Array(buf, at + 2, len));
    at += 2 + len;
    return { vector, text };
  };
  const base = Array.from({ length: nBase }, read);
  const queries = Array.from({ length: nQuery }, read);
  return { base, queries, dim };
}

async function load() {
  const started = performance.now();
  const data = parse(await (await fetch('../../host/demo/minilm-demo.bin')).arrayBuffer());
  const db = await open('demo');
  let collection;
  let how;
  if ((await db.list()).includes('sentences')) {
    collection = await db.collection('sentences');
    how = 'opened from OPFS';
  } else {
    collection = await db.createCollection('sentences', { dimension: data.dim, metric: 'cosine' });
    await collection.createIndex('words', 'integer');
    for (let i = 0; i < data.base.length; i += 500) {
      await collection.upsert(data.base.slice(i, i + 500).map((p, j) => ({
        id: i + j, vector: p.vector, payload: { text: p.text, words: p.text.split(/\s+/).length },
      })));
      status(`importing: ${Math.min(i + 500, data.base.length)} / ${data.base.length}`);
    }
    await collection.flush();
    how = 'imported';
  }
  const n = await collection.len();
  status(`${n} points ${how} in ${Math.round(performance.now() - started)} ms`);
  $('nq').textContent = data.queries.length - 1;
  return { db, collection, data };
}

let asked = 0; // the latest search asked for: an older answer arriving late is dropped

async function search(demo) {
  const mine = ++asked;
  const q = demo.data.queries[Number($('qid').value)];
  const out = $('hits');
  // What the hits shown answer (the tests wait for it).
  const shown = () => { out.dataset.answers = `${$('qid').value} ${$('filter').value.trim()}`; };
  if (!q) {
    $('query').textContent = 'no such query id';
    out.replaceChildren();
    return;
  }
  $('query').textContent = `“${q.text}”`;
  try {
    const text = $('filter').value.trim();
    const filter = text ? JSON.parse(text) : undefined;
    const hits = await demo.collection.search(q.vector, { k: 10, filter });
    if (mine !== asked) return;
    out.replaceChildren(...hits.map((h) => {
      const li = document.createElement('li');
      li.dataset.id = h.id;
      const s = document.createElement('span');
      s.className = 'score';
      s.textContent = h.score.toFixed(3);
      li.append(s, `${h.payload.text} (#${h.id})`);
      return li;
    }));
    shown();
  } catch (err) {
    if (mine !== asked) return;
    const li = document.createElement('li');
    li.className = 'error';
    li.textContent = err instanceof VelesError ? `${err.kind}: ${err.message}` : String(err.message ?? err);
    out.replaceChildren(li);
    shown();
  }
}

try {
  const demo = await load();
  window.demo = demo;
  $('qid').oninput = () => search(demo);
  $('filter').oninput = () => search(demo);
  $('export').onclick = async () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await demo.db.export());
    a.download = 'veles-demo.tar';
    a.click();
  };
  $('import').onchange = async (ev) => {
    // Checked by a first import beside the demo's database: a bad archive leaves it as it was.
    const file = ev.target.files[0];
    try {
      await removeDatabase('incoming');
      await importDatabase('incoming', file);
      await removeDatabase('incoming');
    } catch (err) {
      status(`not imported: ${err.kind ?? ''} ${err.message ?? err}`);
      return;
    }
    await demo.db.close();
    await removeDatabase('demo');
    await importDatabase('demo', file);
    location.reload();
  };
  $('reset').onclick = async () => {
    await demo.db.close();
    await removeDatabase('demo');
    location.reload();
  };
  await search(demo);
  document.body.dataset.ready = 'true';
} catch (err) {
  status(`failed: ${err.kind ?? ''} ${err.message ?? err}`);
  document.body.dataset.ready = 'failed';
}
