// The page's tools beyond labelling, in headless Chromium on a phone viewport: reference beans
// kept across a reload, the k and threshold sliders (kept for the same bundle only), the summary and CSV export, the CPU path
// when the browser has no WebGPU, and offline use through the service worker.
// Run: node --test tests/e2e/   (after ./build.sh build; needs /usr/bin/chromium)
// Env: as page.test.mjs (BEANSCAN_WWW, BEANSCAN_DATA, CHROMIUM).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { devices } from 'playwright-core';
import {
  asFiles, cardsOn, checkLabelled, classNamesOn, launchBrowser, pickPhotos, settledCards, startServer, waitReady,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const site = resolve(process.env.BEANSCAN_WWW ?? join(repo, 'www'));
const data = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'greencoffee');
// Another camera (USK: white background, another light): single beans the bundle never saw.
const uskData = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'usk');
const USK_PHOTOS = ['defect/defect-120.jpg', 'defect/defect-1360.jpg', 'defect/defect-1449.jpg', 'defect/defect-1537.jpg',
  'defect/defect-188.jpg', 'longberry/longberry-1365.jpg'];
const TEST_TIMEOUT = 480_000;

let server;
let browser;
let origin;
const requests = []; // every request of every context below
const origins = new Set(); // the servers' own origins

before(async () => {
  let url;
  ({ child: server, url } = await startServer(site));
  origin = new URL(url).origin;
  origins.add(origin);
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close();
  server?.kill();
});

async function newContext(options = {}, b = browser) {
  const context = await b.newContext({ ...devices['Pixel 7'], ...options });
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method() }));
  return context;
}

async function open(context, url = origin + '/') {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) errors.push(msg.text());
  });
  await page.goto(url);
  await waitReady(page);
  return { page, errors };
}

