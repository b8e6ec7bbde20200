// Milliseconds per bean in the browser's CPU path (headless Chromium, the built module), for the
// built-in bundle and any bundle files given: median over real greencoffee photos of
// `classifier.embed(photo bytes)` (decode + crop + model), after warm-up runs.
//   ./build.sh build && node bench/bean-ms.mjs [--photos 12] [--reps 3] [BUNDLE.beanscan ...]
// Prints one JSON line per bundle. Not a test; not in CI.
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return Number(v);
};
const N = opt('photos', 12);
const REPS = opt('reps', 3);
const bundles = [null, ...argv.map((p) => resolve(p))];
const data = join(root, '../shared/data/greencoffee');
const photos = ['r1/Normal', 'r2/Broken', 'r2/Black', 'r1/Sour']
  .flatMap((d) => readdirSync(join(data, d)).sort().slice(0, Math.ceil(N / 4)).map((f) => join(data, d, f)))
  .slice(0, N)
  .map((p) => readFileSync(p).toString('base64'));

const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  for (const bundle of bundles) {
    const page = await browser.newPage();
    await page.goto(url);
    const bytes = bundle ? readFileSync(bundle).toString('base64') : null;
    const r = await page.evaluate(async ({ photos, bytes, reps }) => {
      const { default: init, Classifier } = await import('./pkg/beanscan.js');
      await init();
      const c = await Classifier.create({ backend: 'cpu' });
      const b64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
      if (bytes) c.loadBundle(b64(bytes));
      const files = photos.map(b64);
      for (const f of files.slice(0, 2)) await c.embed(f);
      const times = [];
      for (let rep = 0; rep < reps; rep++) {
        for (const f of files) {
          const t = performance.now();
          await c.embed(f);
          times.push(performance.now() - t);
        }
      }
      times.sort((a, b) => a - b);
      return { bundle: c.bundleVersion, photos: files.length, runs: times.length, median_ms: times[times.length >> 1], min_ms: times[0], max_ms: times[times.length - 1] };
    }, { photos, bytes, reps: REPS });
    console.log(JSON.stringify({ file: bundle ? basename(bundle) : 'built-in', ...r }));
    await page.close();
  }
} finally {
  await browser.close();
  child.kill();
}
