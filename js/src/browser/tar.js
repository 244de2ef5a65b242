// A database as one file: a POSIX ustar archive of its directory, the format of `tar cf DB.tar
// -C DIR .` and of the HTTP server's collection snapshots, so `tar xf` gives a directory every
// Veles host opens as it is.
import { VelesError } from '../convert.js';

const BLOCK = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `entries`: `[{path, directory: true} | {path, bytes: Uint8Array}]` -> the archive's bytes. */
export function writeTar(entries) {
  let size = 2 * BLOCK;
  for (const e of entries) size += BLOCK + (e.directory ? 0 : Math.ceil(e.bytes.length / BLOCK) * BLOCK);
  const out = new Uint8Array(size);
  let at = 0;
  for (const e of entries) {
    out.set(header(e), at);
    at += BLOCK;
    if (!e.directory) {
      out.set(e.bytes, at);
      at += Math.ceil(e.bytes.length / BLOCK) * BLOCK;
    }
  }
  return out;
}

function header(e) {
  const h = new Uint8Array(BLOCK);
  const path = e.directory ? `${e.path}/` : e.path;
  let name = path;
  let prefix = '';
  if (encoder.encode(name).length > 100) {
    const cut = path.lastIndexOf('/', path.length - 2);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (cut < 0 || encoder.encode(name).length > 100 || encoder.encode(prefix).length > 155) {
      throw new VelesError('invalid-argument', `invalid argument: path ${path} is too long for a tar archive`);
    }
  }
  const put = (text, offset, length) => h.set(encoder.encode(text).subarray(0, length), offset);
  const octal = (n, offset, length) => put(`${n.toString(8).padStart(length - 1, '0')}\0`, offset, length);
  put(name, 0, 100);
  octal(e.directory ? 0o755 : 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(e.directory ? 0 : e.bytes.length, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  h[156] = e.directory ? 0x35 : 0x30;
  put('ustar\x0000', 257, 8);
  put(prefix, 345, 155);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/**
 * The archive's directories and files, `[{path, directory} | {path, bytes}]`. Damage (a bad
 * checksum, a size past the end, a path that leaves the archive) is a VelesError naming the
 * offset; links and devices are refused (a database has none).
 */
export function readTar(bytes) {
  const out = [];
  let at = 0;
  let longName;
  while (at + BLOCK <= bytes.length) {
    const h = bytes.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) return out;
    const field = (offset, length) => {
      const f = h.subarray(offset, offset + length);
      const end = f.indexOf(0);
      return decoder.decode(end < 0 ? f : f.subarray(0, end));
    };
    const number = (offset, length) => {
      const text = field(offset, length).trim();
      const n = parseInt(text || '0', 8);
      if (!/^[0-7]*$/.test(text) || !Number.isSafeInteger(n)) damaged(at, 'a bad number field');
      return n;
    };
    const stored = number(148, 8);
    const sum = h.reduce((a, b, i) => a + (i >= 148 && i < 156 ? 0x20 : b), 0);
    if (sum !== stored) damaged(at, 'a bad header checksum');
    const size = number(124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    const data = at + BLOCK;
    if (data + size > bytes.length) damaged(at, `an entry of ${size} bytes past the end`);
    const next = data + Math.ceil(size / BLOCK) * BLOCK;
    const magic = field(257, 6);
    let path = longName ?? (magic === 'ustar' && field(345, 155) ? `${field(345, 155)}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    if (type === 'L') {
      longName = decoder.decode(bytes.subarray(data, data + size)).replace(/\0+$/, '');
    } else if (type !== 'x' && type !== 'g') {
      path = clean(path, at);
      if (type === '5') {
        if (path !== '') out.push({ path, directory: true });
      } else if (type === '0' || type === '7') {
        out.push({ path, bytes: bytes.slice(data, data + size) });
      } else {
        damaged(at, `an entry of type '${type}' (${path}): a database holds only files and directories`);
      }
    }
    at = next;
  }
  damaged(at, 'no end-of-archive blocks (the file is cut short)');
}

function clean(path, at) {
  const parts = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') damaged(at, `the path ${path} leaves the archive`);
    parts.push(p);
  }
  if (path.startsWith('/')) damaged(at, `the path ${path} is absolute`);
  return parts.join('/');
}

function damaged(offset, what) {
  throw new VelesError('corrupted', `the database archive is damaged at offset ${offset}: ${what}`);
}