/** Sets a range input the way a finger does: value, then an input event. */
async function slide(page, testid, value) {
  await page.getByTestId(testid).evaluate((input, v) => {
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

const settings = (page) => page.getByTestId('settings').evaluate((d) => { d.open = true; });

test('a corrected result becomes a reference that survives a reload and changes the vote', { timeout: TEST_TIMEOUT }, async (t) => {
  const context = await newContext();
  let { page, errors } = await open(context);
  const classNames = await classNamesOn(page);
  await settings(page);
  await slide(page, 'k', 1); // one neighbour votes: the nearest reference decides
  const [photo] = await pickPhotos(data, ['Sour']);
  await page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  const [before] = await settledCards(page, 1);
  checkLabelled(before, classNames);
  assert.equal(before.addedNeighbours, 0);
  const corrected = classNames.find((c) => c !== before.label);
  t.diagnostic(`${photo.name}: ${before.label} (d=${before.distance.toFixed(3)}), corrected to ${corrected}`);

  await page.getByTestId('correct-label').selectOption(corrected);
  assert.equal(await page.getByTestId('save-reference').textContent(), 'Correct');
  await page.getByTestId('save-reference').click();
  await page.getByTestId('saved-reference').waitFor();
  await page.waitForFunction((l) => document.querySelector('[data-testid="result"]')?.dataset.label === l, corrected);
  assert.equal(await page.getByTestId('reference-count').textContent(), '1');

  // Reload: the reference comes back from IndexedDB (and k = 1 from local storage).
  await page.close();
  ({ page, errors } = await open(context));
  await settings(page);
  assert.equal(await page.getByTestId('reference-count').textContent(), '1');
  assert.equal(await page.getByTestId('k-value').textContent(), '1');
  await page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  const [after] = await settledCards(page, 1);
  assert.equal(after.label, corrected, 'the stored reference decides the vote after a reload');
  assert.equal(after.addedNeighbours, 1);
  assert.ok(after.distance < 1e-3, `distance to its own reference ${after.distance}`);

  // Vote among my references only: the one reference labels every photo; unticked, the bundle's
  // references vote again. Left ticked: the choice is kept like the sliders (checked below).
  const box = page.getByTestId('added-only');
  const [other] = await pickPhotos(data, ['Black']);
  await page.getByTestId('picker').setInputFiles(await asFiles([other]));
  const otherBefore = (await settledCards(page, 2)).find((c) => c.file === other.name);
  checkLabelled(otherBefore, classNames);
  assert.ok(await box.isEnabled(), 'with a reference of one\'s own the box can be ticked');
  await box.check();
  const allLabelled = (l) => [...document.querySelectorAll('[data-testid="result"]')].every((c) => c.dataset.label === l);
  await page.waitForFunction(allLabelled, corrected);
  for (const card of await cardsOn(page)) assert.equal(card.addedNeighbours, card.neighbours, `${card.file}: only added references vote`);
  await box.uncheck();
  await page.waitForFunction(([f, l]) => document.querySelector(`[data-testid="result"][data-file="${f}"]`)?.dataset.label === l, [other.name, otherBefore.label]);
  await box.check();
  await page.waitForFunction(allLabelled, corrected);

  // Exported, removed, imported again from the file.
  const first = page.locator(`[data-testid="result"][data-file="${photo.name}"]`);
  const download = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-references').click()]);
  const file = await readFile(await download[0].path());
  assert.equal(file.subarray(0, 8).toString('latin1'), 'BEANREFS');
  await first.getByTestId('correct-label').selectOption(before.label);
  await first.getByTestId('save-reference').click();
  await first.getByTestId('saved-reference').waitFor();
  assert.equal(await page.getByTestId('reference-count').textContent(), '2');
  await first.getByTestId('undo-reference').click();
  await first.getByTestId('correct-label').waitFor();
  assert.equal(await page.getByTestId('reference-count').textContent(), '1');

  await page.getByTestId('import-references').setInputFiles({ name: 'notes.beanrefs', mimeType: 'application/octet-stream', buffer: Buffer.from('not references') });
  await page.waitForFunction(() => /not a beanscan references file/.test(document.querySelector('[data-testid="panel-message"]').textContent));
  await page.getByTestId('import-references').setInputFiles({ name: 'refs.beanrefs', mimeType: 'application/octet-stream', buffer: file });
  await page.waitForFunction(() => /Imported 1 reference bean/.test(document.querySelector('[data-testid="panel-message"]').textContent));
  assert.equal(await page.getByTestId('reference-count').textContent(), '1');

  // A damaged bundle is refused and the current one keeps working.
  await page.getByTestId('load-bundle').setInputFiles({ name: 'x.beanscan', mimeType: 'application/octet-stream', buffer: Buffer.from('BEANSCAN and then nothing useful') });
  await page.waitForFunction(() => /That bundle was not loaded/.test(document.querySelector('[data-testid="panel-message"]').textContent));
  t.diagnostic(await page.getByTestId('panel-message').textContent());
  const status = page.getByTestId('status');
  assert.equal(await status.getAttribute('data-state'), 'ready');
  assert.equal(await status.getAttribute('data-custom-bundle'), 'false');

  // A good bundle file (the committed one, as a user would load it) is used and kept for the next visit.
  await page.getByTestId('load-bundle').setInputFiles(join(repo, 'bundle', 'default.beanscan'));
  await page.waitForFunction(() => /Bundle loaded/.test(document.querySelector('[data-testid="panel-message"]').textContent));
  assert.equal(await status.getAttribute('data-custom-bundle'), 'true');
  assert.deepEqual(errors, []);
  await page.close();
  ({ page, errors } = await open(context));
  assert.equal(await page.getByTestId('status').getAttribute('data-custom-bundle'), 'true');
  assert.match(await page.getByTestId('status').textContent(), /^Ready · (CPU|WebGPU) · your model, \d+ kinds of bean$/);
  assert.match(await page.getByTestId('model-details').textContent(), /loaded from your file, bundle format v\d+/);
  assert.equal(await page.getByTestId('reference-count').textContent(), '1', 'same model: the references stay');
  assert.ok(await page.getByTestId('added-only').isChecked(), '"my references only" is kept across a reload');
  await settings(page);
  await page.getByTestId('builtin-bundle').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]').dataset.customBundle === 'false');
  await waitReady(page);
  assert.ok(await page.getByTestId('builtin-bundle').isHidden());
  assert.deepEqual(errors, []);
  await context.close();
});

test('sliders re-label the shown results; summary and CSV export agree with the cards', { timeout: TEST_TIMEOUT }, async () => {
  const context = await newContext();
  // Records every request the page sends its worker, to show re-labelling reads no photo again.
  await context.addInitScript(() => {
    window.workerOps = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, ...rest) {
      window.workerOps.push(message?.op);
      return post.call(this, message, ...rest);
    };
  });
  const { page, errors } = await open(context);
  const classNames = await classNamesOn(page);
  const photos = await pickPhotos(data, ['Normal', 'Black', 'Broken']);
  await page.getByTestId('picker').setInputFiles([
    ...await asFiles(photos),
    { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('Tray 4: 12 black beans, 3 sour.\n') },
  ]);
  const cards = await settledCards(page, 4);
  const labelled = cards.filter((c) => c.kind === 'result');
  assert.equal(labelled.length, 3);
  for (const c of labelled) {
    checkLabelled(c, classNames);
    assert.equal(c.decoder, 'browser', `${c.file} was decoded by the browser`);
  }
  assert.equal(cards.find((c) => c.file === 'notes.jpg').kind, 'result-error');

  // Summary: counts per class and the defect share (everything but Normal is a defect).
  const counts = await page.$$eval('[data-testid="class-count"]', (els) => els.map((e) => [e.dataset.label, Number(e.dataset.count)]));
  const expected = new Map();
  for (const c of labelled) expected.set(c.label, (expected.get(c.label) ?? 0) + 1);
  assert.deepEqual(new Map(counts), expected);
  const defects = labelled.filter((c) => c.label !== 'Normal').length;
  assert.equal(await page.getByTestId('defect-share').textContent(), `${(100 * defects / 3).toFixed(1)}%`);

  // Threshold 0: every bean is farther than that from every reference → all Unknown, at once.
  await settings(page);
  await slide(page, 'threshold', 0);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="result"]')].every((c) => c.querySelector('[data-testid="unknown-badge"]')));
  for (const k of [1, 9]) {
    await slide(page, 'k', k);
    await page.waitForFunction((k) => [...document.querySelectorAll('[data-testid="result"]')]
      .every((c) => c.querySelectorAll('[data-testid="neighbour"]').length === k), k);
  }
  await slide(page, 'threshold', 2);
  await page.waitForFunction(() => !document.querySelector('[data-testid="unknown-badge"]'));
  const relabelled = await cardsOn(page);
  const ops = await page.evaluate(() => window.workerOps);
  // Each photo read once: classified by the main worker, or embedded by a helper of the pool.
  const reads = (op) => op === 'classify' || op === 'embed';
  assert.equal(ops.filter(reads).length, 4, `worker requests: ${ops}`);
  assert.ok(ops.filter((op) => op === 'label').length >= 3, `worker requests: ${ops}`);
  assert.ok(ops.findLastIndex(reads) < ops.indexOf('settings'), `worker requests: ${ops}`);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  assert.equal(download.suggestedFilename(), 'beanscan-results.csv');
  const [header, ...rows] = (await readFile(await download.path(), 'utf8')).trim().split('\r\n').map((l) => l.split(','));
  assert.deepEqual(header, ['file', 'label', 'defect', 'unknown', 'confidence', 'distance', 'nearest_reference', 'error', 'k', 'threshold', 'voters', 'backend', 'bundle']);
  assert.equal(rows.length, 4);
  const col = (row, name) => row[header.indexOf(name)];
  for (const card of relabelled) {
    const row = rows.find((r) => col(r, 'file') === card.file);
    assert.ok(row, `no CSV row for ${card.file}`);
    if (card.kind === 'result') {
      assert.equal(col(row, 'label'), card.label);
      assert.equal(col(row, 'defect'), String(card.label !== 'Normal'));
      assert.equal(col(row, 'unknown'), 'false');
      assert.ok(Math.abs(Number(col(row, 'distance')) - card.distance) < 1e-4);
      assert.equal(col(row, 'k'), '9');
      assert.equal(col(row, 'threshold'), '2');
      assert.equal(col(row, 'voters'), 'all');
    } else {
      assert.ok(col(row, 'error').length > 10, `error column: ${col(row, 'error')}`);
    }
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('a camera new to beanscan: its batch gets the notice until a few of its beans are confirmed; the rig\'s photos get none', { timeout: TEST_TIMEOUT }, async (t) => {
  const context = await newContext();
  let { page, errors } = await open(context);
  const notice = () => page.$$eval('[data-testid="camera-notice"]', (els) => els.map((e) => e.textContent));
  await page.getByTestId('picker').setInputFiles(await asFiles(await pickPhotos(data, ['Normal', 'Black', 'Broken', 'Sour'])));
  await settledCards(page, 4);
  assert.deepEqual(await notice(), [], 'photos of the rig the bundle was trained for');
  await page.close();

  ({ page, errors } = await open(context));
  const photos = USK_PHOTOS.map((p) => ({ path: join(uskData, p), name: p.replaceAll('/', '-') }));
  await page.getByTestId('picker').setInputFiles(await asFiles(photos));
  const cards = await settledCards(page, photos.length);
  t.diagnostic(`USK distances ${cards.map((c) => c.distance.toFixed(2)).join(' ')}`);
  assert.deepEqual(await notice(), ['This camera or light is new to beanscan: confirm a few beans of each kind before trusting the grade.']);
  // "Show the beans to confirm": every shown bean is asked about (fewer than a round's 12), each
  // once, ranked 1..6.
  await page.getByTestId('teach-camera').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="to-confirm"]').length === n, photos.length);
  const asks = await page.$$eval('[data-testid="to-confirm"]', (els) => els.map((e) => e.textContent).sort());
  assert.deepEqual(asks, photos.map((_, i) => `Confirm or correct this bean (${i + 1} of ${photos.length})`).sort());
  // Four of them confirmed (each becomes a reference of this camera): they are no longer asked
  // about, most beans now have a reference near, and the notice goes.
  for (const photo of photos.slice(0, 4)) {
    const card = page.locator(`[data-testid="result"][data-file="${photo.name}"]`);
    await card.getByTestId('save-reference').click();
    await card.getByTestId('saved-reference').waitFor();
  }
  await page.waitForFunction(() => !document.querySelector('[data-testid="camera-notice"]'));
  assert.equal(await page.getByTestId('to-confirm').count(), 2);
  assert.deepEqual(errors, []);
  await context.close();
});

test('once Normal and defect beans are confirmed, Normal or defect is decided with them on every card, and two kinds of defect name the defect', { timeout: TEST_TIMEOUT }, async () => {
  const context = await newContext();
  const { page, errors } = await open(context);
  const photos = await pickPhotos(data, ['Normal', 'Black', 'Sour']);
  await page.getByTestId('picker').setInputFiles(await asFiles(photos));
  await settledCards(page, photos.length);
  const gates = () => page.$$eval('[data-testid="gate"]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(await gates(), [], 'no beans of one\'s own: the vote alone decides');
  const save = async (photo, label) => {
    const card = page.locator(`[data-testid="result"][data-file="${photo.name}"]`);
    await card.getByTestId('correct-label').selectOption(label);
    await card.getByTestId('save-reference').click();
    await card.getByTestId('saved-reference').waitFor();
  };
  await save(photos[0], 'Normal');
  // Re-labelled with it (its own card now lists it among the nearest), still without a gate.
  await page.waitForFunction((f) => document.querySelector(`[data-testid="result"][data-file="${f}"] [data-testid="neighbour"][data-added="true"]`), photos[0].name);
  assert.deepEqual(await gates(), [], 'Normal beans alone: no gate');
  await save(photos[1], 'Black');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="gate"]').length === n, photos.length);
  for (const text of await gates()) assert.match(text, /^ · Normal or defect decided with your beans \(\d+% Normal\)$/);
  // The confirmed Normal bean is Normal, the confirmed Black one Black: the gate sides with them.
  const labels = Object.fromEntries((await cardsOn(page)).map((c) => [c.file, c.label]));
  assert.equal(labels[photos[0].name], 'Normal');
  assert.equal(labels[photos[1].name], 'Black');
  const heads = () => page.$$eval('[data-testid="defect-head"]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(await heads(), [], 'one kind of defect confirmed: the vote names defects');
  // A second kind: the defect head names every bean on the defect side, and only those.
  await save(photos[2], 'Sour');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="result"]')].every(
    (c) => Boolean(c.querySelector('[data-testid="defect-head"]')) === (c.dataset.label !== 'Normal')));
  const named = await page.$$eval('[data-testid="result"]', (cards) => cards.map((c) => [c.dataset.label, c.querySelector('[data-testid="defect-head"]')?.textContent]));
  for (const [label, text] of named.filter(([l]) => l !== 'Normal')) {
    assert.match(text, new RegExp(`^ · defect named with your beans \\(\\d+% ${label}\\)$`));
  }
  const relabelled = Object.fromEntries((await cardsOn(page)).map((c) => [c.file, c.label]));
  assert.deepEqual([photos[0], photos[1], photos[2]].map((p) => relabelled[p.name]), ['Normal', 'Black', 'Sour']);
  assert.deepEqual(errors, []);
  await context.close();
});

