// Types of the Veles JavaScript API (src/index.js).

/** An id: a number when it is at most 2^53 - 1, else a bigint (ids are unsigned 64-bit). */
export type Id = number | bigint;
export type Vector = Float32Array | number[];
export type Payload = Record<string, unknown>;
/** A filter as the CLI takes it: `{key, eq}`, `{key, in}`, `{and: [...]}`, `{match: ...}`, ... */
export type Filter = Record<string, unknown>;
export type Metric = 'cosine' | 'euclidean' | 'dot' | 'hamming' | 'jaccard';
export type IndexKind = 'keyword' | 'integer' | 'float' | 'boolean' | 'exists' | 'text';

/** Every error: `kind` is the engine's error case, `message` its own text. */
export declare class VelesError extends Error {
  readonly kind:
    | 'dimension-mismatch' | 'invalid-vector' | 'invalid-name' | 'invalid-config'
    | 'invalid-argument' | 'invalid-filter' | 'invalid-payload' | 'limit-exceeded'
    | 'not-found' | 'already-exists' | 'corrupted' | 'unsupported-version' | 'io'
    | 'previous-io' | 'locked' | 'read-only';
  /** The WIT error's fields (a file and offset for `corrupted`, ...). */
  readonly detail: unknown;
}

export interface Point {
  id: Id;
  vector: Vector;
  payload?: Payload;
  sparse?: Record<string, { indices: Uint32Array | number[]; values: Float32Array | number[] }>;
}

export interface StoredPoint {
  id: Id;
  vector?: Float32Array;
  payload?: Payload;
  sparse?: Record<string, { indices: Uint32Array; values: Float32Array }>;
}

export interface Hit {
  id: Id;
  score: number;
  payload?: Payload;
  vector?: Float32Array;
}

export interface SearchOptions {
  /** Default 10. */
  k?: number;
  filter?: Filter;
  ef?: number;
  exact?: boolean;
  scoreThreshold?: number;
  /** Default true. */
  withPayload?: boolean;
  /** Default false. */
  withVector?: boolean;
}

export interface CollectionConfig {
  dimension: number;
  /** Default 'cosine'. */
  metric?: Metric;
  m?: number;
  efConstruction?: number;
  sparse?: { name: string; idf?: boolean }[];
}

export declare function open(
  path: string,
  options?: { readOnly?: boolean; vectorMemory?: 'full' | 'quantized' },
): Promise<Database>;
export declare function inMemory(): Promise<Database>;

export declare class Database {
  createCollection(name: string, config: CollectionConfig): Collection;
  collection(name: string): Collection;
  list(): string[];
  dropCollection(name: string): void;
  flush(): void;
  check(): unknown[];
  snapshot(dest: string): Promise<{ collections: string[]; bytes: bigint }>;
  /** Resolves once the directory's lock is released. */
  close(): Promise<void>;
}

export declare class Collection {
  readonly name: string;
  /** The raw binding's collection resource (see `veles/raw`), for what this API lacks. */
  readonly raw: unknown;
  upsert(points: Point[]): void;
  get(ids: Id[], options?: { withVector?: boolean; withPayload?: boolean }): (StoredPoint | undefined)[];
  delete(what: Id[] | { filter: Filter }): number;
  search(vector: Vector, options?: SearchOptions): Hit[];
  searchBatch(vectors: Iterable<Vector>, options?: SearchOptions): Hit[][];
  scroll(options?: {
    start?: Id; limit?: number; filter?: Filter; withVector?: boolean; withPayload?: boolean;
  }): { points: StoredPoint[]; next?: Id };
  count(filter?: Filter): number;
  setPayload(ids: Id[], fields: Payload): number;
  createIndex(key: string, kind: IndexKind): boolean;
  flush(): void;
  check(): unknown;
  len(): number;
  stats(): unknown;
}
