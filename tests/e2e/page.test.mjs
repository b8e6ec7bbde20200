// End-to-end test of the beanscan page in headless Chromium with phone emulation.
// Run: node --test tests/e2e/   (after ./build.sh build; needs /usr/bin/chromium)
// Env: BEANSCAN_WWW  site folder to serve (default: www/ of this repo)
//      BEANSCAN_ODD_INPUTS folder written by `cargo run --release --example odd_inputs -- DIR`
//                    (default: generated into a temporary folder with that command)
//      BEANSCAN_DATA data folder holding greencoffee/ (default: ../shared/data beside the repo)
//      CHROMIUM      browser binary (default: /usr/bin/chromium)
// The tests share one browser context and run in order; the last one checks the
// requests made by the earlier ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { devices } from 'playwright-core';
import {
  LOAD_TIMEOUT, checkLabelled, classNamesOn, launchBrowser, pickPhotos as pick, settledCards, startServer, waitReady,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const site = resolve(process.env.BEANSCAN_WWW ?? join(repo, 'www'));
const data = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'greencoffee');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const TEST_TIMEOUT = 480_000;

let server;
let browser;
let context;
let origin;
const requests = [];  // every request any page or worker made
const problems = [];  // page errors and CSP violations

// ---------- helpers ----------

const pickPhotos = (labels) => pick(data, labels);

async function openPage() {
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  await page.goto(origin + '/');
  await waitReady(page);
  return page;
}

