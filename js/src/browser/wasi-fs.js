// The part of wasi:filesystem the engine uses, over OPFS volumes (volume.js), for the
// browser build of the binding (build.mjs maps the component's wasi:filesystem imports here).
//
// The guest sees one preopen, `/`: a directory whose entries are the mounted volumes (one per
// open database, `/<name>`). The guest's C library reads the preopens once, so volumes come and
// go under that one root. A descriptor names a volume and a path in it; a file descriptor holds
// its physical file, so a file renamed or unlinked while open stays readable, as on POSIX.
// Errors are thrown as wasi:filesystem error-code strings, which the binding hands the guest.
import { inputStreamCreate, outputStreamCreate, ioErrorCreate } from '../../dist-browser/shim/io.js';
import { FsError, join } from './volume.js';

const volumes = new Map(); // name -> Volume

/** Makes `volume` visible to the guest as `/<name>`. */
export function mount(name, volume) {
  if (volumes.has(name)) throw new Error(`volume ${name} is already mounted`);
  volumes.set(name, volume);
}

export function unmount(name) { volumes.delete(name); }

/** Runs `f`, turning OPFS and namespace failures into error codes. */
function fs(f) {
  try {
    return f();
  } catch (e) {
    if (typeof e === 'string') throw e;
    if (e instanceof FsError) throw e.code;
    if (e?.name === 'QuotaExceededError') throw 'insufficient-space';
    if (e?.name === 'InvalidStateError') throw 'bad-descriptor';
    throw 'io';
  }
}

/** `base` joined with a guest-relative path: `[volume name | undefined, path in volume]`. */
function resolve(vol, base, path) {
  if (path.startsWith('/')) throw 'not-permitted';
  const parts = vol === undefined ? [] : [vol, ...(base === '' ? [] : base.split('/'))];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) throw 'not-permitted';
      // Leaving a volume through its root would reach another volume: refused.
      if (parts.length === 1) throw 'not-permitted';
      parts.pop();
    } else {
      parts.push(p);
    }
  }
  if (parts.length === 0) return [undefined, ''];
  return [parts[0], parts.slice(1).join('/')];
}

function volumeOf(name) {
  const v = volumes.get(name);
  if (!v) throw 'no-entry';
  return v;
}