test('slider settings survive a reload, but only onto the bundle they were chosen for', { timeout: TEST_TIMEOUT }, async () => {
  const context = await newContext();
  const { page, errors } = await open(context);
  const defaults = { k: await page.getByTestId('k').inputValue(), threshold: await page.getByTestId('threshold').inputValue() };
  await settings(page);
  await slide(page, 'threshold', 1.5);
  await slide(page, 'k', 9);
  await page.reload();
  await waitReady(page);
  assert.equal(await page.getByTestId('threshold').inputValue(), '1.5');
  assert.equal(await page.getByTestId('k').inputValue(), '9');
  // Chosen for another model (or other defaults, as a new build may ship): the bundle's own values.
  await page.evaluate(() => {
    const saved = JSON.parse(localStorage.getItem('beanscan-settings'));
    localStorage.setItem('beanscan-settings', JSON.stringify({ ...saved, bundle: 'another model k 5 threshold 1' }));
  });
  await page.reload();
  await waitReady(page);
  assert.deepEqual({ k: await page.getByTestId('k').inputValue(), threshold: await page.getByTestId('threshold').inputValue() }, defaults);
  assert.notEqual(defaults.threshold, '1.5');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the status line says which backend runs, Settings say why: no WebGPU → CPU, a software fallback adapter → CPU under auto, WebGPU when asked for', { timeout: TEST_TIMEOUT }, async (t) => {
  // Chromium's WebGPU here is SwiftShader, which reports itself as a fallback adapter.
  const gpuBrowser = await launchBrowser(undefined, ['--enable-unsafe-webgpu']);
  try {
    const [photo] = await pickPhotos(data, ['Normal']);
    const cases = [
      { gpu: false, query: '', backend: 'cpu', why: /Runs on CPU \(no WebGPU in this browser\)/ },
      { gpu: true, query: '', backend: 'cpu', why: /CPU \(the WebGPU adapter is a software fallback[^)]*\)/ },
      { gpu: true, query: '?backend=webgpu', backend: 'webgpu', why: /WebGPU \(WebGPU asked for/ },
    ];
    for (const { gpu, query, backend, why } of cases) {
      // No service worker: it would serve worker.js past the route below.
      const context = await newContext({ serviceWorkers: 'block' }, gpuBrowser);
      if (!gpu) {
        await context.addInitScript(() => { delete Navigator.prototype.gpu; });
        // Init scripts do not reach workers: the worker gets the same deletion at its top.
        await context.route('**/worker.js*', async (route) => {
          const response = await route.fetch();
          await route.fulfill({ response, body: `delete WorkerNavigator.prototype.gpu;\n${await response.text()}` });
        });
      }
      const { page, errors } = await open(context, `${origin}/${query}`);
      const status = page.getByTestId('status');
      t.diagnostic(`navigator.gpu ${gpu ? 'present' : 'deleted'}${query}: ${await status.textContent()}`);
      assert.equal(await status.getAttribute('data-backend'), backend);
      assert.match(await page.getByTestId('model-details').textContent(), why);
      assert.match(await status.textContent(), /^Ready · (CPU|WebGPU) · built-in model, \d+ kinds of bean$/);
      await page.getByTestId('picker').setInputFiles(await asFiles([photo]));
      const [card] = await settledCards(page, 1);
      checkLabelled(card, await classNamesOn(page));
      assert.deepEqual(errors, []);
      await context.close();
    }
  } finally {
    await gpuBrowser.close();
  }
});

