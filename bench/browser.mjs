// Browser benchmarks of the beanscan page, in headless Chromium (not a test; not in CI).
//
//   ./build.sh build && python3 bench/peers.py --export-only && (cd bench && npm install)
//   node bench/browser.mjs [--photos 8] [--reps 20] [--warmup 3] [--gpu-photos 3] [--gpu-reps 5] [--loads 5]
//                          [--views 1] [--no-webgpu] [--onnx FILE] [--json bench/results/browser.json]
//   (WebGPU here is SwiftShader, seconds per run: the WebGPU rows use fewer photos and runs;
//   --no-webgpu leaves them out)
//
// 1. One photo's embedding, per-photo median ms over the same real photos, in one page:
//    beanscan CPU (flex) and WebGPU (SwiftShader here) through the wasm API `embed`, and
//    onnxruntime-web (wasm EP, 1 thread, and webgpu EP) running the ONNX twin of the same encoder
//    (bench/peers.py) on exactly the tensor beanscan's preprocessing makes of each photo
//    (written natively by `cargo bench --bench model -- --photos … --write-inputs`).
//    beanscan's API takes photo bytes, so its row includes decoding; its "64 px PNG" row feeds a
//    64×64 PNG of the photo, whose decode is next to nothing, as the model-only figure.
//    onnxruntime also gets a row with the browser decoding and resizing the photo (canvas).
//    This part runs with V8's --no-liftoff, so neither module is timed while still tiering up.
//    beanscan embeds each photo with --views passes (default 1, the same work as one onnxruntime
//    run; the bundle's default for single-bean photos is 8). onnxruntime-web's wasm EP also runs
//    with every core (navigator.hardwareConcurrency threads; the bench pages are served
//    cross-origin isolated, which its threads need) in a second page.
// 2. Navigation → first label on the real page (www/), one photo dropped as soon as the page
//    exists; and per-photo wasm CPU vs native CPU embed time (same bundle, same photos).
// Env: CHROMIUM (default /usr/bin/chromium), BEANSCAN_MODEL_BENCH (the built benches/model.rs
//      binary, instead of `cargo bench --bench model`), BEANSCAN_DATA (folder holding greencoffee/, default
//      ../shared/data beside the repo), CARGO_TARGET_DIR as for cargo.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');

// ---------- options and prerequisites ----------

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const N_PHOTOS = Number(opt('photos', 8));
const REPS = Number(opt('reps', 20));
const WARMUP = Number(opt('warmup', 3));
const LOADS = Number(opt('loads', 5));
const GPU_PHOTOS = Number(opt('gpu-photos', 3));
const GPU_REPS = Number(opt('gpu-reps', 5));
const VIEWS = Number(opt('views', 1));
const WEBGPU = !argv.includes('--no-webgpu');
const JSON_OUT = resolve(repo, opt('json', 'bench/results/browser.json'));
const ONNX = resolve(repo, opt('onnx', 'bench/results/embedder.onnx'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const DATA = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'greencoffee');
const WWW = join(repo, 'www');
const ORT_DIST = join(here, 'node_modules/onnxruntime-web/dist');

function need(ok, what, fix) {
  if (!ok) {
    console.error(`error: ${what} is missing: ${fix}`);
    process.exit(2);
  }
}
need(existsSync(join(WWW, 'pkg/beanscan.js')) && existsSync(join(WWW, 'pkg/beanscan_bg.wasm')),
  'www/pkg (the wasm module)', 'run ./build.sh build');
need(existsSync(join(here, 'node_modules/playwright-core')) && existsSync(ORT_DIST),
  'bench/node_modules (playwright-core, onnxruntime-web)', 'run (cd bench && npm install)');
need(existsSync(CHROMIUM), `Chromium (${CHROMIUM})`, 'run ./build.sh setup, or set CHROMIUM');
need(existsSync(ONNX), `the ONNX twin of the encoder (${ONNX})`, 'run python3 bench/peers.py --export-only');
need(existsSync(join(DATA, 'manifest.csv')), `the photos (${DATA}/manifest.csv)`, 'set BEANSCAN_DATA to the folder holding greencoffee/');

const { chromium } = createRequire(import.meta.url)('playwright-core');
const ortVersion = JSON.parse(readFileSync(join(here, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version;

/** Validation photos, half from each collection round (they differ in size and background). */
function pickPhotos(n) {
  const [header, ...lines] = readFileSync(join(DATA, 'manifest.csv'), 'utf8').trim().split(/\r?\n/);
  const cols = header.split(',');
  const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])))
    .filter((r) => r.split === 'val');
  const r1 = rows.filter((r) => r.round === 'r1');
  const r2 = rows.filter((r) => r.round !== 'r1');
  const picked = [];
  for (let i = 0; picked.length < n && (i < r1.length || i < r2.length); i++) {
    // Spread over the list so several classes come in.
    for (const list of [r1, r2]) {
      const row = list[Math.floor((i * list.length) / n)];
      if (row && picked.length < n && !picked.includes(row)) picked.push(row);
    }
  }
  return picked.map((r) => join(DATA, r.path));
}

