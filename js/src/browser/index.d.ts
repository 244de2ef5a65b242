// Types of the Veles API in a browser page (src/browser/index.js): the Node API's methods,
// each returning a promise, over a database in the origin private file system.
import type {
  CollectionConfig, Filter, Hit, Id, IndexKind, Payload, Point, SearchOptions, StoredPoint, Vector,
} from '../index.js';

export type {
  CollectionConfig, Filter, Hit, Id, IndexKind, Metric, Payload, Point, SearchOptions, StoredPoint, Vector,
} from '../index.js';
/** As in Node, plus kind 'internal' for a failure outside the engine (the worker's). */
export { VelesError } from '../index.js';

/** Opens (creating if needed) database `name` ([A-Za-z0-9._-]{1,64}) in this origin's OPFS,
 * in a Worker of its own; kind 'locked' when another tab or worker has it open. */
export declare function open(
  name: string,
  options?: { readOnly?: boolean; vectorMemory?: 'full' | 'quantized' },
): Promise<Database>;
/** Makes database `name` from a tar archive (an export, or `tar cf DB.tar -C DIR .`). */
export declare function importDatabase(name: string, archive: Blob | ArrayBuffer | Uint8Array): Promise<void>;
/** A closed database as a tar archive. */
export declare function exportDatabase(name: string): Promise<Blob>;
export declare function removeDatabase(name: string): Promise<void>;
export declare function listDatabases(): Promise<string[]>;

export declare class Database {
  readonly name: string;
  createCollection(name: string, config: CollectionConfig): Promise<Collection>;
  collection(name: string): Promise<Collection>;
  list(): Promise<string[]>;
  dropCollection(name: string): Promise<void>;
  /** Durable when it resolves: every sync access handle written to is flushed. */
  flush(): Promise<void>;
  check(): Promise<unknown[]>;
  /** A consistent copy into new database `dest` of this origin. */
  snapshot(dest: string): Promise<{ collections: string[]; bytes: bigint }>;
  /** The database, flushed first, as a tar archive every Veles host opens once unpacked. */
  export(): Promise<Blob>;
  /** Flushes, closes, lets the Web Lock go and ends the worker. */
  close(): Promise<void>;
}

export declare class Collection {
  readonly name: string;
  upsert(points: Point[]): Promise<void>;
  get(ids: Id[], options?: { withVector?: boolean; withPayload?: boolean }): Promise<(StoredPoint | undefined)[]>;
  delete(what: Id[] | { filter: Filter }): Promise<number>;
  search(vector: Vector, options?: SearchOptions): Promise<Hit[]>;
  searchBatch(vectors: Vector[], options?: SearchOptions): Promise<Hit[][]>;
  scroll(options?: {
    start?: Id; limit?: number; filter?: Filter; withVector?: boolean; withPayload?: boolean;
  }): Promise<{ points: StoredPoint[]; next?: Id }>;
  count(filter?: Filter): Promise<number>;
  setPayload(ids: Id[], fields: Payload): Promise<number>;
  createIndex(key: string, kind: IndexKind): Promise<boolean>;
  flush(): Promise<void>;
  check(): Promise<unknown>;
  len(): Promise<number>;
  stats(): Promise<unknown>;
}
