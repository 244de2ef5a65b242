// The Veles API for JavaScript, over the component's raw binding (dist/veles.js, made by
// `npm run build`; reachable as `veles/raw` for what this API lacks). Node: a database is a
// directory on disk, the same files the native library, the CLI and wasmtime read and write.
import { _addPreopen } from '@bytecodealliance/preview2-shim/filesystem';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Database } from './api.js';
import { VelesError, call } from './convert.js';
import { lockDirectory } from './lock.js';

export { VelesError };
export { Collection, Database } from './api.js';

let binding;
async function engine() {
  binding ??= (await import('../dist/veles.js')).engine;
  return binding;
}

/**
 * The guest's path for host directory `dir`. The guest sees the host's file system at `/`:
 * one preopen, made before the first open, because the guest's C library reads the preopens
 * once (a preopen added later would be invisible to it). In Node this grants the engine no
 * more than the calling program has.
 */
let rooted = false;
function preopen(dir) {
  if (!rooted) {
    _addPreopen('/', '/');
    rooted = true;
  }
  return dir;
}

/**
 * Opens (creating if needed) the database in directory `path`.
 * @param {string} path
 * @param {{readOnly?: boolean, vectorMemory?: 'full' | 'quantized'}} [options]
 */
export async function open(path, options = {}) {
  const e = await engine();
  const dir = resolve(path);
  const readOnly = options.readOnly === true;
  if (!readOnly) mkdirSync(dir, { recursive: true });
  const release = readOnly ? async () => {} : await lockDirectory(dir);
  try {
    const guest = preopen(dir);
    const raw = call(e, () => e.Database.openWith(guest, {
      readOnly,
      vectorMemory: options.vectorMemory ?? 'full',
    }));
    return new Database(e, raw, nodeHost(release));
  } catch (err) {
    await release();
    throw err;
  }
}

/** A database in memory only. */
export async function inMemory() {
  const e = await engine();
  return new Database(e, e.Database.inMemory(), nodeHost(async () => {}));
}

/** Node's side of a database: its directory lock, and snapshots into host directories. */
function nodeHost(release) {
  return {
    release,
    async snapshotTarget(dest) {
      const dir = resolve(dest);
      mkdirSync(dir, { recursive: true });
      const unlock = await lockDirectory(dir);
      return { guest: preopen(dir), release: unlock };
    },
  };
}