test('a pool of workers labels a batch exactly as one worker does, in the order given, and uses its helpers', { timeout: TEST_TIMEOUT }, async (t) => {
  const photos = await pickPhotos(data, ['Normal', 'Black', 'Broken', 'Sour', 'Insect-damaged', 'Fungus-damaged']);
  const runs = {};
  for (const workers of [1, 3]) {
    const context = await newContext({ serviceWorkers: 'block' });
    let workerScripts = 0;
    context.on('request', (r) => { if (/\/worker\.js/.test(r.url())) workerScripts += 1; });
    const { page, errors } = await open(context, `${origin}/?workers=${workers}`);
    // Helpers start once the main classifier is ready; give them time to load the model too.
    await page.waitForTimeout(workers > 1 ? 5000 : 0);
    const started = Date.now();
    await page.getByTestId('picker').setInputFiles(await asFiles(photos));
    const cards = await settledCards(page, photos.length);
    t.diagnostic(`${workers} worker(s): ${photos.length} photos in ${Date.now() - started} ms, ${workerScripts} worker script(s) fetched`);
    assert.equal(workerScripts, workers, 'one worker per pool member');
    runs[workers] = cards.map((c) => ({ file: c.file, label: c.label, distance: c.distance, confidence: c.confidence }));
    assert.deepEqual(runs[workers].map((c) => c.file), photos.map((p) => p.name), 'cards in the order the photos were given');
    assert.deepEqual(errors, []);
    await context.close();
  }
  assert.deepEqual(runs[3], runs[1], 'the same labels, distances and confidences with helpers as without');
});

