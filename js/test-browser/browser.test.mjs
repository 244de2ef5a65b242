// The package in a real browser: Debian's Chromium driven by playwright-core opens the demo
// page from a local static server. It imports the demo data into OPFS, writes, reloads and finds
// its writes again; a second tab is refused the database; filters and errors reach the page;
// an exported database opens in Node; and an archive of a database made elsewhere (natively
// when host/tests/browser.rs runs this, by the Node package otherwise) imports and searches.
//
// Skipped with a message where Chromium or playwright-core is missing; a failure when `CI` is
// set. Environment (set by host/tests/browser.rs): VELES_BROWSER_EXPORT, a path to write the
// page's export to; VELES_NATIVE_ARCHIVE + VELES_NATIVE_LEN, an archive of a database with a
// collection 'docs' of that many points. A third test kills the whole browser (SIGKILL) while
// a page writes, starts it again on the same profile and finds every flushed batch.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { repository, serve } from '../demo/serve.mjs';
import { launch, missing } from './chromium.mjs';

const why = await missing();
if (why && process.env.CI) throw new Error(`${why}; CI must have it`);
if (why) console.log(`# skipped: ${why}`);

const scratch = mkdtempSync(join(tmpdir(), 'veles-browser-test-'));
let server;
let browser;
let page;

const ready = async (p) => {
  await p.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
  return p.evaluate(() => ({ ready: document.body.dataset.ready, status: document.getElementById('status').textContent }));
};

