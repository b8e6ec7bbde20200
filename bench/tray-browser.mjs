// A 12-megapixel tray photo through beanscan in headless Chromium, CPU path.
//   ./build.sh build && node bench/tray-browser.mjs [TRAY.jpg] [RUNS]
// The photo (default: a real tray photo from ../shared/data/trays) is upscaled in the page to a
// long side of 4000 px (2988×4000 ≈ 12 MP) and re-encoded as JPEG q0.9, so the test input is a
// phone-sized file. Two paths are timed, each end to end (decode → find beans → embed → label):
//   wasm decode:    classifyTray(jpeg bytes)            (the image crate inside the module)
//   browser decode: createImageBitmap → OffscreenCanvas → classifyTrayPixels(rgba)
//   page:           the page itself in tray mode (?backend=cpu): the photo dropped on the drop
//                   zone until its tray is drawn (worker, browser decode, outlines, counts)
// Prints the median of RUNS (default 3) after one warm-up run.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const photo = resolve(process.argv[2] ?? join(root, '../shared/data/trays/Normal/20210212_144153.jpg'));
const runs = Number(process.argv[3] ?? 3);
if (!existsSync(join(root, 'www/pkg/beanscan_bg.wasm'))) {
  console.error('www/pkg is missing: run ./build.sh build first');
  process.exit(2);
}
if (!existsSync(photo)) {
  console.error(`no tray photo at ${photo}: pass one as the first argument`);
  process.exit(2);
}

const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.route('**/bench-tray.jpg', (r) => r.fulfill({ body: readFileSync(photo), contentType: 'image/jpeg' }));
  await page.goto(url);
  const result = await page.evaluate(async (runs) => {
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    const classifier = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
    const small = await createImageBitmap(await (await fetch('bench-tray.jpg')).blob());
    const scale = 4000 / Math.max(small.width, small.height);
    const canvas = new OffscreenCanvas(Math.round(small.width * scale), Math.round(small.height * scale));
    canvas.getContext('2d').drawImage(small, 0, 0, canvas.width, canvas.height);
    const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    const bytes = new Uint8Array(await jpeg.arrayBuffer());

    const viaWasm = async () => (await classifier.classifyTray(bytes)).beans.length;
    const viaBrowser = async () => {
      const bitmap = await createImageBitmap(jpeg, { imageOrientation: 'from-image' });
      const c = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = c.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0);
      const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      bitmap.close();
      return (await classifier.classifyTrayPixels(new Uint8Array(data.buffer), c.width, c.height)).beans.length;
    };
    const time = async (f) => {
      await f();
      const ms = [];
      let beans = 0;
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        beans = await f();
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      return { median: ms[Math.floor(ms.length / 2)], all: ms, beans };
    };
    return {
      width: canvas.width, height: canvas.height, jpegBytes: bytes.length,
      wasm: await time(viaWasm), browser: await time(viaBrowser),
    };
  }, runs);
  result.page = await timePage(browser, url, runs);
  const mp = (result.width * result.height / 1e6).toFixed(1);
  console.log(`tray photo ${result.width}×${result.height} (${mp} MP, ${result.jpegBytes} bytes JPEG), CPU backend, ${runs} runs after a warm-up`);
  for (const [name, r] of [['wasm decode', result.wasm], ['browser decode', result.browser], ['page', result.page]]) {
    console.log(`  ${name.padEnd(15)} median ${(r.median / 1000).toFixed(2)} s  (runs: ${r.all.map((v) => (v / 1000).toFixed(2)).join(', ')} s)  ${r.beans} beans`);
  }
} finally {
  await browser.close();
  child.kill();
}

/** The page's tray flow: drop the same 12 MP JPEG on the drop zone, read the card's drop-to-drawn time. */
async function timePage(browser, url, runs) {
  const page = await browser.newPage({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 2.6 });
  await page.route('**/bench-tray.jpg', (r) => r.fulfill({ body: readFileSync(photo), contentType: 'image/jpeg' }));
  await page.goto(`${url}?backend=cpu&sw=0`);
  await page.waitForFunction(() => document.getElementById('status').dataset.state !== 'loading', null, { timeout: 180_000 });
  await page.locator('label[for="mode-tray"]').click();
  const drop = async () => {
    const n = await page.evaluate(async () => {
      const small = await createImageBitmap(await (await fetch('bench-tray.jpg')).blob());
      const scale = 4000 / Math.max(small.width, small.height);
      const canvas = new OffscreenCanvas(Math.round(small.width * scale), Math.round(small.height * scale));
      canvas.getContext('2d').drawImage(small, 0, 0, canvas.width, canvas.height);
      const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
      const dt = new DataTransfer();
      dt.items.add(new File([jpeg], 'tray-12mp.jpg', { type: 'image/jpeg' }));
      const zone = document.getElementById('drop');
      for (const type of ['dragenter', 'dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      return document.querySelectorAll('[data-testid="tray"]').length;
    });
    await page.waitForFunction((n) => {
      const cards = [...document.querySelectorAll('[data-testid="tray"]')];
      return cards.length === n && cards.every((c) => c.dataset.state !== 'pending');
    }, n, { timeout: 600_000 });
    const card = page.locator('[data-testid="tray"]').first();
    if ((await card.getAttribute('data-state')) !== 'done') throw new Error(await card.textContent());
    return { ms: 1000 * Number(await card.getAttribute('data-seconds')), beans: Number(await card.getAttribute('data-beans')) };
  };
  await drop();
  const all = [];
  let beans = 0;
  for (let i = 0; i < runs; i++) {
    const r = await drop();
    all.push(r.ms);
    beans = r.beans;
  }
  all.sort((a, b) => a - b);
  await page.close();
  return { median: all[Math.floor(all.length / 2)], all, beans };
}
