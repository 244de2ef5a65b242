// The engine in a dedicated Worker (OPFS sync access handles exist only in workers), serving
// the page's requests (browser/index.js) one at a time. One worker holds at most one open
// database, under a Web Lock named after it, so two tabs never open one database at once.
//
// Request: {id, op, args}. Reply: {id, value} or {id, error: {kind, message}}.
import { Collection, Database } from '../api.js';
import { VelesError, call } from '../convert.js';
import { engine as e } from '../../dist-browser/veles.js';
import { readTar, writeTar } from './tar.js';
import { FsError, Volume } from './volume.js';
import { mount, unmount } from './wasi-fs.js';

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

let current; // {name, db, volume, unlock}
const collections = new Map(); // handle -> Collection
let nextHandle = 1;

function checkName(name) {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new VelesError('invalid-name', `invalid name ${JSON.stringify(name)}: a database name is [A-Za-z0-9._-]{1,64}, not starting with '.' or '-'`);
  }
}

async function databases() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('veles', { create: true });
}

/** Holds the database's Web Lock until the returned function is called. */
async function lock(name) {
  let release;
  const held = new Promise((r) => { release = r; });
  const got = await new Promise((resolve, reject) => {
    navigator.locks.request(`veles:${name}`, { ifAvailable: true }, (l) => {
      resolve(l !== null);
      return l ? held : undefined;
    }).catch(reject);
  });
  if (!got) throw new VelesError('locked', `database '${name}' is already open (in another tab or worker)`);
  return release;
}

/** Locks and mounts database `name`'s volume; `f(volume)` runs with it, then all is let go
 * unless `f` keeps it (returns true). */
async function withVolume(name, f) {
  checkName(name);
  const unlock = await lock(name);
  let volume;
  let keep = false;
  try {
    const dir = await (await databases()).getDirectoryHandle(name, { create: true });
    volume = await Volume.mount(dir);
    mount(name, volume);
    keep = await f(volume, unlock);
    return keep;
  } finally {
    if (!keep) {
      unmount(name);
      volume?.close();
      unlock();
    }
  }
}

const ops = {
  async open(name, options = {}) {
    if (current) throw new VelesError('invalid-argument', 'invalid argument: this worker has a database open');
    await withVolume(name, (volume, unlock) => {
      const raw = call(e, () => e.Database.openWith(`/${name}`, {
        readOnly: options.readOnly === true,
        vectorMemory: options.vectorMemory ?? 'full',
      }));
      const db = new Database(e, raw, {
        async release() {},
        snapshotTarget,
      });
      current = { name, db, volume, unlock, readOnly: options.readOnly === true };
      return true;
    });
  },

  db(method, args) {
    const db = opened().db;
    if (!['createCollection', 'collection', 'list', 'dropCollection', 'flush', 'check', 'snapshot'].includes(method)) {
      throw new VelesError('invalid-argument', `invalid argument: no database method ${method}`);
    }
    return db[method](...args);
  },

  collection(handle, method, args) {
    const c = collections.get(handle);
    if (!c) throw new VelesError('invalid-argument', 'invalid argument: that collection was let go');
    if (method === 'name') return c.name;
    if (typeof c[method] !== 'function' || method === 'constructor' || method === 'raw') {
      throw new VelesError('invalid-argument', `invalid argument: no collection method ${method}`);
    }
    return c[method](...args);
  },

  async close() {
    if (!current) return;
    const { name, db, volume, unlock } = current;
    current = undefined;
    collections.clear();
    try {
      await db.close();
    } finally {
      unmount(name);
      volume.close();
      unlock();
    }
  },

  /** The open database (flushed first), or a closed one, as a tar archive. */
  async export(name) {
    if (current && (name === undefined || name === current.name)) {
      if (!current.readOnly) current.db.flush();
      return archive(current.volume);
    }
    let bytes;
    await withVolume(name, (volume) => { bytes = archive(volume); return false; });
    return bytes;
  },

  /** Makes database `name` from a tar archive; refused where it holds files already. The
   * archive is checked whole first; a write that fails even so removes what was made. */
  async import(name, bytes) {
    const entries = readTar(new Uint8Array(bytes));
    const kinds = new Map();
    for (const entry of entries) {
      const kind = entry.directory ? 'directory' : 'file';
      const clash = [...ancestors(entry.path).map((d) => [d, 'directory']), [entry.path, kind]]
        .find(([p, k]) => kinds.has(p) && kinds.get(p) !== k);
      if (clash || (!entry.directory && kinds.has(entry.path))) {
        throw new VelesError('corrupted', `the database archive names ${entry.path} twice, or as a file and a directory`);
      }
      for (const d of ancestors(entry.path)) kinds.set(d, 'directory');
      kinds.set(entry.path, kind);
    }
    let made = false;
    try {
      await withVolume(name, (volume) => {
        if (volume.files().length > 0 || volume.directories().length > 0) {
          throw new VelesError('already-exists', `database '${name}' exists: remove it first`);
        }
        made = true;
        return write(volume, entries);
      });
    } catch (err) {
      if (made) await ops.remove(name).catch(() => {});
      throw err;
    }
  },

  async remove(name) {
    checkName(name);
    if (current?.name === name) throw new VelesError('locked', `database '${name}' is open: close it first`);
    const unlock = await lock(name);
    try {
      await (await databases()).removeEntry(name, { recursive: true }).catch((err) => {
        if (err?.name !== 'NotFoundError') throw err;
      });
    } finally {
      unlock();
    }
  },

  async list() {
    const names = [];
    for await (const [name, entry] of (await databases()).entries()) {
      if (entry.kind === 'directory') names.push(name);
    }
    return names.sort();
  },
};