test('after one visit the page loads and labels offline, from a sub-path (service worker)', { timeout: TEST_TIMEOUT }, async (t) => {
  // A server of its own, stopped after the first visit, and the browser offline as well. It
  // serves the site's parent folder, so the page lives under a sub-path (/www/).
  const own = await startServer(dirname(site));
  origins.add(new URL(own.url).origin);
  const pageUrl = new URL(`${basename(site)}/`, own.url).href;
  const prefix = new URL(pageUrl).pathname;
  const context = await newContext();
  try {
    const { page } = await open(context, pageUrl);
    const cached = await page.evaluate(async (module) => {
      const reg = await navigator.serviceWorker.ready;
      // The module is kept once the page runs it (a message to the service worker): wait for it.
      for (let i = 0; ; i++) {
        const names = await caches.keys();
        const cache = await caches.open(names.find((n) => n.startsWith('beanscan-')));
        const files = (await cache.keys()).map((r) => new URL(r.url).pathname);
        if (files.includes(module) || i === 60) return { state: reg.active.state, names, files };
        await new Promise((done) => setTimeout(done, 500));
      }
    }, `${prefix}pkg/cpu/beanscan_bg.wasm`);
    t.diagnostic(`caches: ${cached.names.join(', ')} (${cached.files.length} files)`);
    assert.equal(cached.state, 'activated');
    assert.match(cached.names.join(), /beanscan-[0-9a-f]{16}/);
    // Every file of the page is kept (the list in sw.js must not fall behind www/); the page
    // itself once, as '' (its index.html is answered from that copy, checked offline below).
    const want = (await readdir(site, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name !== 'sw.js' && e.name !== 'index.html').map((e) => e.name)
      .concat(['', 'pkg/version.js', 'pkg/default.beanscan', 'pkg/cpu/beanscan.js', 'pkg/cpu/beanscan_bg.wasm'])
      .map((f) => prefix + f);
    for (const f of want) assert.ok(cached.files.includes(f), `${f} is not precached`);
    // This device runs the CPU-only module: the WebGPU one is neither fetched nor kept.
    assert.ok(!cached.files.includes(`${prefix}pkg/beanscan_bg.wasm`), 'the WebGPU module was kept on a CPU device');
    // The first visit downloads each URL once: the service worker's install and the pool's
    // helper workers revalidate what is already in the HTTP cache (304, no body). Counted per
    // file, query left out: one file under two URLs (worker.js?backend=…) is downloaded twice.
    const downloads = {};
    for (const r of own.requests) {
      const file = r.path.split('?')[0];
      if (r.status === 200 && r.bytes > 0) downloads[file] = (downloads[file] ?? 0) + 1;
    }
    const twice = Object.entries(downloads).filter(([, n]) => n > 1);
    const bytes = own.requests.reduce((sum, r) => sum + r.bytes, 0);
    t.diagnostic(`first visit: ${own.requests.length} requests, ${Object.keys(downloads).length} files, ${(bytes / 1e6).toFixed(2)} MB sent`);
    assert.deepEqual(twice, [], 'files downloaded more than once on the first visit');
    await page.close();

    own.child.kill();
    await context.setOffline(true);
    const { page: offline, errors } = await open(context, pageUrl);
    const [photo] = await pickPhotos(data, ['Black']);
    await offline.getByTestId('picker').setInputFiles(await asFiles([photo]));
    const [card] = await settledCards(offline, 1);
    checkLabelled(card, await classNamesOn(offline));
    assert.deepEqual(errors, []);
    const { page: byName, errors: byNameErrors } = await open(context, `${pageUrl}index.html`);
    await byName.getByTestId('picker').setInputFiles(await asFiles([photo]));
    checkLabelled((await settledCards(byName, 1))[0], await classNamesOn(byName));
    assert.deepEqual(byNameErrors, []);
  } finally {
    await context.close();
    own.child.kill();
  }
});

test('a device that runs WebGPU gets the WebGPU module, and the service worker keeps it', { timeout: TEST_TIMEOUT }, async (t) => {
  const gpuBrowser = await launchBrowser(undefined, ['--enable-unsafe-webgpu']);
  try {
    const context = await newContext({}, gpuBrowser);
    const fetched = [];
    const workerUrls = new Set();
    context.on('request', (r) => {
      if (/beanscan_bg\.wasm$/.test(r.url())) fetched.push(new URL(r.url()).pathname);
      if (new URL(r.url()).pathname === '/worker.js') workerUrls.add(new URL(r.url()).search);
    });
    const { page, errors } = await open(context, `${origin}/?backend=webgpu`);
    assert.equal(await page.getByTestId('status').getAttribute('data-backend'), 'webgpu');
    const kept = await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      for (let i = 0; i < 120; i++) {
        const names = (await caches.keys()).filter((n) => n.startsWith('beanscan-'));
        const files = names.length ? (await (await caches.open(names[0])).keys()).map((r) => new URL(r.url).pathname) : [];
        if (files.includes('/pkg/beanscan_bg.wasm')) return files;
        await new Promise((done) => setTimeout(done, 500));
      }
      return null;
    });
    t.diagnostic(`module files fetched: ${[...new Set(fetched)].join(', ')}`);
    assert.ok(fetched.includes('/pkg/beanscan_bg.wasm'), 'the WebGPU module was not loaded');
    // The backend reaches the worker by its name: worker.js stays the one URL the service
    // worker keeps, so it is not downloaded again under another.
    assert.deepEqual([...workerUrls], [''], 'worker.js requested under another URL');
    assert.ok(kept, 'the WebGPU module was not kept for offline use');
    assert.ok(!fetched.includes('/pkg/cpu/beanscan_bg.wasm') && !kept.includes('/pkg/cpu/beanscan_bg.wasm'), 'the CPU-only module was fetched too');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await gpuBrowser.close();
  }
});

