// Where a tray's time goes in the browser (CPU path, headless Chromium): bean finding alone
// (findBeansPixels); the tray in the pool's steps (begin: find + cut out; embed; finish: label +
// sum up); the whole tray (classifyTrayPixels, twice); and one 64×64 embed (mean of 20).
//   ./build.sh build && node bench/tray-breakdown.mjs [TRAY.jpg]
// Prints one JSON line, times in ms. The photo is used at its own size (no upscaling).
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const photo = resolve(process.argv[2] ?? join(root, '../shared/data/trays/Normal/20210212_144153.jpg'));
const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.route('**/bench-tray.jpg', (r) => r.fulfill({ body: readFileSync(photo), contentType: 'image/jpeg' }));
  await page.goto(url);
  const r = await page.evaluate(async () => {
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    const c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
    const bmp = await createImageBitmap(await (await fetch('bench-tray.jpg')).blob());
    const cv = new OffscreenCanvas(bmp.width, bmp.height);
    cv.getContext('2d').drawImage(bmp, 0, 0);
    const rgba = new Uint8Array(cv.getContext('2d').getImageData(0, 0, bmp.width, bmp.height).data.buffer);
    const out = {};
    let t = performance.now(); const found = c.findBeansPixels(rgba, bmp.width, bmp.height); out.detect = performance.now() - t; out.n = found.length;
    // The same tray in the steps the page's worker pool uses: find + cut out, embed, label + sum up.
    t = performance.now(); const job = c.beginTrayPixels(rgba, bmp.width, bmp.height); const inputs = job.takeInputs(); out.begin = performance.now() - t;
    t = performance.now(); const embeddings = await c.embedInputs(inputs); out.embed = performance.now() - t;
    t = performance.now(); c.finishTray(job, embeddings); out.finish = performance.now() - t;
    job.free();
    t = performance.now(); await c.classifyTrayPixels(rgba, bmp.width, bmp.height); out.full1 = performance.now() - t;
    t = performance.now(); await c.classifyTrayPixels(rgba, bmp.width, bmp.height); out.full2 = performance.now() - t;
    const small = new OffscreenCanvas(64, 64); small.getContext('2d').drawImage(bmp, 100, 100, 40, 40, 0, 0, 64, 64);
    const px = new Uint8Array(small.getContext('2d').getImageData(0, 0, 64, 64).data.buffer);
    t = performance.now(); for (let i = 0; i < 20; i++) await c.embedPixels(px, 64, 64); out.embed1 = (performance.now() - t) / 20;
    return out;
  });
  console.log(JSON.stringify(r));
} finally { await browser.close(); child.kill(); }