async function screenshot(page, t, name) {
  const path = join(tmpdir(), `beanscan-e2e-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  t.diagnostic(`screenshot: ${path}`);
}

// ---------- setup ----------

before(async () => {
  assert.ok(existsSync(join(site, 'pkg', 'beanscan.js')),
    `${site}/pkg/beanscan.js is missing: build the wasm module first (./build.sh build)`);
  assert.ok(existsSync(join(data, 'manifest.csv')), `bean photos not found at ${data}`);
  assert.ok(existsSync(browserPath), `${browserPath} is missing (./build.sh setup installs it)`);
  let url;
  ({ child: server, url } = await startServer(site));
  origin = new URL(url).origin;
  browser = await launchBrowser(browserPath);
  context = await browser.newContext({ ...devices['Pixel 7'] });
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method() }));
}, { timeout: 60_000 });

after(async () => {
  await browser?.close();
  server?.kill();
});

// ---------- tests ----------

test('three photos dropped on the drop zone each get a labelled card', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await openPage();
  const classNames = await classNamesOn(page);
  assert.ok(classNames.length >= 2, `class list on the page: ${classNames}`);
  const status = page.getByTestId('status');
  assert.equal(await status.getAttribute('data-backend'), 'cpu');
  const bundle = await status.getAttribute('data-bundle');
  assert.ok(bundle?.trim(), 'bundle version missing');
  // The status line in a grader's words; the bundle's description under Settings.
  assert.equal(await status.textContent(), `Ready · CPU · built-in model, ${classNames.length} kinds of bean`);
  assert.ok((await page.getByTestId('model-details').textContent()).includes(bundle), 'bundle version not shown');
  t.diagnostic(`status: ${await status.textContent()}`);

  const photos = await pickPhotos(['Normal', 'Black', 'Sour']);
  const files = await Promise.all(photos.map(async (p) => ({
    name: p.name, type: 'image/jpeg', b64: (await readFile(p.path)).toString('base64'),
  })));
  const dataTransfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) {
      const bytes = Uint8Array.from(atob(f.b64), (ch) => ch.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    return dt;
  }, files);
  const zone = page.getByTestId('dropzone');
  for (const type of ['dragenter', 'dragover', 'drop']) await zone.dispatchEvent(type, { dataTransfer });

  const cards = await settledCards(page, 3);
  assert.equal(cards.length, 3);
  assert.deepEqual(cards.map((c) => c.file).sort(), photos.map((p) => p.name).sort());
  for (const card of cards) {
    checkLabelled(card, classNames);
    const truth = photos.find((p) => p.name === card.file).label;
    t.diagnostic(`${card.file}: ${card.label} (${card.shownConfidence}, d=${card.distance.toFixed(3)}, truth ${truth})`);
  }
  assert.match(await page.getByTestId('progress-text').textContent(), /Checked 3 photos/);
  await screenshot(page, t, 'drop');
  await page.close();
});

test('a non-image file gets an error card and the rest of the batch still runs', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await openPage();
  const classNames = await classNamesOn(page);
  const photos = await pickPhotos(['Broken', 'Insect-damaged']);
  await page.getByTestId('picker').setInputFiles([
    { name: photos[0].name, mimeType: 'image/jpeg', buffer: await readFile(photos[0].path) },
    { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('Tray 4: 12 black beans, 3 sour.\n') },
    { name: photos[1].name, mimeType: 'image/jpeg', buffer: await readFile(photos[1].path) },
  ]);

  const cards = await settledCards(page, 3);
  assert.equal(cards.length, 3);
  const errors = cards.filter((c) => c.kind === 'result-error');
  assert.equal(errors.length, 1, JSON.stringify(cards));
  assert.equal(errors[0].file, 'notes.jpg');
  assert.ok(errors[0].error?.trim().length > 10, `error message: ${errors[0].error}`);
  t.diagnostic(`notes.jpg: ${errors[0].error}`);
  const labelled = cards.filter((c) => c.kind === 'result');
  assert.equal(labelled.length, 2);
  for (const card of labelled) checkLabelled(card, classNames);
  await screenshot(page, t, 'picker');
  await page.close();
});

/** The odd-input corpus folder (files + expect.json), generated when not given. */
function oddInputs() {
  let dir = process.env.BEANSCAN_ODD_INPUTS;
  if (!dir) {
    dir = join(tmpdir(), `beanscan-odd-inputs-${process.pid}`);
    execFileSync('cargo', ['run', '--quiet', '--release', '--example', 'odd_inputs', '--', dir], { cwd: repo, stdio: 'inherit' });
  }
  assert.ok(existsSync(join(dir, 'expect.json')), `${dir}/expect.json is missing`);
  return dir;
}

test('odd files in one batch: each labelled or refused with its own message', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = oddInputs();
  const expect = JSON.parse(await readFile(join(dir, 'expect.json'), 'utf8'));
  const page = await openPage();
  const classNames = await classNamesOn(page);
  await page.getByTestId('picker').setInputFiles(await Promise.all(expect.map(async (e) => ({
    name: e.file, mimeType: 'application/octet-stream', buffer: await readFile(join(dir, e.file)),
  }))));
  const cards = await settledCards(page, expect.length);
  assert.equal(cards.length, expect.length);
  const byFile = new Map(cards.map((c) => [c.file, c]));
  const reference = byFile.get('photo.png');
  checkLabelled(reference, classNames);
  for (const e of expect) {
    const card = byFile.get(e.file);
    assert.ok(card, `no card for ${e.file}`);
    t.diagnostic(`${e.file}: ${card.kind === 'result' ? `${card.label} d=${card.distance.toFixed(3)}` : card.error}`);
    if (e.expect === 'error') {
      assert.equal(card.kind, 'result-error', `${e.file} should be refused, got ${card.label}`);
      assert.ok(card.error.includes(e.message), `${e.file}: "${card.error}" should mention "${e.message}"`);
    } else {
      checkLabelled(card, classNames);
      if (e.expect === 'same') {
        assert.deepEqual([card.label, card.distance], [reference.label, reference.distance], e.file);
      }
    }
  }
  await screenshot(page, t, 'odd-inputs');
  await page.close();
});

test('a panic inside the module is reported on its card and the next photo still works', { timeout: TEST_TIMEOUT }, async (t) => {
  // A separate context served the test build of the module (`--features test-hooks`, built by
  // ./build.sh test into $BEANSCAN_TEST_PKG: the shipped ones have no panic export) in place of
  // whichever module the page picks, whose beanscan.js panics inside wasm on photos starting "CRASH".
  // No service worker here: it would fetch (and serve) the module past the routes below.
  const testPkg = process.env.BEANSCAN_TEST_PKG;
  assert.ok(testPkg, 'BEANSCAN_TEST_PKG (the test build of the module) is not set: run ./build.sh test');
  const crashContext = await browser.newContext({ ...devices['Pixel 7'], serviceWorkers: 'block' });
  await crashContext.route(/\/pkg\/(cpu\/)?beanscan_bg\.wasm$/, async (route) => {
    await route.fulfill({ contentType: 'application/wasm', body: await readFile(`${testPkg}/beanscan_bg.wasm`) });
  });
  await crashContext.route(/\/pkg\/(cpu\/)?beanscan\.js$/, async (route) => {
    const body = `${await readFile(`${testPkg}/beanscan.js`, 'utf8')}
// Both entry points that take photo bytes: the main worker classifies, a helper embeds.
for (const name of ['classify', 'embed']) {
  const forReal = Classifier.prototype[name];
  Classifier.prototype[name] = function (photo) {
    if (String.fromCharCode(...photo.slice(0, 5)) === 'CRASH') __panicForTesting('deliberate test panic');
    return forReal.call(this, photo);
  };
}
`;
    await route.fulfill({ contentType: 'text/javascript; charset=utf-8', body });
  });
  const page = await crashContext.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(origin + '/');
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]')?.dataset.state === 'ready', null, { timeout: LOAD_TIMEOUT });
  const classNames = await classNamesOn(page);
  const [photo] = await pickPhotos(['Normal']);
  await page.getByTestId('picker').setInputFiles([
    { name: 'crash.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('CRASH: not a photo either') },
    { name: photo.name, mimeType: 'image/jpeg', buffer: await readFile(photo.path) },
  ]);
  const cards = await settledCards(page, 2);
  const crashed = cards.find((c) => c.file === 'crash.jpg');
  t.diagnostic(`crash.jpg: ${crashed.error}`);
  assert.equal(crashed.kind, 'result-error');
  assert.match(crashed.error, /crashed on this file \(deliberate test panic\) and was restarted/);
  checkLabelled(cards.find((c) => c.file === photo.name), classNames);
  assert.equal(await page.getByTestId('status').getAttribute('data-state'), 'ready');
  assert.deepEqual(pageErrors, []);
  await crashContext.close();
});

test('the page only talks to its own origin and its CSP is enforced', { timeout: 60_000 }, async () => {
  assert.ok(requests.length > 0);
  const network = requests.filter((r) => !/^(blob|data):/.test(r.url));
  const foreign = network.filter((r) => new URL(r.url).origin !== origin);
  assert.deepEqual(foreign, [], 'requests to other origins');
  assert.deepEqual(network.filter((r) => r.method !== 'GET'), [], 'only GET requests (nothing uploaded)');
  // The worker's module and wasm fetches are seen too, so the check covers them.
  assert.ok(network.some((r) => /\/pkg\/(cpu\/)?beanscan_bg\.wasm$/.test(r.url)), 'wasm fetch was not observed');
  assert.deepEqual(problems, []);

  // The meta CSP is in force: an injected inline script is refused.
  const page = await context.newPage();
  await page.goto(origin + '/');
  const outcome = await page.evaluate(() => new Promise((done) => {
    document.addEventListener('securitypolicyviolation', (e) => done(`blocked by ${e.effectiveDirective}`), { once: true });
    const script = document.createElement('script');
    script.textContent = 'window.inlineScriptRan = true;';
    document.head.append(script);
    setTimeout(() => done(window.inlineScriptRan ? 'inline script ran' : 'no violation reported'), 3000);
  }));
  assert.equal(outcome, 'blocked by script-src-elem');
  await page.close();
});
