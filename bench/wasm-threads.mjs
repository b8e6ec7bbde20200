// Every core two ways, in headless Chromium on the CPU path: the page's pool of single-threaded
// workers (one module instance each, work split by bean) against one worker running the wasm
// threads build (bench/wasm-threads.sh: rayon over Web Workers sharing one memory, the page
// cross-origin isolated). Both run the same calls, so only the parallelism differs:
//   one:   16 model inputs, one call each (one bean's wait; only threads can split it), from the
//          page, and the same 16 calls from inside the worker (one-in-worker);
//   embed: 64 model inputs (128 px, deterministic values) through embedInputs, in shares;
//   tray:  a 12 MP tray photo (a real one upscaled as bench/tray-browser.mjs does) through
//          beginTray (first worker) → embedInputs (a share of the beans per worker) → finishTray.
//   ./build.sh build && bench/wasm-threads.sh && node bench/wasm-threads.mjs [--reps 3] [--threads N] [--pkg DIR] [--tray JPG]
// Rows: pool of 1 and N workers (www/pkg/cpu), threads build with a rayon pool of 1 and N
// (N defaults to navigator.hardwareConcurrency). Prints one JSON line per row: the median of
// --reps after a warm-up. Not a test; not in CI.
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const reps = Number(arg('--reps', 3));
const threadsPkg = resolve(arg('--pkg', join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'beanscan-threads-pkg')));
const tray = resolve(arg('--tray', join(root, '../shared/data/trays/Normal/20210212_144153.jpg')));
for (const [path, what] of [[join(root, 'www/pkg/cpu/beanscan.js'), 'run ./build.sh build'], [join(threadsPkg, 'beanscan.js'), 'run bench/wasm-threads.sh'], [tray, 'pass --tray JPG']]) {
  if (!existsSync(path)) {
    console.error(`${path} is missing: ${what}`);
    process.exit(2);
  }
}

// The served site: the page's modules and bundle, the threads build, the photo, a worker.
const site = mkdtempSync(join(tmpdir(), 'beanscan-threads-'));
symlinkSync(join(root, 'www/pkg'), join(site, 'pkg'));
symlinkSync(threadsPkg, join(site, 'threads'));
symlinkSync(tray, join(site, 'tray.jpg'));
writeFileSync(join(site, 'index.html'), '<!doctype html><link rel="icon" href="data:,"><title>wasm threads bench</title>');
writeFileSync(join(site, 'bench-worker.js'), `
let c, job;
const ops = {
  async open(pkg, threads) {
    const mod = await import(pkg);
    await mod.default();
    if (threads) await mod.initThreadPool(threads);
    const bundle = new Uint8Array(await (await fetch('/pkg/default.beanscan')).arrayBuffer());
    c = await mod.Classifier.create({ backend: 'cpu', bundle });
    return { backend: c.backend, isolated: self.crossOriginIsolated };
  },
  embedInputs: (inputs) => c.embedInputs(inputs),
  async oneByOne(inputs, per) {
    for (let i = 0; i < inputs.length / per; i++) await c.embedInputs(inputs.subarray(i * per, (i + 1) * per));
    return inputs.length / per;
  },
  trayBegin(bytes) {
    job = c.beginTray(bytes);
    return { count: job.count, inputs: job.takeInputs() };
  },
  trayFinish(embeddings) {
    const beans = c.finishTray(job, embeddings).beans.length;
    job.free();
    return beans;
  },
};
onmessage = async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, value: await ops[op](...args) });
  } catch (e) {
    postMessage({ id, error: String(e?.stack ?? e) });
  }
};
`);

