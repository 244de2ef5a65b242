// The browser's OPFS volume (src/browser/volume.js) over a simulated OPFS that loses every
// write not flushed when "power" is lost: random namespace changes checked against a model
// across crashes (with torn name-table tails and journal switches), damage reported with file
// and offset, and POSIX unlink semantics for open files.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FsError, Volume } from '../src/browser/volume.js';

/** A FileSystemDirectoryHandle whose files keep what was flushed apart from what was written. */
class Opfs {
  files = new Map(); // name -> {now, durable, open}

  async *entries() { for (const name of this.files.keys()) yield [name, { kind: 'file' }]; }

  async getFileHandle(name, { create = false } = {}) {
    if (!this.files.has(name)) {
      if (!create) throw Object.assign(new Error(name), { name: 'NotFoundError' });
      this.files.set(name, { now: new Uint8Array(0), durable: new Uint8Array(0), open: false });
    }
    const f = this.files.get(name);
    return { createSyncAccessHandle: async () => new Handle(f) };
  }

  async removeEntry(name) {
    if (this.files.get(name)?.open) throw Object.assign(new Error(name), { name: 'NoModificationAllowedError' });
    this.files.delete(name);
  }

  /** Power loss: what was not flushed is gone, and every handle with it. */
  crash() {
    for (const f of this.files.values()) {
      f.now = f.durable.slice();
      f.open = false;
      f.epoch = (f.epoch ?? 0) + 1;
    }
  }
}

