// A 12-megapixel tray photo through beanscan in headless Chromium, CPU path.
//   ./build.sh build && node bench/tray-browser.mjs [TRAY.jpg] [RUNS]
// The photo (default: a real tray photo from ../shared/data/trays) is upscaled in the page to a
// long side of 4000 px (2988×4000 ≈ 12 MP) and re-encoded as JPEG q0.9, so the test input is a
// phone-sized file. Two paths are timed, each end to end (decode → find beans → embed → label):
//   wasm decode:    classifyTray(jpeg bytes)            (the image crate inside the module)
//   browser decode: createImageBitmap → OffscreenCanvas → classifyTrayPixels(rgba)
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
    const { default: init, Classifier } = await import('./pkg/beanscan.js');
    await init();
    const classifier = await Classifier.create({ backend: 'cpu' });
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
  const mp = (result.width * result.height / 1e6).toFixed(1);
  console.log(`tray photo ${result.width}×${result.height} (${mp} MP, ${result.jpegBytes} bytes JPEG), CPU backend, ${runs} runs after a warm-up`);
  for (const [name, r] of [['wasm decode', result.wasm], ['browser decode', result.browser]]) {
    console.log(`  ${name.padEnd(15)} median ${(r.median / 1000).toFixed(2)} s  (runs: ${r.all.map((v) => (v / 1000).toFixed(2)).join(', ')} s)  ${r.beans} beans`);
  }
} finally {
  await browser.close();
  child.kill();
}
