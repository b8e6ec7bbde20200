// Page weight: every asset a first visit loads (recorded in headless Chromium), raw, gzip -9 and
// brotli (quality 11); the wasm module before and after wasm-opt; the bundle's parts and its
// size with f32 instead of the shipped 8-bit weights. Not a test; not in CI.
//
//   ./build.sh build && (cd bench && npm install)
//   node bench/page-weight.mjs [--json bench/results/page-weight.json]
//
// Env: CHROMIUM (default /usr/bin/chromium), CARGO_TARGET_DIR as for ./build.sh,
//      BEANSCAN_MODEL_BENCH (the built benches/model.rs binary, instead of `cargo bench`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const WWW = join(repo, 'www');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const argv = process.argv.slice(2);
const JSON_OUT = resolve(repo, argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : 'bench/results/page-weight.json');
const TARGET = resolve(repo, process.env.CARGO_TARGET_DIR
  ?? (existsSync(join(homedir(), '.cache/beanscan-target')) ? join(homedir(), '.cache/beanscan-target') : 'target'));
const CARGO_WASM = join(TARGET, 'wasm32-unknown-unknown/wasm-release/beanscan.wasm');

function need(ok, what, fix) {
  if (!ok) {
    console.error(`error: ${what} is missing: ${fix}`);
    process.exit(2);
  }
}
need(existsSync(join(WWW, 'pkg/beanscan_bg.wasm')), 'www/pkg (the wasm module)', 'run ./build.sh build');
need(existsSync(join(here, 'node_modules/playwright-core')), 'bench/node_modules/playwright-core', 'run (cd bench && npm install)');
need(existsSync(CHROMIUM), `Chromium (${CHROMIUM})`, 'run ./build.sh setup, or set CHROMIUM');
need(existsSync(CARGO_WASM), `the cargo output ${CARGO_WASM}`, 'run ./build.sh build (with the same CARGO_TARGET_DIR)');
const { chromium } = createRequire(import.meta.url)('playwright-core');

/** benches/model.rs: the binary named by $BEANSCAN_MODEL_BENCH, else through cargo. */
function modelBench() {
  if (process.env.BEANSCAN_MODEL_BENCH) return [process.env.BEANSCAN_MODEL_BENCH, []];
  console.error('  (cargo bench --bench model: builds it if needed and may wait for the target folder lock)');
  return ['cargo', ['bench', '--quiet', '--bench', 'model', '--']];
}
const sizes = (bytes) => ({
  raw: bytes.length,
  gzip: gzipSync(bytes, { level: 9 }).length,
  brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }).length,
});
const n = (v) => (v === undefined ? '–' : v.toLocaleString('en-US'));

// ---------- what a first visit loads ----------

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = resolve(join(WWW, path.endsWith('/') ? `${path}index.html` : path));
  if (!file.startsWith(WWW + sep) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return; }
  res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;
const TMP = tmpdir();
const scratch = mkdtempSync(join(TMP, 'beanscan-chromium-'));
process.env.TMPDIR = scratch; // Chromium leaves profile folders there
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const loaded = new Set();
try {
  const context = await browser.newContext();
  context.on('request', (r) => { if (r.url().startsWith(origin)) loaded.add(new URL(r.url()).pathname); });
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]')?.dataset.state !== 'loading', null, { timeout: 180_000 });
  const state = await page.getByTestId('status').getAttribute('data-state');
  if (state !== 'ready') throw new Error(`the page did not get ready: ${await page.getByTestId('status').textContent()}`);
} finally {
  await browser.close();
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}

const assets = [...loaded].sort().map((path) => {
  const file = join(WWW, path.endsWith('/') ? `${path}index.html` : path);
  return { path, ...sizes(readFileSync(file)) };
});
const total = assets.reduce((t, a) => ({ raw: t.raw + a.raw, gzip: t.gzip + a.gzip, brotli: t.brotli + a.brotli }), { raw: 0, gzip: 0, brotli: 0 });

// ---------- the wasm module before wasm-opt, and what its code is made of ----------