class Handle {
  #f; #epoch;
  constructor(f) {
    if (f.open) throw Object.assign(new Error('locked'), { name: 'NoModificationAllowedError' });
    f.open = true;
    this.#f = f;
    this.#epoch = f.epoch;
  }
  #live() {
    if (!this.#f.open || this.#f.epoch !== this.#epoch) throw Object.assign(new Error('closed'), { name: 'InvalidStateError' });
    return this.#f;
  }
  getSize() { return this.#live().now.length; }
  read(buf, { at }) {
    const src = this.#live().now.subarray(at, at + buf.length);
    buf.set(src);
    return src.length;
  }
  write(buf, { at }) {
    const f = this.#live();
    if (at + buf.length > f.now.length) {
      const grown = new Uint8Array(at + buf.length);
      grown.set(f.now);
      f.now = grown;
    }
    f.now.set(buf, at);
    return buf.length;
  }
  truncate(n) {
    const f = this.#live();
    const t = new Uint8Array(n);
    t.set(f.now.subarray(0, n));
    f.now = t;
  }
  flush() { const f = this.#live(); f.durable = f.now.slice(); }
  close() { if (this.#f.epoch === this.#epoch) this.#f.open = false; }
}

function rng(seed) {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

const parent = (p) => p.slice(0, Math.max(0, p.lastIndexOf('/')));

function contents(volume, path) {
  const h = volume.handle(volume.fileId(path));
  const out = new Uint8Array(h.getSize());
  h.read(out, { at: 0 });
  return Buffer.from(out).toString();
}

function same(volume, model) {
  assert.deepEqual(volume.directories(), [...model.dirs].filter((d) => d !== '').sort());
  assert.deepEqual(volume.files().map(([p]) => p), [...model.files.keys()].sort());
  for (const [p, text] of model.files) assert.equal(contents(volume, p), text, p);
}

/** The name-table file now in use (the other is empty). */
const activeTable = (opfs) => ['names.0', 'names.1'].map((n) => opfs.files.get(n)).find((f) => f.durable.length > 0);

test('every acknowledged namespace change survives power loss, torn tails and journal switches', async () => {
  for (const seed of [1, 2, 3]) {
    const r = rng(seed);
    const opfs = new Opfs();
    let v = await Volume.mount(opfs);
    const model = { files: new Map(), dirs: new Set(['']) };
    let names = 0;
    let crashes = 0;
    let peak = 0;
    for (let step = 0; step < 2500; step++) {
      const dirs = [...model.dirs];
      const files = [...model.files.keys()];
      const op = r(10);
      if (op < 3 || files.length === 0) {
        const p = `${dirs[r(dirs.length)]}/f${names++}`.replace(/^\//, '');
        const h = v.handle(v.createFile(p));
        const text = `${p}@${step}`;
        h.write(Buffer.from(text), { at: 0 });
        h.flush();
        model.files.set(p, text);
      } else if (op < 5) {
        const p = `${dirs[r(dirs.length)]}/d${names++}`.replace(/^\//, '');
        v.createDirectory(p);
        model.dirs.add(p);
      } else if (op < 7) {
        const from = files[r(files.length)];
        const to = r(2) === 0 ? files[r(files.length)] : `${dirs[r(dirs.length)]}/r${names++}`.replace(/^\//, '');
        v.rename(from, to);
        const text = model.files.get(from);
        model.files.delete(from);
        model.files.set(to, text);
      } else if (op < 8 && dirs.length > 1) {
        const from = dirs[1 + r(dirs.length - 1)];
        const under = dirs.filter((d) => d !== from && !d.startsWith(`${from}/`));
        const to = `${under[r(under.length)]}/m${names++}`.replace(/^\//, '');
        v.rename(from, to);
        const moved = (p) => p === from || p.startsWith(`${from}/`);
        model.dirs = new Set([...model.dirs].map((d) => (moved(d) ? to + d.slice(from.length) : d)));
        model.files = new Map([...model.files].map(([p, t]) => [moved(p) ? to + p.slice(from.length) : p, t]));
      } else if (op < 9) {
        const p = files[r(files.length)];
        v.unlink(p);
        model.files.delete(p);
      } else {
        const empty = dirs.filter((d) => d !== '' && ![...model.dirs, ...model.files.keys()].some((x) => parent(x) === d && x !== d));
        if (empty.length > 0) {
          const p = empty[r(empty.length)];
          v.removeDirectory(p);
          model.dirs.delete(p);
        }
      }
      await v.tidy();
      peak = Math.max(peak, model.files.size);
      if (r(40) === 0) {
        crashes++;
        opfs.crash();
        if (r(2) === 0) {
          // A record cut short as the power went: a prefix of a real frame at the tail.
          const t = activeTable(opfs);
          const frame = Buffer.concat([Buffer.from([30, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('{"op":"dir","path":"ghost/xx"}')]);
          const cut = frame.subarray(0, 1 + r(frame.length - 1));
          t.durable = Uint8Array.from([...t.durable, ...cut]);
          t.now = t.durable.slice();
        }
        v = await Volume.mount(opfs);
        same(v, model);
      }
    }
    same(v, model);
    assert.ok(crashes > 20, `${crashes} crashes`);
    // The journal switched files more than once; the old file is emptied after each switch.
    const sizes = ['names.0', 'names.1'].map((n) => opfs.files.get(n).durable.length);
    assert.equal(sizes.filter((n) => n === 0).length, 1, `${sizes}`);
    const t = activeTable(opfs).durable;
    const head = JSON.parse(Buffer.from(t.subarray(8, 8 + new DataView(t.buffer).getUint32(0, true))).toString());
    assert.ok(head.gen >= 3, `generation ${head.gen}`);
    // Spares: as many as the volume had files at most (a call may rewrite each once), plus 8.
    const spares = [...opfs.files.keys()].filter((n) => /^f\d+$/.test(n)).length - model.files.size;
    assert.ok(spares >= 32 && spares <= Math.max(32, peak + 8), `${spares} spares, at most ${peak} files`);
    v.close();
  }
});

test('damage to the name table is reported with file and offset, never taken for an older state', async () => {
  const opfs = new Opfs();
  let v = await Volume.mount(opfs);
  v.createDirectory('c');
  for (let i = 0; i < 5; i++) v.createFile(`c/${i}`);
  v.close();
  const t = activeTable(opfs);
  const name = [...opfs.files].find(([, f]) => f === t)[0];
  // A byte inside the second record (after the header): records follow it.
  const view = new DataView(t.durable.buffer);
  const second = 8 + view.getUint32(0, true);
  t.durable[second + 10] ^= 0x55;
  opfs.crash();
  await assert.rejects(Volume.mount(opfs), (e) => e instanceof FsError && e.code === 'io' &&
    e.message === `the volume's name table is damaged: ${name} at offset ${second}`);
  // The header itself: with data files present this is damage too, not a fresh volume.
  t.durable[second + 10] ^= 0x55;
  t.durable[12] ^= 0x55;
  opfs.crash();
  await assert.rejects(Volume.mount(opfs), /the volume's name table is damaged: names\.\d at offset 0/);
  t.durable[12] ^= 0x55;
  opfs.crash();
  v = await Volume.mount(opfs);
  assert.equal(v.files().length, 5);
  v.close();
});

test('an unlinked or replaced file stays readable while open and goes once let go', async () => {
  const opfs = new Opfs();
  const v = await Volume.mount(opfs);
  const id = v.createFile('wal');
  v.handle(id).write(Buffer.from('old'), { at: 0 });
  v.retain(id);
  const next = v.createFile('wal.new');
  v.rename('wal.new', 'wal');
  await v.tidy();
  assert.equal(opfs.files.has(`f${id}`), true);
  const buf = new Uint8Array(3);
  v.handle(id).read(buf, { at: 0 });
  assert.equal(Buffer.from(buf).toString(), 'old');
  assert.equal(v.fileId('wal'), next);
  v.release(id);
  await v.tidy();
  assert.equal(opfs.files.has(`f${id}`), false);
  assert.throws(() => v.createFile('wal'), (e) => e.code === 'exist');
  assert.throws(() => v.createFile('none/x'), (e) => e.code === 'no-entry');
  assert.throws(() => v.removeDirectory(''), (e) => e.code === 'busy');
  v.createDirectory('d');
  v.createFile('d/x');
  assert.throws(() => v.removeDirectory('d'), (e) => e.code === 'not-empty');
  assert.throws(() => v.rename('d', 'd/e'), (e) => e.code === 'invalid');
  v.close();
});