/** benches/model.rs: the binary named by $BEANSCAN_MODEL_BENCH, else through cargo. */
function modelBench() {
  if (process.env.BEANSCAN_MODEL_BENCH) return [process.env.BEANSCAN_MODEL_BENCH, []];
  console.error('  (cargo bench --bench model: builds it if needed and may wait for the target folder lock)');
  return ['cargo', ['bench', '--quiet', '--bench', 'model', '--']];
}
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const fmt = (v, d = 2) => (v === undefined || v === null || Number.isNaN(v) ? '–' : v.toFixed(d));

// ---------- native side: model inputs and native embed times ----------

function nativePhotos(photos, threads, inputsDir) {
  const args = ['--reps', String(REPS), '--views', String(VIEWS), '--photos', ...photos];
  if (inputsDir) args.push('--write-inputs', inputsDir);
  const [cmd, pre] = modelBench();
  let out;
  try {
    out = execFileSync(cmd, [...pre, ...args], { cwd: repo, encoding: 'utf8', env: { ...process.env, RAYON_NUM_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (e) {
    console.error(`error: cargo bench --bench model failed (${e.message.split('\n')[0]})`);
    process.exit(1);
  }
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

// ---------- static server: www/ at /, onnxruntime-web at /ort/, bench files at /bench/ ----------

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.f32': 'application/octet-stream', '.jpg': 'image/jpeg' };

function serve(routes) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = null;
    if (routes.exact[path]) file = routes.exact[path];
    for (const [prefix, root] of routes.dirs) {
      if (file || !path.startsWith(prefix)) continue;
      const f = resolve(join(root, path.slice(prefix.length) || 'index.html'));
      if (f.startsWith(resolve(root) + sep) && existsSync(f)) file = f;
    }
    if (!file) { res.writeHead(404).end('not found'); return; }
    const body = typeof file === 'string' ? readFileSync(file) : file.body;
    const type = typeof file === 'string' ? MIME[extname(file)] ?? 'application/octet-stream' : file.type;
    // Cross-origin isolated, so onnxruntime-web may start its worker threads.
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store',
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }).end(body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, origin: `http://127.0.0.1:${server.address().port}` })));
}

// ---------- in-page measurements ----------

