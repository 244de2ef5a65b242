// Builds the package's bindings: `jco transpile` of the Veles component, twice.
//
//   node build.mjs [COMPONENT_WASM]
//
// - dist/: for Node, with @bytecodealliance/preview2-shim's Node implementation of WASI.
// - dist-browser/: for a browser's Worker, with no bare imports (a page loads it from any
//   static server, no bundler): wasi:filesystem is src/browser/wasi-fs.js (OPFS), and the
//   rest of WASI (cli, clocks, io, random) the shim's browser modules, copied to
//   dist-browser/shim/.
//
// COMPONENT_WASM defaults to $VELES_WASM, else the component host/build.rs builds
// (target/veles-component/wasm32-wasip2/component/veles.wasm, the `component` profile:
// optimised, no debug info). The core `.wasm` in both is that same component's core module.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wasm = resolve(process.argv[2] ?? process.env.VELES_WASM ??
  join(here, '../target/veles-component/wasm32-wasip2/component/veles.wasm'));
if (!existsSync(wasm)) {
  console.error(`no component at ${wasm}: build it with \`cargo build -p veles-host\` or pass its path`);
  process.exit(2);
}
const jco = join(here, 'node_modules/@bytecodealliance/jco/dist/jco.js');
const transpile = (out, ...options) => {
  rmSync(out, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [jco, 'transpile', wasm, '--name', 'veles', '--quiet', '-o', out, ...options],
    { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

transpile(join(here, 'dist'));

const browser = join(here, 'dist-browser');
const SHIM = ['cli', 'clocks', 'io', 'random'];
transpile(browser, '--no-nodejs-compat', '--no-typescript',
  '--map', 'wasi:filesystem/*=../src/browser/wasi-fs.js#*',
  ...SHIM.flatMap((m) => ['--map', `wasi:${m}/*=./shim/${m}.js#*`]));
const shim = join(here, 'node_modules/@bytecodealliance/preview2-shim/dist/browser');
mkdirSync(join(browser, 'shim'));
// The shim's browser modules these import, and what they import in turn.
for (const m of [...SHIM, 'common', 'config', 'environment']) {
  copyFileSync(join(shim, `${m}.js`), join(browser, 'shim', `${m}.js`));
}
