// The one place JavaScript values become the binding's and back: ids, vectors, payloads,
// filters, options, hits, points, and errors. Everything the raw binding takes is built
// here; everything it returns is read here.

/** The engine's error kinds (the WIT `error` cases) and the wrapper's own refusals. */
export class VelesError extends Error {
  /**
   * @param {string} kind - e.g. 'dimension-mismatch', 'invalid-argument', 'not-found'
   * @param {string} message - the engine's own text (its Rust `Display`)
   * @param {unknown} [detail] - the WIT error's fields, as the binding gave them
   */
  constructor(kind, message, detail) {
    super(message);
    this.name = 'VelesError';
    this.kind = kind;
    this.detail = detail;
  }
}

const U64_END = 1n << 64n;

/** A caller's id as the binding's u64: a safe non-negative integer or a bigint in range. */
export function toId(id) {
  if (typeof id === 'bigint') {
    if (id >= 0n && id < U64_END) return id;
  } else if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) {
    return BigInt(id);
  }
  const shown = typeof id === 'bigint' ? `${id}n` : String(id);
  throw new VelesError('invalid-argument',
    `invalid argument: id ${shown} is not an integer in 0..2^64 (a number up to 2^53 - 1, or a bigint)`);
}

/** An id from the binding: a number when it is safe (at most 2^53 - 1), else a bigint. */
export const fromId = (id) => (id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id);

export const toIds = (ids) => {
  if (!Array.isArray(ids)) throw new VelesError('invalid-argument', 'invalid argument: ids must be an array');
  return ids.map(toId);
};

export function toVector(v) {
  if (v instanceof Float32Array) return v;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Float32Array.from(v, Number);
  throw new VelesError('invalid-argument',
    'invalid argument: a vector is a Float32Array or an array of numbers');
}

const toJson = (value, what) => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new VelesError('invalid-argument', `invalid argument: ${what} must be an object`);
  }
  return JSON.stringify(value, (_, x) => (typeof x === 'bigint' ? Number(x) : x));
};

const fromJson = (text) => (text === undefined || text === null ? undefined : JSON.parse(text));

/** A filter as the CLI takes it (`{"key": "lang", "eq": "en"}`, `{"and": [...]}`, ...). */
export const toPointFilter = (filter) => ({ filter: undefined, filterJson: toJson(filter, 'a filter') });

const toSparse = (sparse) => Object.entries(sparse ?? {}).map(([field, v]) => ({
  field,
  vector: { indices: Uint32Array.from(v.indices ?? []), values: Float32Array.from(v.values ?? []) },
}));

/** `{id, vector, payload?, sparse?: {field: {indices, values}}}` as the binding's point. */
export function toPoint(p) {
  if (p === null || typeof p !== 'object') {
    throw new VelesError('invalid-argument', 'invalid argument: a point is an object {id, vector, payload?}');
  }
  return { id: toId(p.id), vector: toVector(p.vector), payload: toJson(p.payload, 'a payload'), sparse: toSparse(p.sparse) };
}

export function fromPoint(p) {
  const out = { id: fromId(p.id), payload: fromJson(p.payload) };
  if (p.vector.length > 0) out.vector = p.vector;
  if (p.sparse?.length) {
    out.sparse = Object.fromEntries(p.sparse.map((s) => [s.field, { indices: s.vector.indices, values: s.vector.values }]));
  }
  return out;
}

export function fromHit(h) {
  const out = { id: fromId(h.id), score: h.score };
  if (h.payload !== undefined) out.payload = fromJson(h.payload);
  if (h.vector !== undefined) out.vector = h.vector;
  return out;
}

const count = (value, name, fallback) => {
  const v = value ?? fallback;
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) {
    throw new VelesError('invalid-argument', `invalid argument: ${name} must be an integer in 0..2^32`);
  }
  return v;
};

/** Search options: payloads included unless `withPayload: false` (as in the CLI). */
export function toSearch(options = {}) {
  return {
    k: count(options.k, 'k', 10),
    options: {
      filter: undefined,
      filterJson: toJson(options.filter, 'a filter'),
      ef: count(options.ef, 'ef'),
      exact: options.exact === true,
      scoreThreshold: options.scoreThreshold,
      withPayload: options.withPayload !== false,
      withVector: options.withVector === true,
    },
  };
}

export const toCount = count;

/** Runs a binding call; its WIT error becomes a VelesError with the engine's message. */
export function call(engine, f) {
  try {
    return f();
  } catch (e) {
    const payload = e?.payload;
    if (payload && typeof payload.tag === 'string') {
      throw new VelesError(payload.tag, engine.describe(payload), payload.val);
    }
    throw e;
  }
}
