// The same photo gives the same embedding natively (the `beanscan embed` CLI, built by
// `cargo test --release`) and in the browser's CPU path (the wasm module in headless Chromium).
// Run: node --test tests/e2e/   (after ./build.sh build and a native release build)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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
  const native = execFileSync(cli, ['embed', ...paths], { encoding: 'utf8' })
    .trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(native.length, PHOTOS.length);

  const page = await browser.newPage();
  await page.goto(origin + '/');
  const photos = await Promise.all(paths.map(async (p) => [...await readFile(p)]));
  const browserEmbeddings = await page.evaluate(async (photos) => {
    const { default: init, Classifier } = await import('./pkg/beanscan.js');
    await init();
    const c = await Classifier.create({ backend: 'cpu' });
    const out = [];
    for (const bytes of photos) out.push([...await c.embed(new Uint8Array(bytes))]);
    return out;
  }, photos);

  for (let i = 0; i < PHOTOS.length; i++) {
    assert.equal(browserEmbeddings[i].length, native[i].length);
    const maxDiff = Math.max(...native[i].map((v, j) => Math.abs(v - browserEmbeddings[i][j])));
    assert.ok(maxDiff <= 1e-3, `${PHOTOS[i]}: max |diff| ${maxDiff}`);
  }
});
