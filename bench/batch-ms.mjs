// Milliseconds per bean of the model alone in the browser's CPU path (headless Chromium, the
// built module), by batch size: `embedInputs` on 64 deterministic inputs, sent 1, 4, 8, 16 or 32
// at a time (the module embeds at most 32 per model call). Shows which batch size the tray path
// should use in wasm.
//   ./build.sh build && node bench/batch-ms.mjs [--reps 3]
// Prints one JSON line per batch size. Not a test; not in CI.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--reps');
const reps = at > 0 ? Number(process.argv[at + 1]) : 3;
const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(url);
  const rows = await page.evaluate(async (reps) => {
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    const c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
    const per = 3 * 128 * 128;
    const n = 64;
    const inputs = Float32Array.from({ length: n * per }, (_, i) => ((i * 7919) % 1000) / 500 - 1);
    await c.embedInputs(inputs.slice(0, per));
    const out = [];
    for (const batch of [1, 4, 8, 16, 32]) {
      const times = [];
      for (let r = 0; r < reps; r++) {
        const t = performance.now();
        for (let i = 0; i < n; i += batch) await c.embedInputs(inputs.slice(i * per, (i + batch) * per));
        times.push((performance.now() - t) / n);
      }
      times.sort((a, b) => a - b);
      out.push({ batch, beans: n, runs: reps, median_ms_per_bean: times[reps >> 1] });
    }
    return out;
  }, reps);
  for (const r of rows) console.log(JSON.stringify(r));
} finally {
  await browser.close();
  child.kill();
}