before(async () => {
  if (why) return;
  server = await serve({ '/': repository });
  browser = await launch();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('the demo imports into OPFS, keeps writes across a reload and refuses a second tab', { skip: why }, async () => {
  await page.goto(`${server.origin}/js/demo/`);
  let s = await ready(page);
  assert.equal(s.ready, 'true', s.status);
  assert.match(s.status, /^5000 points imported/);
  assert.equal((await page.$$('#hits li')).length, 10);

  // Writes: one new point (query 7's vector, so it is that query's best match), a delete and a
  // payload change; then a flush, the durability point.
  await page.evaluate(async () => {
    const { collection: c, data } = window.demo;
    await c.upsert([{ id: 2n ** 60n, vector: data.queries[7].vector, payload: { text: 'written in the browser', words: 4 } }]);
    assert(await c.delete([1]) === 1);
    assert(await c.setPayload([2], { tag: 'kept' }) === 1);
    await c.flush();
    function assert(ok) { if (!ok) throw new Error('a write was not applied'); }
  });
  await page.reload();
  s = await ready(page);
  assert.match(s.status, /^5000 points opened from OPFS/);
  const seen = await page.evaluate(async () => {
    const { collection: c, data } = window.demo;
    const [hit] = await c.search(data.queries[7].vector, { k: 1 });
    const [one, two] = await c.get([1, 2], { withVector: false });
    return { hit, one, two, count: await c.count({ key: 'tag', eq: 'kept' }) };
  });
  assert.equal(seen.hit.id, 2n ** 60n);
  assert.equal(seen.hit.payload.text, 'written in the browser');
  assert.equal(seen.one, undefined);
  assert.equal(seen.two.payload.tag, 'kept');
  assert.equal(seen.count, 1);

  // The page's own controls: a filter narrows the hits; a bad one shows the engine's error.
  await page.fill('#qid', '3');
  await page.fill('#filter', '{"key": "words", "lte": 6}');
  await page.waitForSelector('#hits[data-answers=\'3 {"key": "words", "lte": 6}\']');
  assert.equal((await page.$$('#hits li[data-id]')).length, 10);
  const ids = await page.$$eval('#hits li', (l) => l.map((x) => BigInt(x.dataset.id)));
  const words = await page.evaluate(async (ids) => (await window.demo.collection.get(ids.map(BigInt), { withVector: false }))
    .map((p) => p.payload.words), ids.map(String));
  assert.ok(words.every((w) => w <= 6), `${words}`);
  await page.fill('#filter', '{"key": "words", "between": 6}');
  await page.waitForSelector('#hits[data-answers=\'3 {"key": "words", "between": 6}\'] li.error');
  assert.match(await page.textContent('#hits li.error'), /^invalid-filter: /);

  // A second tab is refused the database while this one has it open.
  const other = await browser.context.newPage();
  await other.goto(`${server.origin}/js/demo/`);
  s = await ready(other);
  assert.equal(s.ready, 'failed');
  assert.match(s.status, /locked database 'demo' is already open/);
  await other.close();
});

test('an export opens in Node, and an archive made elsewhere imports and searches', { skip: why }, async () => {
  const exported = Buffer.from(await page.evaluate(async () => {
    const bytes = new Uint8Array(await (await window.demo.db.export()).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }), 'base64');
  const archive = process.env.VELES_BROWSER_EXPORT ?? join(scratch, 'export.tar');
  writeFileSync(archive, exported);
  const dir = join(scratch, 'exported');
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('tar', ['xf', archive, '-C', dir]);
  const { open } = await import('../src/index.js');
  const db = await open(dir, { readOnly: true });
  assert.deepEqual(db.check().map((r) => r.problems), [[]]);
  assert.equal(db.collection('sentences').len(), 5000);
  await db.close();

  let source = process.env.VELES_NATIVE_ARCHIVE;
  let len = Number(process.env.VELES_NATIVE_LEN ?? 0);
  if (!source) {
    const made = join(scratch, 'made');
    const m = await open(made);
    const c = m.createCollection('docs', { dimension: 4, metric: 'euclidean' });
    len = 50;
    c.upsert(Array.from({ length: len }, (_, i) => ({ id: i, vector: [i, 1, 2, 3], payload: { i } })));
    await m.close();
    source = join(scratch, 'made.tar');
    execFileSync('tar', ['cf', source, '-C', made, '.']);
  }
  const bytes = readFileSync(source).toString('base64');
  const result = await page.evaluate(async (b64) => {
    const { importDatabase, open, VelesError } = await import('/js/src/browser/index.js');
    const raw = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    await importDatabase('native', raw);
    const twice = await importDatabase('native', raw).catch((e) => e instanceof VelesError && e.kind);
    const damaged = raw.slice();
    damaged[100] ^= 0xff;
    const bad = await importDatabase('damaged', damaged).catch((e) => `${e.kind}: ${e.message}`);
    // An archive whose names clash (a file, then a directory of the same name) is refused
    // before anything is written: no database of that name is left behind.
    const { writeTar } = await import('/js/src/browser/tar.js');
    const clashing = writeTar([{ path: 'a', bytes: new Uint8Array(3) }, { path: 'a/b', bytes: new Uint8Array(3) }]);
    const clash = await importDatabase('clash', clashing).catch((e) => `${e.kind}: ${e.message}`);
    const { listDatabases } = await import('/js/src/browser/index.js');
    const left = (await listDatabases()).filter((n) => n === 'clash' || n === 'damaged');
    const db = await open('native');
    const c = await db.collection('docs');
    const n = await c.len();
    const first = (await c.scroll({ limit: 1, withVector: true })).points[0];
    const [hit] = await c.search(first.vector, { k: 1 });
    const checked = await c.check();
    await db.close();
    return { twice, bad, clash, left, n, first: first.id, hit: hit.id, checked };
  }, bytes);
  assert.equal(result.twice, 'already-exists');
  assert.match(result.bad, /^corrupted: the database archive is damaged at offset 0/);
  assert.equal(result.clash, 'corrupted: the database archive names a/b twice, or as a file and a directory');
  assert.deepEqual(result.left, []);
  assert.equal(result.n, len);
  assert.equal(result.hit, result.first);
  assert.deepEqual(result.checked.problems, []);
  assert.equal(Number(result.checked.points), len);

  // A database of 20 collections, more files than the 32 spares a call usually has: its
  // snapshot into another database of the origin needs a spare for each file it copies, and
  // the copy opens with every collection.
  const snapshot = await page.evaluate(async () => {
    const { open } = await import('/js/src/browser/index.js');
    const db = await open('many');
    for (let i = 0; i < 20; i++) {
      const c = await db.createCollection(`c${i}`, { dimension: 4 });
      await c.upsert(Array.from({ length: 300 }, (_, j) => ({ id: j, vector: [1, i, j, 3] })));
    }
    await db.snapshot('many-copy');
    await db.close();
    const copy = await open('many-copy');
    const names = await copy.list();
    const lens = await Promise.all(names.map(async (n) => (await copy.collection(n)).len()));
    await copy.close();
    return { names, lens };
  });
  assert.equal(snapshot.names.length, 20);
  assert.deepEqual(snapshot.lens, Array(20).fill(300));

  // The page's own import control: a damaged archive is refused and the open database kept.
  const bad = Buffer.from(exported);
  bad[100] ^= 0xff;
  await page.setInputFiles('#import', { name: 'bad.tar', mimeType: 'application/x-tar', buffer: bad });
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('not imported'));
  assert.match(await page.textContent('#status'), /^not imported: corrupted the database archive is damaged at offset 0/);
  assert.equal(await page.evaluate(() => window.demo.collection.len()), 5000);
});

test('a browser killed while a page writes keeps every flushed batch, and only whole batches', { skip: why }, async (t) => {
  const profile = join(scratch, 'profile');
  execFileSync('mkdir', ['-p', profile]);
  let b = await launch({ profile });
  let p = await b.context.newPage();
  await p.goto(`${server.origin}/js/test-browser/blank.html`);
  await p.evaluate(async () => {
    const { open } = await import('/js/src/browser/index.js');
    const db = await open('crash');
    const c = await db.createCollection('c', { dimension: 16, metric: 'euclidean' });
    window.acked = 0;
    (async () => {
      for (let batch = 0; ; batch++) {
        const points = Array.from({ length: 200 }, (_, i) => {
          const id = batch * 200 + i;
          return { id, vector: Array.from({ length: 16 }, (_, j) => id * 16 + j), payload: { batch } };
        });
        await c.upsert(points);
        // Every other batch is flushed: the one between may survive the kill or not, but whole.
        if (batch % 2 === 1) {
          await c.flush();
          window.acked = batch + 1;
        }
      }
    })();
  });
  let acked = 0;
  while (acked < 12) {
    await new Promise((r) => setTimeout(r, 50));
    acked = await p.evaluate(() => window.acked);
  }
  // kill -9 of every Chromium process on this profile: nothing runs an unload handler.
  spawnSync('pkill', ['-KILL', '-f', profile]);
  await b.context.close().catch(() => {});

  b = await launch({ profile });
  try {
    p = await b.context.newPage();
    await p.goto(`${server.origin}/js/test-browser/blank.html`);
    const found = await p.evaluate(async () => {
      const { open } = await import('/js/src/browser/index.js');
      const db = await open('crash');
      const c = await db.collection('c');
      const n = await c.len();
      const ids = Array.from({ length: Math.ceil(n / 97) }, (_, i) => i * 97);
      const points = await c.get(ids, { withPayload: true });
      const intact = points.every((pt, i) => pt && pt.vector[3] === ids[i] * 16 + 3 && pt.payload.batch === Math.floor(ids[i] / 200));
      const past = (await c.get([n]))[0];
      const problems = (await db.check()).flatMap((r) => r.problems);
      await db.close();
      return { n, intact, past: past === undefined, problems };
    });
    t.diagnostic(`after the kill: ${found.n} points, ${acked * 200} seen acknowledged`);
    assert.ok(found.n >= acked * 200, `${found.n} points after the kill, ${acked * 200} acknowledged`);
    assert.equal(found.n % 200, 0, `a batch was cut: ${found.n} points`);
    assert.ok(found.intact, 'a stored point changed');
    assert.ok(found.past);
    assert.deepEqual(found.problems, []);
  } finally {
    await b.close();
  }
});