const hash = (text) => {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) h = ((h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
};

const stat = (type, size) => ({
  type,
  linkCount: 1n,
  size: BigInt(size),
  dataAccessTimestamp: undefined,
  dataModificationTimestamp: undefined,
  statusChangeTimestamp: undefined,
});

class DirectoryEntryStream {
  #entries;
  constructor(entries) { this.#entries = entries; }
  readDirectoryEntry() { return this.#entries.shift(); }
}

class Descriptor {
  #vol; // volume name; undefined for the root
  #path; // path in the volume ('' for its root)
  #id; // physical file id, for a file
  #flags;

  static _make(vol, path, id, flags) {
    const d = new Descriptor();
    d.#vol = vol;
    d.#path = path;
    d.#id = id;
    d.#flags = flags;
    if (id !== undefined) volumeOf(vol).retain(id);
    return d;
  }

  #volume() { return volumeOf(this.#vol); }

  #handle() {
    if (this.#id === undefined) throw 'is-directory';
    const h = this.#volume().handle(this.#id);
    if (!h) throw 'bad-descriptor';
    return h;
  }

  #at(path) { return resolve(this.#vol, this.#path, path); }

  /** The type at `[vol, path]`, or undefined. */
  static #kind(vol, path) {
    if (vol === undefined) return 'directory';
    const v = volumes.get(vol);
    return v ? v.kind(path) : undefined;
  }

  getType() { return this.#id === undefined ? 'directory' : 'regular-file'; }
  getFlags() { return { ...this.#flags }; }

  stat() {
    return this.#id === undefined ? stat('directory', 0) : stat('regular-file', fs(() => this.#handle().getSize()));
  }

  statAt(_pathFlags, path) {
    const [vol, p] = this.#at(path);
    const kind = Descriptor.#kind(vol, p);
    if (kind === undefined) throw 'no-entry';
    if (kind === 'directory') return stat('directory', 0);
    const v = volumeOf(vol);
    return stat(kind, fs(() => v.handle(v.fileId(p)).getSize()));
  }

  openAt(_pathFlags, path, openFlags, flags) {
    const [vol, p] = this.#at(path);
    const want = { read: !!flags.read, write: !!flags.write, mutateDirectory: !!flags.mutateDirectory };
    let kind = Descriptor.#kind(vol, p);
    if (vol === undefined || (p === '' && kind === undefined)) {
      // The root, or a volume that is not mounted: nothing is created here.
      if (kind === undefined) throw openFlags.create ? 'not-permitted' : 'no-entry';
    }
    if (kind !== undefined && openFlags.create && openFlags.exclusive) throw 'exist';
    if (kind === undefined) {
      if (!openFlags.create) throw 'no-entry';
      if (openFlags.directory) throw 'no-entry';
      const v = volumeOf(vol);
      const id = fs(() => v.createFile(p));
      return Descriptor._make(vol, p, id, want);
    }
    if (kind === 'directory') {
      if (openFlags.truncate || want.write) throw 'is-directory';
      return Descriptor._make(vol, p, undefined, want);
    }
    if (openFlags.directory) throw 'not-directory';
    const v = volumeOf(vol);
    const id = v.fileId(p);
    if (openFlags.truncate) {
      if (!want.write) throw 'bad-descriptor';
      fs(() => v.handle(id).truncate(0));
    }
    return Descriptor._make(vol, p, id, want);
  }

  read(length, offset) {
    const h = this.#handle();
    if (!this.#flags.read) throw 'bad-descriptor';
    return fs(() => {
      const size = h.getSize();
      const at = Number(offset);
      const n = Math.max(0, Math.min(Number(length), size - at));
      const buf = new Uint8Array(n);
      const got = n === 0 ? 0 : h.read(buf, { at });
      return [got === n ? buf : buf.subarray(0, got), at + got >= size];
    });
  }

  write(buffer, offset) {
    const h = this.#handle();
    if (!this.#flags.write) throw 'bad-descriptor';
    return fs(() => BigInt(h.write(buffer, { at: Number(offset) })));
  }

  readViaStream(offset) {
    const h = this.#handle();
    let at = Number(offset);
    return inputStreamCreate({
      blockingRead(len) {
        const size = h.getSize();
        if (at >= size) throw { tag: 'closed' };
        const buf = new Uint8Array(Math.min(Number(len), size - at));
        const got = h.read(buf, { at });
        at += got;
        return got === buf.length ? buf : buf.subarray(0, got);
      },
    });
  }

  writeViaStream(offset) {
    const h = this.#handle();
    if (!this.#flags.write) throw 'bad-descriptor';
    let at = Number(offset);
    return outputStreamCreate(writer(h, () => at, (n) => { at += n; }));
  }

  appendViaStream() {
    const h = this.#handle();
    if (!this.#flags.write) throw 'bad-descriptor';
    return outputStreamCreate(writer(h, () => h.getSize(), () => {}));
  }

  setSize(size) {
    const h = this.#handle();
    if (!this.#flags.write) throw 'bad-descriptor';
    fs(() => h.truncate(Number(size)));
  }

  sync() { if (this.#id !== undefined) fs(() => this.#handle().flush()); }
  syncData() { this.sync(); }
  advise() {}
  setTimes() {}
  setTimesAt() {}

  readDirectory() {
    if (this.#id !== undefined) throw 'not-directory';
    if (this.#vol === undefined) {
      return new DirectoryEntryStream([...volumes.keys()].sort().map((name) => ({ type: 'directory', name })));
    }
    return new DirectoryEntryStream(this.#volume().list(this.#path));
  }

  createDirectoryAt(path) {
    const [vol, p] = this.#at(path);
    if (vol === undefined || p === '') throw volumes.has(vol) || vol === undefined ? 'exist' : 'not-permitted';
    const v = volumeOf(vol);
    fs(() => v.createDirectory(p));
  }

  removeDirectoryAt(path) {
    const [vol, p] = this.#at(path);
    if (vol === undefined || p === '') throw 'not-permitted';
    const v = volumeOf(vol);
    fs(() => v.removeDirectory(p));
  }

  unlinkFileAt(path) {
    const [vol, p] = this.#at(path);
    if (vol === undefined || p === '') throw 'is-directory';
    const v = volumeOf(vol);
    fs(() => v.unlink(p));
  }

  renameAt(oldPath, newDescriptor, newPath) {
    const [vol, from] = this.#at(oldPath);
    const [vol2, to] = newDescriptor.#at(newPath);
    if (vol === undefined || vol2 === undefined || from === '' || to === '') throw 'not-permitted';
    if (vol !== vol2) throw 'cross-device';
    const v = volumeOf(vol);
    fs(() => v.rename(from, to));
  }

  linkAt() { throw 'unsupported'; }
  symlinkAt() { throw 'unsupported'; }
  readlinkAt() { throw 'invalid'; }

  isSameObject(other) {
    return other.#vol === this.#vol && (this.#id !== undefined ? other.#id === this.#id : other.#path === this.#path);
  }

  metadataHash() { return this.#hash(this.#path, this.#id); }

  metadataHashAt(_pathFlags, path) {
    const [vol, p] = this.#at(path);
    const kind = Descriptor.#kind(vol, p);
    if (kind === undefined) throw 'no-entry';
    return Descriptor._hashOf(vol, p, kind === 'regular-file' ? volumeOf(vol).fileId(p) : undefined);
  }

  #hash(path, id) { return Descriptor._hashOf(this.#vol, path, id); }

  static _hashOf(vol, path, id) {
    return id !== undefined
      ? { upper: hash(vol ?? ''), lower: BigInt(id) }
      : { upper: hash(`${vol ?? ''}/`), lower: hash(path) };
  }

  [Symbol.dispose]() {
    if (this.#id !== undefined) volumes.get(this.#vol)?.release(this.#id);
    this.#id = undefined;
  }
}

function writer(h, position, advance) {
  return {
    write(buf) {
      try {
        let done = 0;
        while (done < buf.length) {
          const n = h.write(buf.subarray(done), { at: position() + done });
          if (n <= 0) throw new Error('a write to the origin private file system wrote nothing');
          done += n;
        }
        advance(done);
      } catch (e) {
        throw { tag: 'last-operation-failed', val: ioErrorCreate(String(e?.message ?? e)) };
      }
    },
    blockingFlush() {},
  };
}

const root = Descriptor._make(undefined, '', undefined, { read: true, write: false, mutateDirectory: true });

export const preopens = {
  getDirectories() { return [[root, '/']]; },
};

export const types = {
  Descriptor,
  DirectoryEntryStream,
  filesystemErrorCode() { return undefined; },
};
