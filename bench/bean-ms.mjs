// Milliseconds per bean in the browser's CPU path (headless Chromium, the built module), for the
// built-in bundle and any bundle files given: median over real greencoffee photos of
// `classifier.embed(photo bytes)` (decode + crop + model), after warm-up runs.
//   ./build.sh build && node bench/bean-ms.mjs [--photos 12] [--reps 3] [--views 1,8] [--pkg DIR ...] [BUNDLE.beanscan ...]
// `--views` times each of these view counts per photo (`setViews`; default: the bundle's).
// `--pkg DIR` (repeatable) also times another build of the module (a copy of www/pkg/ made
// before a change, say), in the same browser run, so before and after share the machine's load.
// Prints one JSON line per module and bundle. Not a test; not in CI.
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';
import { benchPhotos } from './photos.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return Number(v);
};
const viewsAt = argv.indexOf('--views');
const viewCounts = viewsAt < 0 ? [null] : argv.splice(viewsAt, 2)[1].split(',').map(Number);
const pkgs = [];
for (let i; (i = argv.indexOf('--pkg')) >= 0;) pkgs.push(resolve(argv.splice(i, 2)[1]));
const N = opt('photos', 12);
const REPS = opt('reps', 3);
const bundles = [null, ...argv.map((p) => resolve(p))];
const photos = benchPhotos(root, N);

const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  const modules = [['www/pkg', null], ...pkgs.map((dir, n) => [dir, n])];
  for (const [moduleName, alt] of modules) for (const bundle of bundles) for (const views of viewCounts) {
    const page = await browser.newPage();
    // Another build of the module: served under pkg-alt/N/ from its folder.
    if (alt !== null) {
      await page.route(`**/pkg-alt/${alt}/*`, (route) => {
        const file = join(moduleName, basename(new URL(route.request().url()).pathname));
        route.fulfill({ body: readFileSync(file), contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
      });
    }
    await page.goto(url);
    const bytes = bundle ? readFileSync(bundle).toString('base64') : null;
    const modulePath = alt === null ? './pkg/cpu/beanscan.js' : `./pkg-alt/${alt}/beanscan.js`;
    const r = await page.evaluate(async ({ photos, bytes, reps, modulePath, views }) => {
      const { default: init, Classifier } = await import(modulePath);
      await init();
      const c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
      const b64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
      if (bytes) c.loadBundle(b64(bytes));
      if (views !== null) c.setViews(views);
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
      return { bundle: c.bundleVersion, views: c.views, photos: files.length, runs: times.length, median_ms: times[times.length >> 1], min_ms: times[0], max_ms: times[times.length - 1] };
    }, { photos, bytes, reps: REPS, modulePath, views });
    console.log(JSON.stringify({ module: moduleName, file: bundle ? basename(bundle) : 'built-in', ...r }));
    await page.close();
  }
} finally {
  await browser.close();
  child.kill();
}
