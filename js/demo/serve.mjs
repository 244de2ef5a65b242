// A static file server for the demo page, the browser tests and the browser benchmark.
//
//   node js/demo/serve.mjs [PORT]     # then open http://127.0.0.1:PORT/js/demo/
//
// It serves the repository (the page loads js/ and host/demo/minilm-demo.bin from it) with the
// MIME types a module Worker and WebAssembly need, on loopback only.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css',
};

/**
 * Serves `mounts` ({url prefix: directory}) on 127.0.0.1:`port` (0: any free port).
 * Resolves to `{origin, close()}`.
 */
export function serve(mounts, port = 0) {
  const roots = Object.entries(mounts).sort(([a], [b]) => b.length - a.length);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const [prefix, dir] = roots.find(([p]) => path.startsWith(p)) ?? [];
    let file = dir && normalize(join(dir, path.slice(prefix.length)));
    if (!file || (file !== resolve(dir) && !file.startsWith(resolve(dir) + sep))) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok({
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
  })));
}

export const repository = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { origin } = await serve({ '/': repository }, Number(process.argv[2] ?? 8080));
  console.log(`${origin}/js/demo/`);
}
