// The Veles API in a browser page: the same methods as in Node, asynchronous, each a request
// to a dedicated Worker (worker.js) that runs the engine over the origin private file system.
// A database is named (`[A-Za-z0-9._-]{1,64}`); its files live in OPFS under `veles/<name>/`
// and persist across reloads. Values cross by structured clone, so ids keep the package's rule
// (a number up to 2^53 - 1, else a bigint) and errors are VelesErrors with the engine's text.
import { VelesError } from '../convert.js';

export { VelesError };

class Channel {
  #worker;
  #waiting = new Map();
  #next = 1;
  #ready;

  constructor() {
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.onerror = (ev) => {
        const err = new VelesError('internal', `the Veles worker failed to start: ${ev.message ?? 'unknown error'}`);
        reject(err);
        for (const w of this.#waiting.values()) w.reject(err);
        this.#waiting.clear();
      };
      this.#worker.onmessage = ({ data }) => {
        if (data.ready) {
          resolve();
          return;
        }
        const w = this.#waiting.get(data.id);
        this.#waiting.delete(data.id);
        if (data.error) w?.reject(new VelesError(data.error.kind, data.error.message));
        else w?.resolve(data.value);
      };
    });
  }

  async call(op, ...args) {
    await this.#ready;
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args });
    });
  }

  terminate() { this.#worker.terminate(); }
}

/** Runs one request on a worker of its own (for what needs no open database). */
async function once(op, ...args) {
  const c = new Channel();
  try {
    return await c.call(op, ...args);
  } finally {
    c.terminate();
  }
}

/**
 * Opens (creating if needed) database `name` in this origin's private file system. One tab
 * at a time: another open of the same name, here or in another tab, fails with kind 'locked'.
 * @param {string} name
 * @param {{readOnly?: boolean, vectorMemory?: 'full' | 'quantized'}} [options]
 */
export async function open(name, options = {}) {
  const c = new Channel();
  try {
    await c.call('open', name, options);
  } catch (err) {
    c.terminate();
    throw err;
  }
  return new Database(c, name);
}

/** Makes database `name` from an archive (a Blob, ArrayBuffer or Uint8Array), e.g. one made
 * by `Database.export()` or by `tar cf DB.tar -C DIR .` on a database a native program wrote. */
export async function importDatabase(name, archive) {
  const bytes = archive instanceof Blob ? await archive.arrayBuffer() : archive;
  return once('import', name, bytes);
}

/** A closed database as an archive (a Blob, `application/x-tar`). */
export async function exportDatabase(name) {
  return new Blob([await once('export', name)], { type: 'application/x-tar' });
}

/** Deletes database `name` and all its files. */
export const removeDatabase = (name) => once('remove', name);

/** The names of this origin's databases. */
export const listDatabases = () => once('list');

export class Database {
  #c;

  constructor(channel, name) {
    this.#c = channel;
    this.name = name;
  }

  #db(method, ...args) { return this.#c.call('db', method, args); }
  #collection(r) { return new Collection(this.#c, r.collection, r.name); }

  async createCollection(name, config) { return this.#collection(await this.#db('createCollection', name, config)); }
  async collection(name) { return this.#collection(await this.#db('collection', name)); }
  list() { return this.#db('list'); }
  dropCollection(name) { return this.#db('dropCollection', name); }
  flush() { return this.#db('flush'); }
  check() { return this.#db('check'); }
  /** Copies the database, consistently, into a new database of this origin named `dest`. */
  snapshot(dest) { return this.#db('snapshot', dest); }

  /** The database (flushed first) as an archive: a Blob, `application/x-tar`. */
  async export() { return new Blob([await this.#c.call('export')], { type: 'application/x-tar' }); }

  /** Flushes, closes, releases the lock and ends the worker. */
  async close() {
    try {
      await this.#c.call('close');
    } finally {
      this.#c.terminate();
    }
  }
}

export class Collection {
  #c; #handle;

  constructor(channel, handle, name) {
    this.#c = channel;
    this.#handle = handle;
    this.name = name;
  }

  #call(method, ...args) { return this.#c.call('collection', this.#handle, method, args); }

  upsert(points) { return this.#call('upsert', points); }
  get(ids, options) { return this.#call('get', ids, options); }
  delete(what) { return this.#call('delete', what); }
  search(vector, options) { return this.#call('search', vector, options); }
  searchBatch(vectors, options) { return this.#call('searchBatch', vectors, options); }
  scroll(options) { return this.#call('scroll', options); }
  count(filter) { return this.#call('count', filter); }
  setPayload(ids, fields) { return this.#call('setPayload', ids, fields); }
  createIndex(key, kind) { return this.#call('createIndex', key, kind); }
  flush() { return this.#call('flush'); }
  check() { return this.#call('check'); }
  len() { return this.#call('len'); }
  stats() { return this.#call('stats'); }
}
