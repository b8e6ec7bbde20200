// Page weight: every asset a first visit loads (recorded in headless Chromium), raw, gzip -9 and
// brotli (quality 11), for a device without a usable WebGPU adapter (the page loads the CPU-only
// module) and for one with WebGPU (emulated with SwiftShader and ?backend=webgpu: the WebGPU
// module); both modules; the CPU-only one before wasm-opt; the bundle's parts and its size with
// f32 instead of the shipped 8-bit weights. Not a test; not in CI.
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
need(existsSync(join(WWW, 'pkg/beanscan_bg.wasm')) && existsSync(join(WWW, 'pkg/cpu/beanscan_bg.wasm')), 'www/pkg (the wasm modules)', 'run ./build.sh build');
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

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json' };
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
const ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Every same-origin file one fresh visit loads until the status says ready (the service worker's too). */
async function firstVisit(extraArgs, query) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs] });
  const loaded = new Set();
  try {
    const context = await browser.newContext();
    context.on('request', (r) => { if (r.url().startsWith(origin)) loaded.add(new URL(r.url()).pathname); });
    const page = await context.newPage();
    await page.goto(`${origin}/${query}`);
    await page.waitForFunction(() => document.querySelector('[data-testid="status"]')?.dataset.state !== 'loading', null, { timeout: 300_000 });
    const status = page.getByTestId('status');
    if (await status.getAttribute('data-state') !== 'ready') throw new Error(`the page did not get ready: ${await status.textContent()}`);
    const backend = await status.getAttribute('data-backend');
    // Let the service worker finish what it fetches on install.
    await page.evaluate(() => navigator.serviceWorker?.ready);
    await page.waitForTimeout(2000);
    const assets = [...loaded].sort().map((path) => {
      const file = join(WWW, path.endsWith('/') ? `${path}index.html` : path);
      return { path, ...sizes(readFileSync(file)) };
    });
    const total = assets.reduce((t, a) => ({ raw: t.raw + a.raw, gzip: t.gzip + a.gzip, brotli: t.brotli + a.brotli }), { raw: 0, gzip: 0, brotli: 0 });
    return { backend, assets, total };
  } finally {
    await browser.close();
  }
}
let visits;
try {
  visits = {
    cpu: await firstVisit([], ''),
    webgpu: await firstVisit(['--enable-unsafe-webgpu'], '?backend=webgpu'),
  };
} finally {
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}

// ---------- the wasm module before wasm-opt, and what its code is made of ----------

const work = mkdtempSync(join(TMP, 'beanscan-weight-'));
// The cargo output is the last module ./build.sh builds: the CPU-only one.
const shippedWasm = join(WWW, 'pkg/cpu/beanscan_bg.wasm');
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
const shippedWebgpu = sizes(readFileSync(join(WWW, 'pkg/beanscan_bg.wasm')));

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

for (const [name, visit] of Object.entries(visits)) {
  const who = name === 'cpu' ? 'a device without a usable WebGPU adapter' : 'a device with WebGPU (?backend=webgpu on SwiftShader)';
  console.log(`\nFirst visit of ${who}: ${origin}/ until the status says ready (backend ${visit.backend}), every file once:\n`);
  console.log('| asset | bytes | gzip -9 | brotli 11 |\n|---|---|---|---|');
  for (const a of visit.assets) console.log(`| \`${a.path}\` | ${n(a.raw)} | ${n(a.gzip)} | ${n(a.brotli)} |`);
  console.log(`| **total** | ${n(visit.total.raw)} | ${n(visit.total.gzip)} | ${n(visit.total.brotli)} |`);
}

console.log('\n| wasm module | bytes | gzip -9 | brotli 11 |\n|---|---|---|---|');
if (cargoWasm) console.log(`| CPU-only: cargo output | ${n(cargoWasm.raw)} | ${n(cargoWasm.gzip)} | ${n(cargoWasm.brotli)} |`);
if (preOpt) console.log(`| CPU-only: after wasm-bindgen, without wasm-opt | ${n(preOpt.raw)} | ${n(preOpt.gzip)} | ${n(preOpt.brotli)} |`);
console.log(`| CPU-only, after wasm-opt (\`pkg/cpu/\`, shipped) | ${n(shipped.raw)} | ${n(shipped.gzip)} | ${n(shipped.brotli)} |`);
console.log(`| WebGPU + CPU, after wasm-opt (\`pkg/\`, shipped) | ${n(shippedWebgpu.raw)} | ${n(shippedWebgpu.gzip)} | ${n(shippedWebgpu.brotli)} |`);

console.log(`\n| bundle (${bundle.references} references, ${bundle.dim}-d), \`pkg/default.beanscan\` | bytes | gzip -9 | brotli 11 |\n|---|---|---|---|`);
console.log(`| whole bundle, int8 weights (shipped) | ${n(bundleFiles.shipped.raw)} | ${n(bundleFiles.shipped.gzip)} | ${n(bundleFiles.shipped.brotli)} |`);
console.log(`| whole bundle, same weights as f32 | ${n(bundleFiles.f32.raw)} | ${n(bundleFiles.f32.gzip)} | ${n(bundleFiles.f32.brotli)} |`);
console.log(`| of the shipped bundle: weights (8-bit, postcard) | ${n(bundle.weights)} | | |`);
console.log(`| of the shipped bundle: HNSW graph, holding the embeddings (postcard) | ${n(bundle.graph_with_embeddings)} | | |`);
console.log(`| of the shipped bundle: reference ids and labels | ${n(bundle.references_ids_labels)} | | |`);
console.log(`| of the shipped bundle: description, class names, settings | ${n(bundle.description_classes_settings)} | | |`);
console.log(`| (weights as f32 burnpack) | ${n(bundle.weights_f32)} | | |`);
console.log(`| (embeddings alone, f32) | ${n(bundle.embeddings_f32_raw)} | | |`);

if (twiggy) console.log(`\ntwiggy top -n 20 of the wasm-bindgen output (before wasm-opt, names kept):\n\n${twiggy}`);

writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), visits, wasm: { cargo: cargoWasm, preOpt, shipped, shippedWebgpu }, bundle, bundleFiles, twiggy }, null, 2));
console.error(`\nwrote ${JSON_OUT}`);
