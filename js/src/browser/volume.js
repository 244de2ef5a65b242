// One database's files in the browser's origin private file system (OPFS), with synchronous
// namespace operations. The engine calls the file system synchronously, but in OPFS only a
// file's reads, writes, truncation and flush are synchronous (a `FileSystemSyncAccessHandle`);
// opening a handle, creating, renaming and removing files are all promises. So a volume keeps
// its own namespace:
//
// - Physical files are flat in the volume's OPFS directory: `f<n>` holds a file's bytes, and
//   every one in use has its sync handle open from mount to close.
// - The names (logical path -> physical file, and the set of directories) live in a name
//   table, journaled: `names.0` and `names.1` each start with a whole table (a generation
//   number and every entry), followed by one record per namespace change. Every record is
//   framed (length, CRC-32) and flushed before the change is applied, so a change is durable
//   when the call returns. Mount takes the valid file of the higher generation and replays its
//   records up to the first torn one (a crash's tail: that change was never acknowledged).
//   When a journal grows long, the whole table is written to the other file with the next
//   generation and flushed, and only then is the old file emptied: so one file is whole at
//   every moment, and outside that switch the other is empty. A bad record can be a crash's
//   torn tail only when it is the file's last; anything else is damage, reported with the file
//   and offset (never taken for an older state: that would forget files still in use).
// - Creating a file takes a spare: an empty physical file made and opened beforehand. Spares
//   are made, and files no name refers to any more are removed, between engine calls (`tidy`).
//   A physical file no name refers to at mount (a spare, or a file unlinked before a crash) is
//   garbage and is removed then.
//
// Durability is what `FileSystemSyncAccessHandle.flush()` gives: the engine's sync of a file
// flushes its handle, and every namespace change is flushed as it is made.
import { crc32 } from './crc32.js';

const TABLES = ['names.0', 'names.1'];
const SPARES = 32;
const JOURNAL_LIMIT = 1 << 16;

/** A namespace failure, as a wasi:filesystem error code (thrown as the code's string). */
export class FsError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.code = code;
  }
}

/** Path segments of a volume-relative path ('' is the volume's root). */
export const parentOf = (path) => path.slice(0, Math.max(0, path.lastIndexOf('/')));
export const join = (dir, name) => (dir === '' ? name : `${dir}/${name}`);

export class Volume {
  #dir; // FileSystemDirectoryHandle
  #handles = new Map(); // physical id -> FileSystemSyncAccessHandle
  #files = new Map(); // logical path -> physical id
  #dirs = new Set(['']); // logical directories
  #spares = []; // ids of empty physical files with open handles
  #dead = new Set(); // ids no name refers to, to remove once no descriptor holds them
  #held = new Map(); // id -> open descriptors
  #next = 1; // the next physical id
  #gen = 0;
  #table; // {slot, handle, end}
  #other; // the other table file's handle

  constructor(dir) {
    this.#dir = dir;
  }

  /** Mounts the volume in OPFS directory `dir` (creating an empty one where there is none). */
  static async mount(dir) {
    const v = new Volume(dir);
    await v.#load();
    await v.tidy();
    return v;
  }

