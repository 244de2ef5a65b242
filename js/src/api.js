// The Database and Collection classes over the component's raw binding, shared by every
// JavaScript host: Node (index.js) and the browser's worker (browser/worker.js). What differs
// between them (locks, where a snapshot goes) comes in as the `host` object.
import {
  VelesError, call, fromHit, fromId, fromPoint, toCount, toId, toIds, toPoint, toPointFilter,
  toSearch, toVector,
} from './convert.js';

const METRICS = ['cosine', 'euclidean', 'dot', 'hamming', 'jaccard'];
const INDEX_KINDS = ['keyword', 'integer', 'float', 'boolean', 'exists', 'text'];

export class Database {
  #e; #raw; #host;
  /** The collection resources handed out: let go at close, so that the engine's clean close
   * (a checkpoint where worth it) runs when the database goes. */
  #collections = new Set();

  /**
   * @param e - the binding's `engine` interface
   * @param raw - its `database` resource
   * @param host - what depends on where the engine runs: `release()` lets the database's
   *   lock go; `snapshotTarget(dest)` resolves to `{guest, release}`, the guest's path for a
   *   snapshot destination and the release of its lock
   */
  constructor(e, raw, host) {
    this.#e = e;
    this.#raw = raw;
    this.#host = host;
  }

  #call(f) {
    if (!this.#raw) throw new VelesError('invalid-argument', 'invalid argument: the database is closed');
    return call(this.#e, () => f(this.#raw));
  }

  /**
   * Creates a collection (durable when it returns).
   * @param {string} name
   * @param {{dimension: number, metric?: string, m?: number, efConstruction?: number, sparse?: {name: string, idf?: boolean}[]}} config
   */
  createCollection(name, config) {
    const metric = config?.metric ?? 'cosine';
    if (!METRICS.includes(metric)) {
      throw new VelesError('invalid-config', `invalid collection config: metric ${metric} is not one of ${METRICS.join(', ')}`);
    }
    const wit = {
      dimension: toCount(config?.dimension, 'dimension', -1),
      metric,
      m: toCount(config?.m, 'm', 16),
      efConstruction: toCount(config?.efConstruction, 'efConstruction', 200),
      sparse: (config?.sparse ?? []).map((s) => ({ name: s.name, idf: s.idf === true })),
    };
    return this.#handOut(this.#call((d) => d.createCollection(name, wit)));
  }

  collection(name) {
    return this.#handOut(this.#call((d) => d.collection(name)));
  }

  #handOut(raw) {
    this.#collections.add(raw);
    return new Collection(this.#e, raw, () => this.#raw !== undefined);
  }

  list() { return this.#call((d) => d.list()); }
  dropCollection(name) { this.#call((d) => d.dropCollection(name)); }
  flush() { this.#call((d) => d.flush()); }
  check() { return this.#call((d) => d.check()); }

  /** Copies the database, consistently and while it stays open, into directory `dest`. */
  async snapshot(dest) {
    const { guest, release } = await this.#host.snapshotTarget(dest);
    try {
      return this.#call((d) => d.snapshot(guest));
    } finally {
      await release();
    }
  }

  /** Flushes, lets the database go (a clean close: it checkpoints where worth it) and
   * releases the directory's lock; resolves once another writer may open it. */
  async close() {
    if (!this.#raw) return;
    try {
      this.#call((d) => d.flush());
    } finally {
      for (const c of this.#collections) c[Symbol.dispose]?.();
      this.#collections.clear();
      this.#raw[Symbol.dispose]?.();
      this.#raw = undefined;
      await this.#host.release();
    }
  }
}

export class Collection {
  #e; #raw; #open;

  constructor(e, raw, open) {
    this.#e = e;
    this.#raw = raw;
    this.#open = open;
  }

  #call(f) {
    if (!this.#open()) throw new VelesError('invalid-argument', 'invalid argument: the database is closed');
    return call(this.#e, () => f(this.#raw));
  }

  get name() { return this.#raw.name(); }

  /** The binding's `collection` resource, for what this API lacks (`veles/raw` types it). */
  get raw() { return this.#raw; }

  /** Inserts or replaces points, atomically; visible at once, durable after `flush`. */
  upsert(points) {
    if (!Array.isArray(points)) throw new VelesError('invalid-argument', 'invalid argument: points must be an array');
    const wit = points.map(toPoint);
    this.#call((c) => c.upsert(wit));
  }

  /** Points by id, in order (`undefined` where absent). */
  get(ids, { withVector = true, withPayload = true } = {}) {
    const wit = toIds(ids);
    return this.#call((c) => c.getWith(wit, withVector, withPayload)).map((p) => (p ? fromPoint(p) : undefined));
  }

  /** Deletes points by id, or every point passing `{filter}`; returns how many. */
  delete(what) {
    if (Array.isArray(what)) {
      const wit = toIds(what);
      return Number(this.#call((c) => c.delete(wit)));
    }
    const filter = toPointFilter(what?.filter);
    if (filter.filterJson === undefined) {
      throw new VelesError('invalid-argument', 'invalid argument: delete takes ids or {filter}');
    }
    return Number(this.#call((c) => c.deleteByFilter(filter)));
  }

  /** The `k` best matches, best first: `[{id, score, payload?, vector?}]`. */
  search(vector, options = {}) {
    const v = toVector(vector);
    const { k, options: o } = toSearch(options);
    return this.#call((c) => c.search(v, k, o)).map(fromHit);
  }

  searchBatch(vectors, options = {}) {
    const vs = Array.from(vectors, toVector);
    const { k, options: o } = toSearch(options);
    return this.#call((c) => c.searchBatch(vs, k, o)).map((hits) => hits.map(fromHit));
  }

  /** Points with ids from `start` on, ascending: `{points, next}` (`next` undefined at the end). */
  scroll({ start = 0, limit = 100, filter, withVector = false, withPayload = true } = {}) {
    const from = toId(start);
    const n = toCount(limit, 'limit');
    const f = toPointFilter(filter);
    const page = this.#call((c) => c.scroll(from, n, f, withVector === true, withPayload !== false));
    return { points: page.points.map(fromPoint), next: page.next === undefined ? undefined : fromId(page.next) };
  }

  count(filter) {
    const f = toPointFilter(filter);
    return Number(this.#call((c) => c.count(f)));
  }

  /** Merges `fields` into these points' payloads; returns how many changed. */
  setPayload(ids, fields) {
    const wit = toIds(ids);
    const json = JSON.stringify(fields ?? {});
    return Number(this.#call((c) => c.setPayload(wit, json)));
  }

  /** Declares a payload index on a dotted key; false when it existed. */
  createIndex(key, kind) {
    if (!INDEX_KINDS.includes(kind)) {
      throw new VelesError('invalid-argument', `invalid argument: index kind ${kind} is not one of ${INDEX_KINDS.join(', ')}`);
    }
    return this.#call((c) => c.createIndex(key, kind));
  }

  flush() { this.#call((c) => c.flush()); }
  check() { return this.#call((c) => c.check()); }
  len() { return Number(this.#call((c) => c.len())); }
  stats() { return this.#call((c) => c.stats()); }
}