/** Runs in the bench page: every engine on every photo, warm-up runs excluded. */
async function measureInPage({ n, reps, warmup, gpuPhotos, gpuReps, views, webgpu, ortThreads }) {
  const get = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const photos = await Promise.all([...Array(n).keys()].map((i) => get(`/bench/photo/${i}.jpg`)));
  const inputs = await Promise.all([...Array(n).keys()].map(async (i) => new Float32Array((await get(`/bench/input/${i}.f32`)).buffer)));
  const SIZE = Math.round(Math.sqrt(inputs[0].length / 3));

  // A SIZE×SIZE PNG of each photo: beanscan's model-only proxy (decoding it costs next to nothing).
  const smallPngs = await Promise.all(photos.map(async (bytes) => {
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const canvas = new OffscreenCanvas(SIZE, SIZE);
    canvas.getContext('2d').drawImage(bmp, 0, 0, SIZE, SIZE);
    return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
  }));

  // The browser's own decode + square crop + resize + normalise, for the "decode on both sides" row.
  const MEAN = [0.45, 0.42, 0.38];
  const STD = [0.25, 0.24, 0.23];
  const canvasInput = async (bytes) => {
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const side = Math.min(bmp.width, bmp.height);
    const canvas = new OffscreenCanvas(SIZE, SIZE);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, SIZE, SIZE);
    const px = ctx.getImageData(0, 0, SIZE, SIZE).data;
    const out = new Float32Array(3 * SIZE * SIZE);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < SIZE * SIZE; i++) out[c * SIZE * SIZE + i] = (px[i * 4 + c] / 255 - MEAN[c]) / STD[c];
    }
    bmp.close();
    return out;
  };

  // The browser runs with --no-liftoff (wasm compiled optimised up front, no tier-up midway
  // through the timings); each CPU engine still runs WARM_MS on the first photo before timing.
  const WARM_MS = 2000;
  const perPhoto = async (fn, gpu) => {
    if (!gpu) {
      const until = performance.now() + WARM_MS;
      while (performance.now() < until) await fn(0);
    }
    const medians = [];
    for (let i = 0; i < (gpu ? Math.min(gpuPhotos, n) : n); i++) {
      for (let w = 0; w < (gpu ? 1 : warmup); w++) await fn(i);
      const t = [];
      for (let r = 0; r < (gpu ? gpuReps : reps); r++) {
        const t0 = performance.now();
        await fn(i);
        t.push(performance.now() - t0);
      }
      t.sort((a, b) => a - b);
      medians.push(t[Math.floor(t.length / 2)]);
    }
    return medians;
  };
  const results = {};
  const errors = {};
  const attempt = async (name, setup) => {
    try {
      results[name] = await setup();
    } catch (e) {
      errors[name] = String(e?.message ?? e);
    }
  };

  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
  const gpuInfo = adapter ? { fallback: adapter.isFallbackAdapter ?? adapter.info?.isFallbackAdapter, vendor: adapter.info?.vendor, architecture: adapter.info?.architecture, description: adapter.info?.description } : null;

  const bundle = new Uint8Array(await (await fetch('/pkg/default.beanscan')).arrayBuffer());
  // ortThreads > 1: this page times onnxruntime-web's wasm EP alone, with that many threads.
  for (const backend of ortThreads > 1 ? [] : webgpu ? ['cpu', 'webgpu'] : ['cpu']) {
    await attempt(`beanscan ${backend}`, async () => {
      // The module the page loads for each: WebGPU + CPU, or the CPU-only one.
      const beanscan = await import(backend === 'cpu' ? '/pkg/cpu/beanscan.js' : '/pkg/beanscan.js');
      await beanscan.default();
      const c = await beanscan.Classifier.create({ backend, bundle });
      if (c.backend !== backend) throw new Error(`asked for ${backend}, got ${c.backend}`);
      c.setViews(views);
      const photo = await perPhoto((i) => c.embed(photos[i]), backend === 'webgpu');
      const small = await perPhoto((i) => c.embed(smallPngs[i]), backend === 'webgpu');
      // The page's own path: the browser decodes (as www/worker.js does), the module crops and embeds.
      const pixels = await perPhoto(async (i) => {
        const bmp = await createImageBitmap(new Blob([photos[i]], { type: 'image/jpeg' }),
          { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
        const ctx = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d', { willReadFrequently: true });
        ctx.drawImage(bmp, 0, 0);
        const img = ctx.getImageData(0, 0, bmp.width, bmp.height);
        bmp.close();
        return c.embedPixels(new Uint8Array(img.data.buffer), img.width, img.height);
      }, backend === 'webgpu');
      c.free();
      return { photo, small, pixels };
    });
  }

  const ort = await import('/ort/ort.all.bundle.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = ortThreads; // 1: as beanscan's wasm, which runs on one thread
  if (ortThreads > 1 && !crossOriginIsolated) throw new Error('onnxruntime-web threads need a cross-origin isolated page');
  for (const ep of webgpu && ortThreads === 1 ? ['wasm', 'webgpu'] : ['wasm']) {
    await attempt(`ort ${ep}`, async () => {
      const session = await ort.InferenceSession.create('/bench/model.onnx', { executionProviders: [ep] });
      const used = session.handler?._ep ?? ep;
      const run = async (x) => {
        const out = await session.run({ input: new ort.Tensor('float32', x, [1, 3, SIZE, SIZE]) });
        return out.embedding.getData ? await out.embedding.getData() : out.embedding.data;
      };
      const small = await perPhoto((i) => run(inputs[i]), ep === 'webgpu');
      const photo = await perPhoto(async (i) => run(await canvasInput(photos[i])), ep === 'webgpu');
      await session.release();
      return { small, photo, used };
    });
  }
  return { results, errors, gpuInfo, size: SIZE, userAgent: navigator.userAgent, cores: navigator.hardwareConcurrency };
}

// ---------- navigation → first label on the real page ----------

async function firstLabel(browser, origin, photo) {
  const b64 = readFileSync(photo).toString('base64');
  const runs = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext(); // fresh: no cache, no compiled-module reuse
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(`${origin}/`, { waitUntil: 'commit' });
    const zone = page.getByTestId('dropzone');
    await zone.waitFor({ state: 'attached' });
    // The zone is in the HTML before the page's module has run and listens for drops; a drop in
    // between is lost (rarely, the run then waited for a label in vain). DOMContentLoaded comes
    // after module scripts have run, and main.js has no top-level await before its listeners.
    await page.waitForLoadState('domcontentloaded');
    const dataTransfer = await page.evaluateHandle((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'bean.jpg', { type: 'image/jpeg' }));
      return dt;
    }, b64);
    const dropped = Date.now() - t0;
    for (const type of ['dragenter', 'dragover', 'drop']) await zone.dispatchEvent(type, { dataTransfer });
    const readyAt = page.waitForFunction(() => document.querySelector('[data-testid="status"]')?.dataset.state !== 'loading', null, { timeout: 180_000 })
      .then(() => Date.now() - t0);
    await page.waitForSelector('[data-testid="result"], [data-testid="result-error"]', { timeout: 180_000 });
    const label = Date.now() - t0;
    const ready = await readyAt;
    const error = await page.$('[data-testid="result-error"]');
    if (error) throw new Error(`the page could not label ${photo}: ${await error.textContent()}`);
    runs.push({ dropped, ready, label });
    await context.close();
  }
  return runs;
}

