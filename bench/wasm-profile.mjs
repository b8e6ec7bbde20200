// Where a bean's time goes inside the wasm module, in headless Chromium's CPU path: V8's sampling
// profiler (Chrome DevTools Protocol) over `classifier.embed(photo bytes)` on real greencoffee
// photos, self time summed per wasm function and per kind of work (depthwise and pointwise
// convolutions, decoding, resizing, memory), from the module's function names.
//   node bench/wasm-profile.mjs --pkg DIR [--photos 8] [--reps 5] [--views 1] [--top 25] [--json OUT]
// DIR: a build of the CPU-only module that kept its function names. `./build.sh build` strips
// them; after it, the last module cargo built is the CPU-only one, so:
//   wasm-bindgen --target web --out-dir /tmp/prof-pkg $CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/beanscan.wasm
//   tests/e2e/node_modules/.bin/wasm-opt -O3 -g --enable-simd --enable-bulk-memory \
//     --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
//     /tmp/prof-pkg/beanscan_bg.wasm -o /tmp/prof-pkg/beanscan_bg.wasm
// (`-g` keeps the names; the code is otherwise optimised as shipped). Not a test; not in CI.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';
import { benchPhotos } from './photos.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? dflt : argv[i + 1];
};
const pkg = arg('pkg', null);
if (!pkg) {
  console.error('usage: node bench/wasm-profile.mjs --pkg DIR [--photos 8] [--reps 5] [--views 1] [--top 25] [--json OUT]');
  process.exit(2);
}
const N = Number(arg('photos', 8));
const REPS = Number(arg('reps', 5));
const VIEWS = Number(arg('views', 1));
const TOP = Number(arg('top', 25));
const out = arg('json', null);

// Kinds of work, first match wins, from (demangled) Rust names in the module.
const KINDS = [
  ['depthwise convolution (ours, small planes)', /beanscan::depthwise/],
  ['convolution, im2col/unfold', /im2col|unfold|col2im/i],
  ['matrix multiply (gemm: pointwise and dense convolutions)', /gemm|matmul|microkernel|kernel_\d|pack/i],
  ['convolution, other', /conv/i],
  ['photo decoding', /jpeg|zune|png|inflate|decoder|huffman|idct|upsampl/i],
  ['crop and resize', /resize|crop|preprocess|sample|filter/i],
  ['element-wise (activations, add, clamp, scale)', /clamp|relu|binary|unary|add|mul|elementwise|map|zip/i],
  ['memory (alloc, copy, fill)', /memcpy|memmove|memset|alloc|dealloc|realloc|copy|clone|fill/i],
];
const kindOf = (name) => (KINDS.find(([, re]) => re.test(name)) ?? ['other'])[0];

const photos = benchPhotos(root, N);

const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.route('**/pkg-profile/*', (route) => {
    const file = join(resolve(pkg), basename(new URL(route.request().url()).pathname));
    route.fulfill({ body: readFileSync(file), contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
  });
  await page.goto(url);
  await page.evaluate(async ({ views }) => {
    const { default: init, Classifier } = await import('./pkg-profile/beanscan.js');
    await init();
    const bundle = new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer());
    window.classifier = await Classifier.create({ backend: 'cpu', bundle });
    window.classifier.setViews(views);
  }, { views: VIEWS });
  const run = (reps) => page.evaluate(async ({ photos, reps }) => {
    const files = photos.map((s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0)));
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) for (const f of files) await window.classifier.embed(f);
    return (performance.now() - t0) / (reps * files.length);
  }, { photos, reps });
  await run(1); // warm-up: compilation tiers, first allocations

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 }); // µs
  await cdp.send('Profiler.start');
  const msPerBean = await run(REPS);
  const { profile } = await cdp.send('Profiler.stop');

  // Self time per function: samples whose leaf is that node.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const hits = new Map();
  const dt = profile.timeDeltas ?? [];
  profile.samples.forEach((id, i) => hits.set(id, (hits.get(id) ?? 0) + (dt[i + 1] ?? dt[i] ?? 0)));
  const perFunction = new Map();
  let total = 0;
  for (const [id, us] of hits) {
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    if (/^\((idle|program|garbage collector)\)$/.test(name)) continue;
    perFunction.set(name, (perFunction.get(name) ?? 0) + us);
    total += us;
  }
  const perKind = new Map();
  for (const [name, us] of perFunction) perKind.set(kindOf(name), (perKind.get(kindOf(name)) ?? 0) + us);
  const share = (us) => Math.round((1000 * us) / total) / 10;
  const kinds = [...perKind].sort((a, b) => b[1] - a[1]).map(([kind, us]) => ({ kind, percent: share(us), ms_per_bean: us / 1000 / (REPS * N) }));
  const functions = [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP)
    .map(([name, us]) => ({ name, kind: kindOf(name), percent: share(us) }));
  const report = { pkg: resolve(pkg), photos: N, reps: REPS, views: VIEWS, ms_per_bean: msPerBean, sampled_ms: total / 1000, kinds, functions };

  console.log(`${msPerBean.toFixed(1)} ms per bean (${N} photos × ${REPS}, ${VIEWS} view${VIEWS === 1 ? '' : 's'}); self time by kind:`);
  for (const k of kinds) console.log(`  ${String(k.percent).padStart(5)} %  ${k.ms_per_bean.toFixed(2).padStart(6)} ms  ${k.kind}`);
  console.log(`top ${TOP} functions:`);
  for (const f of functions) console.log(`  ${String(f.percent).padStart(5)} %  ${f.name.slice(0, 140)}`);
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
} finally {
  await browser.close();
  child.kill();
}
