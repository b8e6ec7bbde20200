// Measures what decoding in the browser (the page's path: createImageBitmap → canvas → RGBA)
// changes against decoding in the module (the image crate, the decoder the bundle's reference
// embeddings were made with): embedding difference, label agreement and accuracy of both paths,
// on an evenly spread sample of greencoffee validation photos. Not a test: it prints figures.
//   node tests/e2e/compare-decoders.mjs [N=200]     (after ./build.sh build)
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const site = resolve(process.env.BEANSCAN_WWW ?? join(repo, 'www'));
const data = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'greencoffee');
const n = Number(process.argv[2] ?? 200);

const [header, ...lines] = (await readFile(join(data, 'manifest.csv'), 'utf8')).trim().split(/\r?\n/);
const cols = header.split(',');
const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])))
  .filter((r) => r.split === 'val' && r.label_applies === '1');
const sample = Array.from({ length: Math.min(n, rows.length) }, (_, i) => rows[Math.floor(i * rows.length / Math.min(n, rows.length))]);

const { child, url } = await startServer(site);
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.evaluate(async () => {
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    window.c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
  });
  const results = [];
  for (const row of sample) {
    const bytes = [...await readFile(join(data, row.path))];
    results.push({ truth: row.label, ...await page.evaluate(async (bytes) => {
      const photo = new Uint8Array(bytes);
      const bitmap = await createImageBitmap(new Blob([photo]), { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0);
      const rgba = new Uint8Array(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data.buffer);
      const wasm = await window.c.classify(photo);
      const browser = await window.c.classifyPixels(rgba, bitmap.width, bitmap.height);
      const diff = Math.max(...wasm.embedding.map((v, i) => Math.abs(v - browser.embedding[i])));
      return { wasm: wasm.label, browser: browser.label, diff };
    }, bytes) });
  }
  const share = (f) => (results.filter(f).length / results.length).toFixed(3);
  const diffs = results.map((r) => r.diff).sort((a, b) => a - b);
  console.log(`${results.length} validation photos, k and threshold of the bundle`);
  console.log(`embedding max |diff| per photo: median ${diffs[diffs.length >> 1].toExponential(2)}, max ${diffs.at(-1).toExponential(2)}`);
  console.log(`same label on both paths: ${share((r) => r.wasm === r.browser)}`);
  console.log(`accuracy: module decoder ${share((r) => r.wasm === r.truth)}, browser decoder ${share((r) => r.browser === r.truth)}`);
  console.log(`Normal-vs-defect agreement: ${share((r) => (r.wasm === 'Normal') === (r.browser === 'Normal'))}`);
} finally {
  await browser.close();
  child.kill();
}