function opened() {
  if (!current) throw new VelesError('invalid-argument', 'invalid argument: no database is open');
  return current;
}

/** A snapshot's destination: another database of this origin, which must be empty, with a
 * spare file for every file of the database copied (the copy is one engine call). */
async function snapshotTarget(dest) {
  let release;
  const needed = opened().volume.files().length + opened().volume.directories().length;
  await withVolume(dest, async (volume, unlock) => {
    if (volume.files().length > 0) throw new VelesError('already-exists', `database '${dest}' exists: remove it first`);
    await volume.tidy(needed + 8);
    release = async () => {
      unmount(dest);
      volume.close();
      unlock();
    };
    return true;
  });
  return { guest: `/${dest}`, release };
}

/** Writes an archive's entries into an empty volume, each file flushed. */
async function write(volume, entries) {
  for (const entry of entries) {
    for (const dir of ancestors(entry.path)) if (!volume.kind(dir)) volume.createDirectory(dir);
    if (entry.directory) {
      if (!volume.kind(entry.path)) volume.createDirectory(entry.path);
      continue;
    }
    const h = volume.handle(volume.createFile(entry.path));
    let done = 0;
    while (done < entry.bytes.length) done += h.write(entry.bytes.subarray(done), { at: done });
    h.flush();
    await volume.tidy();
  }
  return false;
}

function ancestors(path) {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

function archive(volume) {
  const entries = volume.directories().map((path) => ({ path, directory: true }));
  for (const [path, id] of volume.files()) {
    const h = volume.handle(id);
    const bytes = new Uint8Array(h.getSize());
    h.read(bytes, { at: 0 });
    entries.push({ path, bytes });
  }
  return writeTar(entries);
}

/** Values the page gets: a collection becomes a handle to it. */
function reply(value) {
  if (value instanceof Collection) {
    const handle = nextHandle++;
    collections.set(handle, value);
    return { collection: handle, name: value.name };
  }
  return value;
}

function errorOf(err) {
  if (err instanceof VelesError) return { kind: err.kind, message: err.message };
  if (err?.name === 'QuotaExceededError') return { kind: 'io', message: `the browser's storage quota is exhausted: ${err.message}` };
  if (err instanceof FsError) return { kind: 'io', message: `the origin private file system: ${err.message}` };
  return { kind: 'internal', message: String(err?.message ?? err) };
}

let queue = Promise.resolve();
self.onmessage = ({ data: { id, op, args } }) => {
  queue = queue.then(async () => {
    try {
      if (!Object.hasOwn(ops, op)) throw new VelesError('invalid-argument', `invalid argument: no operation ${op}`);
      const value = reply(await ops[op](...(args ?? [])));
      self.postMessage({ id, value }, value instanceof Uint8Array ? [value.buffer] : []);
    } catch (err) {
      self.postMessage({ id, error: errorOf(err) });
    } finally {
      // Spares for the next call's new files; files no one refers to any more go.
      await current?.volume.tidy().catch(() => {});
    }
  });
};
self.postMessage({ ready: true });
