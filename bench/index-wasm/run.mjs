// Runs a wasm32-wasip1 program under node's WASI with one folder mapped to /data.
//   node bench/index-wasm/run.mjs PROGRAM.wasm DIR [ARGS…]
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [wasmPath, dir, ...args] = process.argv.slice(2);
if (!wasmPath || !dir) {
  console.error('usage: node run.mjs PROGRAM.wasm DIR [ARGS…]');
  process.exit(2);
}
const wasi = new WASI({ version: 'preview1', args: ['index', ...args], env: {}, preopens: { '/data': dir }, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