test('a new build fills a new cache and the old one is deleted when it takes over', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'beanscan-deploy-'));
  await cp(site, dir, { recursive: true });
  const own = await startServer(dir);
  origins.add(new URL(own.url).origin);
  const context = await newContext();
  const cacheNames = (page) => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('beanscan-')));
  try {
    let { page } = await open(context, own.url);
    await page.evaluate(() => navigator.serviceWorker.ready);
    const [first] = await cacheNames(page);
    await page.reload(); // now controlled by the service worker
    await waitReady(page);

    // Deploy a new build: only its version changes here.
    await writeFile(join(dir, 'pkg', 'version.js'), "self.BEANSCAN_BUILD = '00000000feedbeef';\n");
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      await reg.update();
      const next = reg.installing ?? reg.waiting;
      if (next && next.state !== 'installed') {
        await new Promise((done) => next.addEventListener('statechange', () => next.state === 'installed' && done()));
      }
    });
    const both = await cacheNames(page);
    t.diagnostic(`while the old page is open: ${both.join(', ')}`);
    assert.deepEqual(both.sort(), [first, 'beanscan-00000000feedbeef'].sort(), 'the old cache serves the open page');
    // The new build's cache holds the module this device ran under the old one.
    const carried = await page.evaluate(async () => (await (await caches.open('beanscan-00000000feedbeef')).keys()).map((r) => new URL(r.url).pathname));
    assert.ok(carried.includes('/pkg/cpu/beanscan_bg.wasm'), `the new cache lacks the module: ${carried.join(', ')}`);
    await page.close();

    // A user comes back later. The browser may take a moment to forget the closed page: a page
    // opened in that moment is still served by the old worker and keeps the new one waiting, as a
    // reload would, so come back again after a pause until the new worker has taken over.
    const stillWaiting = (p) => p.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting != null);
    ({ page } = await open(context, own.url));
    for (let i = 0; i < 10 && (await stillWaiting(page)); i++) {
      await page.close();
      await new Promise((done) => setTimeout(done, 1000));
      ({ page } = await open(context, own.url));
    }
    let left = both;
    for (let i = 0; i < 60 && left.length !== 1; i++) {
      await new Promise((done) => setTimeout(done, 500));
      left = await cacheNames(page);
    }
    assert.deepEqual(left, ['beanscan-00000000feedbeef'], 'only the new build is kept');
  } finally {
    await context.close();
    own.child.kill();
    await rm(dir, { recursive: true, force: true });
  }
});

test('no request leaves the origin and nothing is uploaded', { timeout: 60_000 }, () => {
  assert.ok(requests.length > 0);
  const network = requests.filter((r) => !/^(blob|data):/.test(r.url));
  const foreign = network.filter((r) => !origins.has(new URL(r.url).origin));
  assert.deepEqual(foreign, [], 'requests to other origins');
  assert.deepEqual(network.filter((r) => r.method !== 'GET'), [], 'only GET requests');
});