const work = mkdtempSync(join(TMP, 'beanscan-weight-'));
const shippedWasm = join(WWW, 'pkg/beanscan_bg.wasm');
let preOpt;
let cargoWasm;
let twiggy;
if (statSync(CARGO_WASM).mtimeMs > statSync(shippedWasm).mtimeMs) {
  // The target folder is shared: its output may come from a later build of other sources.
  console.error(`note: ${CARGO_WASM} is newer than www/pkg; rerun ./build.sh build for the before-wasm-opt rows`);
} else {
  cargoWasm = sizes(readFileSync(CARGO_WASM));
  try {
    execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', work, CARGO_WASM], { stdio: ['ignore', 'ignore', 'inherit'] });
    preOpt = sizes(readFileSync(join(work, 'beanscan_bg.wasm')));
  } catch (e) {
    console.error(`note: wasm-bindgen could not run (${e.message.split('\n')[0]}); no before-wasm-opt row`);
  }
  if (preOpt) {
    try {
      twiggy = execFileSync('twiggy', ['top', '-n', '20', join(work, 'beanscan_bg.wasm')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    } catch {
      console.error('note: twiggy not found (cargo install twiggy): no code-size breakdown');
    }
  }
}
const shipped = sizes(readFileSync(shippedWasm));

// ---------- the bundle's parts ----------

let bundle;
let bundleFiles = {};
try {
  const [cmd, pre] = modelBench();
  const out = execFileSync(cmd, [...pre, '--bundle-sizes', work], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  bundle = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop());
  bundleFiles = { shipped: sizes(readFileSync(join(work, 'default-shipped.beanscan'))), f32: sizes(readFileSync(join(work, 'default-f32.beanscan'))) };
} catch (e) {
  console.error(`error: cargo bench --bench model -- --bundle-sizes failed (${e.message.split('\n')[0]})`);
  process.exit(1);
} finally {
  rmSync(work, { recursive: true, force: true });
}

// ---------- report ----------

console.log(`First visit (${origin}/ until the status says ready), every request:\n`);
console.log('| asset | bytes | gzip -9 | brotli 11 |\n|---|---|---|---|');
for (const a of assets) console.log(`| \`${a.path}\` | ${n(a.raw)} | ${n(a.gzip)} | ${n(a.brotli)} |`);
console.log(`| **total** | ${n(total.raw)} | ${n(total.gzip)} | ${n(total.brotli)} |`);

console.log('\n| wasm module | bytes | gzip -9 | brotli 11 |\n|---|---|---|---|');
if (cargoWasm) console.log(`| cargo output | ${n(cargoWasm.raw)} | ${n(cargoWasm.gzip)} | ${n(cargoWasm.brotli)} |`);
if (preOpt) console.log(`| after wasm-bindgen, without wasm-opt | ${n(preOpt.raw)} | ${n(preOpt.gzip)} | ${n(preOpt.brotli)} |`);
console.log(`| after wasm-opt (shipped) | ${n(shipped.raw)} | ${n(shipped.gzip)} | ${n(shipped.brotli)} |`);

console.log(`\n| bundle (${bundle.references} references, ${bundle.dim}-d), embedded in the module | bytes | gzip -9 | brotli 11 |\n|---|---|---|---|`);
console.log(`| whole bundle, int8 weights (shipped) | ${n(bundleFiles.shipped.raw)} | ${n(bundleFiles.shipped.gzip)} | ${n(bundleFiles.shipped.brotli)} |`);
console.log(`| whole bundle, same weights as f32 | ${n(bundleFiles.f32.raw)} | ${n(bundleFiles.f32.gzip)} | ${n(bundleFiles.f32.brotli)} |`);
console.log(`| of the shipped bundle: weights (8-bit, postcard) | ${n(bundle.weights)} | | |`);
console.log(`| of the shipped bundle: HNSW graph, holding the embeddings (postcard) | ${n(bundle.graph_with_embeddings)} | | |`);
console.log(`| of the shipped bundle: reference ids and labels | ${n(bundle.references_ids_labels)} | | |`);
console.log(`| of the shipped bundle: description, class names, settings | ${n(bundle.description_classes_settings)} | | |`);
console.log(`| (weights as f32 burnpack) | ${n(bundle.weights_f32)} | | |`);
console.log(`| (embeddings alone, f32) | ${n(bundle.embeddings_f32_raw)} | | |`);

if (twiggy) console.log(`\ntwiggy top -n 20 of the wasm-bindgen output (before wasm-opt, names kept):\n\n${twiggy}`);

writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), assets, total, wasm: { cargo: cargoWasm, preOpt, shipped }, bundle, bundleFiles, twiggy }, null, 2));
console.error(`\nwrote ${JSON_OUT}`);