  async #load() {
    const present = new Map();
    for await (const [name, entry] of this.#dir.entries()) present.set(name, entry.kind);
    const tables = [];
    for (const [slot, name] of TABLES.entries()) {
      const fh = await this.#dir.getFileHandle(name, { create: true });
      tables.push({ slot, name, handle: await fh.createSyncAccessHandle() });
    }
    const read = tables.map((t) => ({ ...t, ...readTable(t.handle) }));
    const whole = read.filter((t) => t.state).sort((a, b) => b.state.gen - a.state.gen);
    const data = [...present.keys()].filter((n) => /^f\d+$/.test(n));
    if (whole.length === 0 && data.length > 0) {
      // Files exist only once a table was whole: so this is damage, not a first write cut short.
      for (const t of tables) t.handle.close();
      const damaged = read.find((t) => t.size > 0);
      const where = damaged ? `${damaged.name} at offset 0` : `${TABLES[0]} (empty)`;
      throw new FsError('io', `the volume's name table is damaged: ${where}`);
    }
    if (whole.length > 0) {
      const best = whole[0];
      if (best.damagedAt !== undefined) {
        for (const t of tables) t.handle.close();
        throw new FsError('io', `the volume's name table is damaged: ${best.name} at offset ${best.damagedAt}`);
      }
      // The other file is empty but during a switch; a switch cut short leaves it half written
      // (or whole but older, when cut short after the new file was flushed).
      for (const t of read) if (t !== best && t.size > 0) emptyFile(t.handle);
      const s = best.state;
      this.#gen = s.gen;
      this.#next = s.next;
      this.#files = new Map(s.files);
      this.#dirs = new Set(s.dirs);
      for (const r of best.records) this.#apply(r);
      best.handle.truncate(best.end);
      best.handle.flush();
      this.#table = { slot: best.slot, handle: best.handle, end: best.end };
      this.#other = tables[1 - best.slot].handle;
    } else {
      for (const t of tables) emptyFile(t.handle);
      this.#table = { slot: 1, handle: tables[1].handle, end: 0 };
      this.#other = tables[0].handle;
      this.#rewrite();
    }
    const live = new Set(this.#files.values());
    for (const name of data) {
      const id = Number(name.slice(1));
      if (id >= this.#next) this.#next = id + 1;
      if (live.has(id)) {
        const fh = await this.#dir.getFileHandle(name);
        this.#handles.set(id, await fh.createSyncAccessHandle());
      } else {
        await this.#dir.removeEntry(name);
      }
    }
    for (const id of live) {
      if (!this.#handles.has(id)) {
        this.close();
        throw new FsError('io', `the volume's name table names file f${id}, which is missing`);
      }
    }
  }

  /** Makes spares and removes files no name and no descriptor refers to (between calls). A
   * call rewrites each file at most about once (a clean close checkpoints every collection),
   * so there are at least as many spares as files, and at least `spares`. */
  async tidy(spares = SPARES) {
    spares = Math.max(spares, this.#files.size + 8);
    for (const id of [...this.#dead]) {
      if (this.#held.get(id)) continue;
      this.#dead.delete(id);
      this.#handles.get(id)?.close();
      this.#handles.delete(id);
      await this.#dir.removeEntry(`f${id}`).catch(() => {});
    }
    while (this.#spares.length < spares) {
      const id = this.#next++;
      const fh = await this.#dir.getFileHandle(`f${id}`, { create: true });
      const h = await fh.createSyncAccessHandle();
      h.truncate(0);
      this.#handles.set(id, h);
      this.#spares.push(id);
    }
  }

  /** Flushes and closes every handle; the volume is unusable after. */
  close() {
    for (const h of this.#handles.values()) h.close();
    this.#table?.handle.close();
    this.#other?.close();
    this.#handles.clear();
    this.#table = undefined;
    this.#other = undefined;
  }

  // ---- lookups

  kind(path) {
    if (this.#files.has(path)) return 'regular-file';
    if (this.#dirs.has(path)) return 'directory';
    return undefined;
  }

  fileId(path) { return this.#files.get(path); }
  handle(id) { return this.#handles.get(id); }

  /** The names directly in directory `path`, with their types, sorted. */
  list(path) {
    const prefix = path === '' ? '' : `${path}/`;
    const out = [];
    const direct = (p) => p.startsWith(prefix) && p.length > prefix.length && !p.slice(prefix.length).includes('/');
    for (const p of this.#files.keys()) if (direct(p)) out.push({ type: 'regular-file', name: p.slice(prefix.length) });
    for (const p of this.#dirs) if (direct(p)) out.push({ type: 'directory', name: p.slice(prefix.length) });
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every file, `[path, id]`, for export. */
  files() { return [...this.#files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)); }
  directories() { return [...this.#dirs].filter((d) => d !== '').sort(); }

  retain(id) { this.#held.set(id, (this.#held.get(id) ?? 0) + 1); }
  release(id) {
    const n = (this.#held.get(id) ?? 1) - 1;
    if (n > 0) this.#held.set(id, n); else this.#held.delete(id);
  }

  // ---- namespace changes: checked, logged and flushed, then applied

  createFile(path) {
    this.#needParent(path);
    if (this.kind(path)) throw new FsError('exist');
    if (this.#spares.length === 0) {
      throw new FsError('insufficient-space', 'no spare file left in this call (the volume makes more between calls)');
    }
    const id = this.#spares[this.#spares.length - 1];
    this.#change({ op: 'file', path, id });
    this.#spares.pop();
    return id;
  }

  createDirectory(path) {
    this.#needParent(path);
    if (this.kind(path)) throw new FsError('exist');
    this.#change({ op: 'dir', path });
  }

  removeDirectory(path) {
    const k = this.kind(path);
    if (k === undefined) throw new FsError('no-entry');
    if (k !== 'directory') throw new FsError('not-directory');
    if (path === '') throw new FsError('busy');
    if (this.list(path).length > 0) throw new FsError('not-empty');
    this.#change({ op: 'rmdir', path });
  }

  unlink(path) {
    const k = this.kind(path);
    if (k === undefined) throw new FsError('no-entry');
    if (k !== 'regular-file') throw new FsError('is-directory');
    this.#change({ op: 'unlink', path });
  }

  rename(from, to) {
    const k = this.kind(from);
    if (k === undefined) throw new FsError('no-entry');
    if (from === to) return;
    this.#needParent(to);
    const there = this.kind(to);
    if (k === 'directory') {
      if (from === '' || to.startsWith(`${from}/`)) throw new FsError('invalid');
      if (there === 'regular-file') throw new FsError('not-directory');
      if (there === 'directory' && this.list(to).length > 0) throw new FsError('not-empty');
    } else if (there === 'directory') {
      throw new FsError('is-directory');
    }
    this.#change({ op: 'rename', from, to });
  }

  #needParent(path) {
    if (path === '') throw new FsError('exist');
    const k = this.kind(parentOf(path));
    if (k === undefined) throw new FsError('no-entry');
    if (k !== 'directory') throw new FsError('not-directory');
  }

  #change(record) {
    const bytes = frame(record);
    if (this.#table.end + bytes.length > JOURNAL_LIMIT) {
      this.#apply(record);
      this.#rewrite();
      return;
    }
    writeAll(this.#table.handle, bytes, this.#table.end);
    this.#table.handle.flush();
    this.#table.end += bytes.length;
    this.#apply(record);
  }

  /** Writes the whole table to the other file with the next generation; then appends there. */
  #rewrite() {
    const state = {
      gen: this.#gen + 1,
      next: this.#next,
      files: [...this.#files.entries()],
      dirs: [...this.#dirs],
    };
    const bytes = frame(state);
    const h = this.#other;
    h.truncate(0);
    writeAll(h, bytes, 0);
    h.flush();
    this.#gen = state.gen;
    emptyFile(this.#table.handle);
    this.#other = this.#table.handle;
    this.#table = { slot: 1 - this.#table.slot, handle: h, end: bytes.length };
  }

  #apply(r) {
    switch (r.op) {
      case 'file':
        this.#files.set(r.path, r.id);
        this.#dead.delete(r.id);
        break;
      case 'dir':
        this.#dirs.add(r.path);
        break;
      case 'rmdir':
        this.#dirs.delete(r.path);
        break;
      case 'unlink':
        this.#dead.add(this.#files.get(r.path));
        this.#files.delete(r.path);
        break;
      case 'rename':
        this.#applyRename(r.from, r.to);
        break;
      default:
        throw new FsError('io', `the volume's name table has an unknown record ${JSON.stringify(r.op)}`);
    }
  }

  #applyRename(from, to) {
    if (this.#files.has(from)) {
      const replaced = this.#files.get(to);
      if (replaced !== undefined) this.#dead.add(replaced);
      this.#files.set(to, this.#files.get(from));
      this.#files.delete(from);
      return;
    }
    const moved = (p) => p === from || p.startsWith(`${from}/`);
    const renamed = (p) => to + p.slice(from.length);
    this.#dirs.delete(to);
    for (const d of [...this.#dirs].filter(moved)) {
      this.#dirs.delete(d);
      this.#dirs.add(renamed(d));
    }
    for (const [p, id] of [...this.#files].filter(([q]) => moved(q))) {
      this.#files.delete(p);
      this.#files.set(renamed(p), id);
    }
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A record as stored: length (u32 LE), CRC-32 of the body (u32 LE), JSON body. */
function frame(record) {
  const body = encoder.encode(JSON.stringify(record));
  const out = new Uint8Array(8 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length, true);
  view.setUint32(4, crc32(body), true);
  out.set(body, 8);
  return out;
}

/** A table file's whole state and records, up to its first torn record. */
function readTable(handle) {
  const size = handle.getSize();
  const bytes = new Uint8Array(size);
  handle.read(bytes, { at: 0 });
  const records = [];
  let at = 0;
  let damagedAt;
  while (at < size) {
    const len = at + 8 <= size ? new DataView(bytes.buffer, at, 8).getUint32(0, true) : Infinity;
    const end = at + 8 + len;
    const body = end <= size ? bytes.subarray(at + 8, end) : undefined;
    const record = body && crc32(body) === new DataView(bytes.buffer, at, 8).getUint32(4, true) ? parse(body) : undefined;
    if (record === undefined) {
      // The last record, cut short or half written, is a crash's; one with more after it is not.
      if (end < size) damagedAt = at;
      break;
    }
    records.push(record);
    at = end;
  }
  const head = records.shift();
  const whole = head && Number.isInteger(head.gen) && Array.isArray(head.files) && Array.isArray(head.dirs);
  return { size, state: whole ? head : undefined, records, end: at, damagedAt };
}

function parse(body) {
  try {
    const r = JSON.parse(decoder.decode(body));
    return r !== null && typeof r === 'object' ? r : undefined;
  } catch {
    return undefined;
  }
}

function emptyFile(handle) {
  handle.truncate(0);
  handle.flush();
}

function writeAll(handle, bytes, at) {
  let done = 0;
  while (done < bytes.length) {
    const n = handle.write(bytes.subarray(done), { at: at + done });
    if (n <= 0) throw new FsError('io', 'a write to the origin private file system wrote nothing');
    done += n;
  }
}
