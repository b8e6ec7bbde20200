// The same photo gives the same bean (embedding and traits) natively (`beanscan embed --traits`,
// built by `cargo test --release`) and in the browser's CPU path (the wasm module in headless Chromium).
// Two comparisons of like with like: (1) the same JPEG decoded by the same Rust decoder natively
// and in wasm (`embed(bytes)`); (2) the page's own path, pixels decoded by the browser
// (createImageBitmap → canvas → `embedPixels`), against native decoding of the same lossless PNG,
// where both decoders must give identical pixels. Browser vs Rust decoding of a JPEG differs by
// the decoders' rounding: that difference is printed, not asserted.
// Run: node --test tests/e2e/   (after ./build.sh build and a native release build)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const site = resolve(process.env.BEANSCAN_WWW ?? join(repo, 'www'));
const data = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'greencoffee');
const targetDir = resolve(repo, process.env.CARGO_TARGET_DIR ?? 'target');
const cli = join(targetDir, 'release', 'beanscan');
const PHOTOS = ['r1/Black/001U.jpg', 'r2/Normal/001U.jpg', 'r1/Insect-damaged/002D.jpg'];

let server;
let browser;
let origin;

before(async () => {
  let url;
  ({ child: server, url } = await startServer(site));
  origin = new URL(url).origin;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
});

test('browser CPU embeddings equal native ones (max |diff| <= 1e-3)', { timeout: 300_000 }, async () => {
  const paths = PHOTOS.map((p) => join(data, p));
  const native = execFileSync(cli, ['embed', '--traits', ...paths], { encoding: 'utf8' })
    .trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(native.length, PHOTOS.length);

  const page = await browser.newPage();
  await page.goto(origin + '/');
  const photos = await Promise.all(paths.map(async (p) => [...await readFile(p)]));
  const browserEmbeddings = await page.evaluate(async (photos) => {
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    const c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
    const out = [];
    for (const bytes of photos) out.push([...await c.embed(new Uint8Array(bytes))]);
    return out;
  }, photos);

  for (let i = 0; i < PHOTOS.length; i++) {
    // The bean: the embedding, then its 17 traits, read from the same crop on both sides.
    assert.equal(browserEmbeddings[i].length, native[i].length);
    const maxDiff = Math.max(...native[i].map((v, j) => Math.abs(v - browserEmbeddings[i][j])));
    assert.ok(maxDiff <= 1e-3, `${PHOTOS[i]}: max |diff| ${maxDiff}`);
  }
});

const maxDiff = (a, b) => Math.max(...a.map((v, j) => Math.abs(v - b[j])));

test('browser-decoded pixels embed like native decoding of the same lossless PNG (max |diff| <= 1e-3)', { timeout: 300_000 }, async (t) => {
  const page = await browser.newPage();
  await page.goto(origin + '/');
  const photos = await Promise.all(PHOTOS.map(async (p) => [...await readFile(join(data, p))]));
  const out = await page.evaluate(async (photos) => {
    // The worker's decoding path (worker.js: createImageBitmap → OffscreenCanvas → RGBA).
    const decode = async (blob) => {
      const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0);
      const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      return { rgba: new Uint8Array(data.buffer), width: bitmap.width, height: bitmap.height };
    };
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    const c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
    const result = [];
    for (const bytes of photos) {
      const jpeg = new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' });
      const fromJpeg = await decode(jpeg);
      // The browser's pixels of the JPEG, stored losslessly, so native code can read the same pixels.
      const canvas = new OffscreenCanvas(fromJpeg.width, fromJpeg.height);
      canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(fromJpeg.rgba), fromJpeg.width), 0, 0);
      const png = await canvas.convertToBlob({ type: 'image/png' });
      const fromPng = await decode(png);
      result.push({
        png: [...new Uint8Array(await png.arrayBuffer())],
        jpegPixels: [...await c.embedPixels(fromJpeg.rgba, fromJpeg.width, fromJpeg.height)],
        pngPixels: [...await c.embedPixels(fromPng.rgba, fromPng.width, fromPng.height)],
      });
    }
    return result;
  }, photos);

  const dir = await mkdtemp(join(tmpdir(), 'beanscan-png-'));
  const pngs = [];
  for (let i = 0; i < PHOTOS.length; i++) {
    pngs.push(join(dir, `${i}.png`));
    await writeFile(pngs[i], Buffer.from(out[i].png));
  }
  const nativePng = execFileSync(cli, ['embed', '--traits', ...pngs], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
  const nativeJpeg = execFileSync(cli, ['embed', '--traits', ...PHOTOS.map((p) => join(data, p))], { encoding: 'utf8' })
    .trim().split('\n').map((l) => JSON.parse(l));
  for (let i = 0; i < PHOTOS.length; i++) {
    assert.equal(out[i].pngPixels.length, nativePng[i].length, 'the bean: embedding and traits');
    const same = maxDiff(nativePng[i], out[i].pngPixels);
    const decoders = maxDiff(nativeJpeg[i], out[i].jpegPixels);
    t.diagnostic(`${PHOTOS[i]}: browser pixels vs native, same PNG: ${same.toExponential(2)}; browser vs Rust JPEG decoding: ${decoders.toExponential(2)}`);
    assert.ok(same <= 1e-3, `${PHOTOS[i]}: max |diff| ${same}`);
  }
  await page.close();
});