// ---------- main ----------

const photos = pickPhotos(N_PHOTOS);
need(photos.length === N_PHOTOS, `${N_PHOTOS} validation photos`, 'use a smaller --photos');
console.error(`photos: ${photos.length} from ${DATA}; ${WARMUP} warm-up + ${REPS} timed runs each`);

const inputsDir = mkdtempSync(join(tmpdir(), 'beanscan-bench-'));
console.error('native: cargo bench --bench model -- --photos … (1 thread, then 2)');
const native1 = nativePhotos(photos, 1, inputsDir);
const native2 = nativePhotos(photos, 2, null);

const exact = { '/bench/model.onnx': ONNX, '/bench/page.html': { type: 'text/html', body: '<!doctype html><link rel="icon" href="data:,"><title>bench</title>' } };
photos.forEach((p, i) => {
  exact[`/bench/photo/${i}.jpg`] = p;
  exact[`/bench/input/${i}.f32`] = join(inputsDir, `${i}.f32`);
});
const { server, origin } = await serve({ exact, dirs: [['/ort/', ORT_DIST], ['/', WWW]] });
const scratch = mkdtempSync(join(tmpdir(), 'beanscan-chromium-'));
process.env.TMPDIR = scratch;
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'];
let inPage;
let loads;
let browser;
try {
  // Engine timings: V8 without its baseline wasm compiler, so both sides run optimised code
  // from the first call (otherwise a module can still be tiering up during the timed runs).
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, '--js-flags=--no-liftoff'] });
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`  [page] ${m.text().slice(0, 300)}`); });
  await page.goto(`${origin}/bench/page.html`);
  console.error('in-page: beanscan cpu, beanscan webgpu, onnxruntime-web wasm, onnxruntime-web webgpu …');
  const params = { n: photos.length, reps: REPS, warmup: WARMUP, gpuPhotos: GPU_PHOTOS, gpuReps: GPU_REPS, views: VIEWS, webgpu: WEBGPU };
  inPage = await page.evaluate(measureInPage, { ...params, ortThreads: 1 });
  await page.close();
  const mtPage = await browser.newPage();
  await mtPage.goto(`${origin}/bench/page.html`);
  console.error('in-page: onnxruntime-web wasm, every core …');
  const mt = await mtPage.evaluate(() => navigator.hardwareConcurrency);
  const threaded = await mtPage.evaluate(measureInPage, { ...params, ortThreads: mt });
  if (threaded.results['ort wasm']) inPage.results['ort wasm mt'] = threaded.results['ort wasm'];
  for (const [name, why] of Object.entries(threaded.errors)) inPage.errors[`${name} (${mt} threads)`] = why;
  await browser.close();
  // Page loads: the browser as users have it.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  console.error(`page loads: ${LOADS} × navigation → first label …`);
  loads = await firstLabel(browser, origin, photos[0]);
} finally {
  await browser?.close();
  server.close();
  rmSync(inputsDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
}

// ---------- report ----------

const R = inPage.results;
const med = (name, key) => (R[name] ? median(R[name][key]) : undefined);
const range = (name, key) => (R[name] ? `${fmt(Math.min(...R[name][key]))}–${fmt(Math.max(...R[name][key]))}` : '–');
const rows = [
  [`beanscan CPU (flex), embed(photo): decode + preprocess + model × ${VIEWS} view(s)`, 'beanscan cpu', 'photo'],
  [`beanscan CPU (flex), embed(${inPage.size} px PNG): model + tiny decode`, 'beanscan cpu', 'small'],
  ['beanscan CPU (flex), browser decode + embedPixels (the page\'s path)', 'beanscan cpu', 'pixels'],
  ['beanscan WebGPU, embed(photo)', 'beanscan webgpu', 'photo'],
  [`beanscan WebGPU, embed(${inPage.size} px PNG)`, 'beanscan webgpu', 'small'],
  ['onnxruntime-web wasm EP (1 thread), run on beanscan\'s input tensor', 'ort wasm', 'small'],
  ['onnxruntime-web wasm EP (1 thread), canvas decode + resize + run', 'ort wasm', 'photo'],
  [`onnxruntime-web wasm EP (${inPage.cores} threads), run on beanscan's input tensor`, 'ort wasm mt', 'small'],
  [`onnxruntime-web wasm EP (${inPage.cores} threads), canvas decode + resize + run`, 'ort wasm mt', 'photo'],
  ['onnxruntime-web webgpu EP, run on beanscan\'s input tensor', 'ort webgpu', 'small'],
  ['onnxruntime-web webgpu EP, canvas decode + resize + run', 'ort webgpu', 'photo'],
];
const gpu = inPage.gpuInfo ? `${inPage.gpuInfo.vendor ?? '?'} ${inPage.gpuInfo.architecture ?? ''} (fallback adapter: ${inPage.gpuInfo.fallback})` : 'no adapter';
console.log(`\n${inPage.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'Chromium'} headless; WebGPU adapter: ${gpu}; onnxruntime-web ${ortVersion}`);
console.log(`${photos.length} greencoffee val photos, ${inPage.size} px model input; V8 --no-liftoff (optimised wasm from the start), each CPU engine first runs 2 s on one photo, then per photo the median of ${REPS} runs after ${WARMUP} warm-up runs (WebGPU rows: first ${Math.min(GPU_PHOTOS, photos.length)} photos, ${GPU_REPS} runs after 1 warm-up); table: median over photos (range of per-photo medians)\n`);
console.log('| engine, what is timed | ms per photo (median) | per-photo range |\n|---|---|---|');
for (const [label, name, key] of rows) console.log(`| ${label} | ${fmt(med(name, key))} | ${range(name, key)} |`);
for (const [name, why] of Object.entries(inPage.errors)) console.log(`\n${name} could not run: ${why}`);

const ratio = (a, b) => (a && b ? `${fmt(a / b)}×` : '–');
console.log('\n| ratio beanscan ÷ onnxruntime-web | model only | incl. decode: module decoder | incl. decode: browser decoder (page path) |\n|---|---|---|---|');
console.log(`| CPU: beanscan flex ÷ ORT wasm EP (1 thread) | ${ratio(med('beanscan cpu', 'small'), med('ort wasm', 'small'))} | ${ratio(med('beanscan cpu', 'photo'), med('ort wasm', 'photo'))} | ${ratio(med('beanscan cpu', 'pixels'), med('ort wasm', 'photo'))} |`);
console.log(`| CPU: beanscan flex ÷ ORT wasm EP (${inPage.cores} threads) | ${ratio(med('beanscan cpu', 'small'), med('ort wasm mt', 'small'))} | ${ratio(med('beanscan cpu', 'photo'), med('ort wasm mt', 'photo'))} | ${ratio(med('beanscan cpu', 'pixels'), med('ort wasm mt', 'photo'))} |`);
console.log(`| GPU: beanscan WebGPU ÷ ORT webgpu EP | ${ratio(med('beanscan webgpu', 'small'), med('ort webgpu', 'small'))} | ${ratio(med('beanscan webgpu', 'photo'), med('ort webgpu', 'photo'))} | – |`);

const nat1 = median(native1.map((r) => r.embed_photo_ms));
const nat2 = median(native2.map((r) => r.embed_photo_ms));
const natPre = median(native1.map((r) => r.decode_preprocess_ms));
const wasmCpu = med('beanscan cpu', 'photo');
const perPhotoRatio = R['beanscan cpu'] ? median(R['beanscan cpu'].photo.map((w, i) => w / native1[i].embed_photo_ms)) : undefined;
console.log('\n| embed one photo (decode + preprocess + model), same bundle and photos | ms (median over photos) |\n|---|---|');
console.log(`| wasm CPU (flex) in Chromium, 1 thread | ${fmt(wasmCpu)} |`);
console.log(`| native CPU (flex), RAYON_NUM_THREADS=1 | ${fmt(nat1)} (of which decode + preprocess ${fmt(natPre)}) |`);
console.log(`| native CPU (flex), RAYON_NUM_THREADS=2 | ${fmt(nat2)} |`);
const natModel = median(native1.map((r) => r.embed_photo_ms - r.decode_preprocess_ms));
const wasmModel = med('beanscan cpu', 'small');
console.log(`| model part: wasm embed(${inPage.size} px PNG) vs native embed − decode/preprocess (1 thread) | ${fmt(wasmModel)} vs ${fmt(natModel)} (${wasmModel ? fmt(wasmModel / natModel) : '–'}×) |`);
console.log(`| decode + preprocess part: wasm embed(photo) − embed(${inPage.size} px PNG) vs native | ${wasmCpu ? fmt(wasmCpu - wasmModel) : '–'} vs ${fmt(natPre)} |`);
console.log(`| ratio wasm ÷ native (1 thread), median of per-photo ratios (goal ≤ 2×) | ${fmt(perPhotoRatio)}× |`);

const L = (k) => median(loads.map((r) => r[k]));
console.log(`\n| page load (default V8 flags, fresh context, ${LOADS} loads, medians) | ms |\n|---|---|`);
console.log(`| navigation → photo dropped (drop zone in the DOM, page script run) | ${L('dropped')} |`);
console.log(`| navigation → status "ready" (module compiled, bundle loaded) | ${L('ready')} |`);
console.log(`| navigation → first label shown | ${L('label')} |`);

writeFileSync(JSON_OUT, JSON.stringify({
  date: new Date().toISOString(), photos: photos.map((p) => p.slice(DATA.length + 1)), reps: REPS, warmup: WARMUP, views: VIEWS,
  onnxruntimeWeb: ortVersion, inPage, native: { threads1: native1, threads2: native2 }, loads,
}, null, 2));
console.error(`\nwrote ${JSON_OUT}`);
