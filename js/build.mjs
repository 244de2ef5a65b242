// Builds the package's binding: `jco transpile` of the Veles component into dist/.
//
//   node build.mjs [COMPONENT_WASM]
//
// COMPONENT_WASM defaults to $VELES_WASM, else the component host/build.rs builds
// (target/veles-component/wasm32-wasip2/component/veles.wasm, the `component` profile:
// optimised, no debug info). The `.wasm` in dist/ is that same component's core module.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
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
const out = join(here, 'dist');
rmSync(out, { recursive: true, force: true });
const r = spawnSync(process.execPath, [jco, 'transpile', wasm, '--name', 'veles', '--quiet', '-o', out],
  { stdio: 'inherit' });
process.exit(r.status ?? 1);