const { child, url } = await startServer(site, { SERVE_ISOLATED: '1' });
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(`page: ${m.text()}`));
  await page.goto(url);
  const rows = await page.evaluate(async ({ reps, threads }) => {
    if (!crossOriginIsolated) throw new Error('the page is not cross-origin isolated');
    const n = threads || navigator.hardwareConcurrency;
    const spawn = () => {
      const w = new Worker('/bench-worker.js', { type: 'module' });
      let next = 0;
      const waiting = new Map();
      w.onmessage = ({ data }) => {
        const { ok, fail } = waiting.get(data.id);
        waiting.delete(data.id);
        data.error === undefined ? ok(data.value) : fail(new Error(data.error));
      };
      w.onerror = (e) => waiting.forEach(({ fail }) => fail(new Error(e.message)));
      return { w, call: (op, ...args) => new Promise((ok, fail) => { waiting.set(++next, { ok, fail }); w.postMessage({ id: next, op, args }); }) };
    };
    const per = 3 * 128 * 128;
    const inputs = Float32Array.from({ length: 64 * per }, (_, i) => ((i * 7919) % 1000) / 500 - 1);
    // The tray photo as a phone would give it: long side 4000 px, JPEG q0.9.
    const small = await createImageBitmap(await (await fetch('/tray.jpg')).blob());
    const scale = 4000 / Math.max(small.width, small.height);
    const canvas = new OffscreenCanvas(Math.round(small.width * scale), Math.round(small.height * scale));
    canvas.getContext('2d').drawImage(small, 0, 0, canvas.width, canvas.height);
    const jpeg = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer());

    // `values` split by whole beans over the workers, embedded at once, joined in order.
    const shared = async (workers, values) => {
      const beans = values.length / per;
      const parts = workers.map((w, i) => {
        const from = Math.round((beans * i) / workers.length);
        const to = Math.round((beans * (i + 1)) / workers.length);
        // slice, not subarray: a view would send the whole buffer to every worker (as the page does).
        return w.call('embedInputs', values.slice(from * per, to * per));
      });
      const out = await Promise.all(parts);
      const joined = new Float32Array(out.reduce((s, e) => s + e.length, 0));
      out.reduce((at, e) => (joined.set(e, at), at + e.length), 0);
      return joined;
    };
    const jobs = {
      // One bean at a time (a single photo's wait): a pool cannot split it, threads can.
      one: async (workers) => {
        for (let i = 0; i < 16; i++) await workers[0].call('embedInputs', inputs.slice(i * per, (i + 1) * per));
        return 16;
      },
      // The same 16 calls made inside the worker: what the page↔worker round trip adds.
      'one-in-worker': (workers) => workers[0].call('oneByOne', inputs.slice(0, 16 * per), per),
      embed: async (workers) => (await shared(workers, inputs), 64),
      tray: async (workers) => {
        const begun = await workers[0].call('trayBegin', jpeg);
        return workers[0].call('trayFinish', await shared(workers, begun.inputs));
      },
    };
    const rows = [];
    const configs = [
      { name: 'pool', pkg: '/pkg/cpu/beanscan.js', workers: 1, threads: 0 },
      { name: 'pool', pkg: '/pkg/cpu/beanscan.js', workers: n, threads: 0 },
      { name: 'threads', pkg: '/threads/beanscan.js', workers: 1, threads: 1 },
      { name: 'threads', pkg: '/threads/beanscan.js', workers: 1, threads: n },
    ];
    for (const config of configs) {
      const workers = Array.from({ length: config.workers }, spawn);
      const opened = await Promise.all(workers.map((w) => w.call('open', config.pkg, config.threads)));
      for (const [job, run] of Object.entries(jobs)) {
        let beans = await run(workers);
        const ms = [];
        for (let r = 0; r < reps; r++) {
          const t = performance.now();
          beans = await run(workers);
          ms.push(performance.now() - t);
        }
        ms.sort((a, b) => a - b);
        const median = ms[ms.length >> 1];
        rows.push({ job, module: config.name, workers: config.workers, threads: config.threads || 1, beans, runs: reps,
          median_ms: Math.round(median), ms_per_bean: Number((median / beans).toFixed(2)), isolated: opened[0].isolated });
      }
      workers.forEach((w) => w.w.terminate());
    }
    return rows;
  }, { reps, threads: Number(arg('--threads', 0)) });
  for (const r of rows) console.log(JSON.stringify(r));
} finally {
  await browser.close();
  child.kill();
  rmSync(site, { recursive: true, force: true });
}
