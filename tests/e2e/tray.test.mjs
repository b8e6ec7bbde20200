// The tray view in headless Chromium on a phone viewport, with a real tray photo: beans outlined
// in their label's colour, counts that add up, a tapped bean's panel, a correction that changes
// the counts and is still a reference after a reload, a bad file and an empty tray refused with
// their own messages, and the CSV of beans.
// Run: node --test tests/e2e/   (after ./build.sh build; needs /usr/bin/chromium)
// Env: BEANSCAN_WWW, BEANSCAN_DATA (folder holding trays/), CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { devices } from 'playwright-core';
import { BATCH_TIMEOUT, classNamesOn, launchBrowser, startServer, waitReady } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const site = resolve(process.env.BEANSCAN_WWW ?? join(repo, 'www'));
const trays = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'trays');
const PHOTO = join(trays, 'Normal/20210212_144153.jpg'); // 242 annotated beans
// What detection finds on this photo, measured: 245 in the page.
// The range allows small changes to detection, not a broken one.
const BEANS = { min: 225, max: 260 };
const PALETTE = [[0, 158, 115], [213, 94, 0], [0, 114, 178], [230, 159, 0], [204, 121, 167], [86, 180, 233],
  [240, 228, 66], [150, 0, 90], [0, 0, 0], [120, 70, 20], [255, 0, 255], [0, 200, 200]];
const GREY = [128, 128, 128];

let server;
let browser;
let origin;

before(async () => {
  assert.ok(existsSync(join(site, 'pkg', 'beanscan.js')), `${site}/pkg is missing: ./build.sh build first`);
  assert.ok(existsSync(PHOTO), `tray photo not found at ${PHOTO}`);
  let url;
  ({ child: server, url } = await startServer(site));
  origin = new URL(url).origin;
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close();
  server?.kill();
});

async function open(context, query = '') {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${origin}/${query}`);
  await waitReady(page);
  return { page, errors };
}

/** Drops files ({name, type, buffer}) on the drop zone the way a browser does. */
async function drop(page, files) {
  const payload = files.map((f) => ({ name: f.name, type: f.type, b64: f.buffer.toString('base64') }));
  const dataTransfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    return dt;
  }, payload);
  const zone = page.getByTestId('dropzone');
  for (const type of ['dragenter', 'dragover', 'drop']) await zone.dispatchEvent(type, { dataTransfer });
}

/** Waits until `n` trays are settled; returns what each shows (newest first). */
async function settledTrays(page, n) {
  await page.waitForFunction((n) => {
    const cards = [...document.querySelectorAll('[data-testid="tray"]')];
    return cards.length >= n && cards.every((c) => c.dataset.state !== 'pending');
  }, n, { timeout: BATCH_TIMEOUT });
  return page.$$eval('[data-testid="tray"]', (cards) => cards.map((c) => ({
    file: c.dataset.file,
    state: c.dataset.state,
    beans: Number(c.dataset.beans),
    error: c.querySelector('[data-testid="error-message"]')?.textContent,
  })));
}

/** The count table of the newest tray: {label: count}, and its total row. */
const countTable = (page) => page.$eval('[data-testid="tray"]', (card) => ({
  rows: Object.fromEntries([...card.querySelectorAll('[data-testid="tray-count"]')].map((r) => [r.dataset.label, Number(r.dataset.count)])),
  total: Number(card.querySelector('[data-testid="tray-total"]').dataset.count),
  grade: card.querySelector('[data-testid="tray-grade"]')?.textContent,
  warning: card.querySelector('[data-testid="tray-grade-warning"]')?.textContent,
  notice: card.querySelector('[data-testid="tray-camera-notice"]')?.textContent,
  gradeLine: card.querySelector('[data-testid="tray-grading"] .grade')?.textContent,
  legend: [...card.querySelectorAll('[data-testid="legend-item"]')].map((li) => li.dataset.label),
}));

/** Pixels of the newest tray's canvas in each outline colour, by legend label. */
const outlinePixels = (page, colours) => page.$eval('[data-testid="tray"] [data-testid="tray-canvas"]', (canvas, colours) => {
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const counts = Object.fromEntries(Object.keys(colours).map((k) => [k, 0]));
  for (let i = 0; i < data.length; i += 4) {
    for (const [name, [r, g, b]] of Object.entries(colours)) {
      if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) <= 6) counts[name] += 1;
    }
  }
  return counts;
}, colours);

function parseCsv(text) {
  const [head, ...rows] = text.trim().split(/\r\n/);
  const cols = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
}

async function exportCsv(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-tray-csv').click()]);
  return parseCsv(await readFile(await download.path(), 'utf8'));
}

/** Taps the newest tray's canvas at the centre of a bean's box (photo pixels). */
async function tapBean(page, bbox) {
  const canvas = page.getByTestId('tray').first().getByTestId('tray-canvas');
  const photoWidth = Number(await canvas.getAttribute('data-photo-width'));
  const box = await canvas.boundingBox();
  const scale = box.width / photoWidth;
  await canvas.tap({ position: { x: (bbox[0] + bbox[2] / 2) * scale, y: (bbox[1] + bbox[3] / 2) * scale } });
}

test('a tray photo: outlines, counts, a tapped bean corrected, CSV, and the reference after a reload', { timeout: 480_000 }, async (t) => {
  const context = await browser.newContext({ ...devices['Pixel 7'] });
  let { page, errors } = await open(context);
  const classNames = await classNamesOn(page);
  await page.locator('label[for="mode-tray"]').click();
  assert.equal(await page.getByTestId('mode-tray').isChecked(), true);
  assert.equal(await page.getByTestId('tray-view').evaluate((e) => e.hidden), false);

  // A text file and a blank sheet (no beans) beside the real photo: each refused on its own.
  const blank = Buffer.from(await page.evaluate(async () => {
    const c = new OffscreenCanvas(640, 480);
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#f2efe8';
    ctx.fillRect(0, 0, 640, 480);
    return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  }));
  const photo = await readFile(PHOTO);
  await drop(page, [
    { name: 'notes.jpg', type: 'image/jpeg', buffer: Buffer.from('Tray 4: 12 black beans, 3 sour.\n') },
    { name: 'blank.png', type: 'image/png', buffer: blank },
    { name: 'tray.jpg', type: 'image/jpeg', buffer: photo },
  ]);
  const shown = await settledTrays(page, 3);
  const byFile = Object.fromEntries(shown.map((s) => [s.file, s]));
  assert.equal(byFile['notes.jpg'].state, 'error');
  assert.match(byFile['notes.jpg'].error, /Could not read this tray photo: .+/);
  assert.equal(byFile['blank.png'].state, 'error');
  assert.match(byFile['blank.png'].error, /No beans were found/);
  const tray = byFile['tray.jpg'];
  assert.equal(tray.state, 'done', tray.error);
  t.diagnostic(`tray.jpg: ${tray.beans} beans found (242 annotated)`);
  assert.ok(tray.beans >= BEANS.min && tray.beans <= BEANS.max, `${tray.beans} beans, expected ${BEANS.min}–${BEANS.max}`);
  // Show the real tray first (newest on top is the last dropped).
  assert.equal(shown[0].file, 'tray.jpg');

  // Count table: sums to the beans found; every legend colour is on the canvas.
  let table = await countTable(page);
  const sum = Object.values(table.rows).reduce((a, b) => a + b, 0);
  assert.equal(sum, tray.beans, `count rows ${JSON.stringify(table.rows)}`);
  assert.equal(table.total, tray.beans);
  assert.ok(table.grade, 'no SCA grade shown');
  // A grade resting on fewer than half of the beans says so.
  const unknown = table.rows.Unknown ?? 0;
  assert.equal(Boolean(table.warning), unknown > tray.beans - unknown, `warning ${table.warning} with ${unknown} unknown`);
  if (table.warning) assert.match(table.warning, new RegExp(`only ${tray.beans - unknown} of ${tray.beans} beans`));
  t.diagnostic(`counts ${JSON.stringify(table.rows)}, grade ${table.grade}`);
  const colourOf = (name) => (name === 'Unknown' ? GREY : PALETTE[classNames.indexOf(name) % PALETTE.length]);
  const pixels = await outlinePixels(page, Object.fromEntries(table.legend.map((n) => [n, colourOf(n)])));
  for (const name of table.legend) {
    assert.ok(pixels[name] >= 10 * table.rows[name], `${name}: ${pixels[name]} outline pixels for ${table.rows[name]} beans`);
  }

  // The tray beans' threshold slider re-labels the tray from its cached embeddings: at 0 every
  // bean is unknown; back at the start value the table is what it was. The single-bean slider
  // stays at 0 meanwhile: tray beans do not follow it.
  const slide = (v, testid = 'tray-threshold') => page.getByTestId(testid).evaluate((input, v) => {
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, v);
  const singleStart = Number(await page.getByTestId('threshold').inputValue());
  await slide(0, 'threshold');
  const start = Number(await page.getByTestId('tray-threshold').inputValue());
  await slide(0);
  await page.waitForFunction((n) => document.querySelector('[data-testid="tray"] [data-testid="tray-count"][data-label="Unknown"]')?.dataset.count === String(n), tray.beans);
  assert.equal((await countTable(page)).grade, undefined, 'no labelled bean, no grade');
  // At the slider's top no bean is unknown: a grade from every bean, without the warning.
  const top = Number(await page.getByTestId('tray-threshold').getAttribute('max'));
  await slide(top);
  await page.waitForFunction(() => !document.querySelector('[data-testid="tray"] [data-testid="tray-count"][data-label="Unknown"]'));
  assert.equal((await countTable(page)).warning, undefined, 'every bean labelled, yet warned');
  await slide(singleStart, 'threshold');
  await slide(start);
  await page.waitForFunction((n) => (document.querySelector('[data-testid="tray"] [data-testid="tray-count"][data-label="Unknown"]')?.dataset.count ?? '0') === String(n), unknown);
  assert.deepEqual((await countTable(page)).rows, table.rows);

  // CSV: one row per bean. Pick the largest bean and tap it.
  let rows = await exportCsv(page);
  assert.equal(rows.length, tray.beans);
  // The new-camera notice follows its rule: the beans' median nearest distance beyond the
  // single-bean threshold; the grade is then provisional.
  const sorted = rows.map((r) => Number(r.distance)).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const far = median > singleStart;
  t.diagnostic(`median nearest distance ${median.toFixed(3)} (bound ${singleStart}): notice ${Boolean(table.notice)}`);
  assert.equal(Boolean(table.notice), far);
  assert.match(table.gradeLine, far ? /^SCA grade \(provisional\): / : /^SCA grade: /);
  if (far) assert.match(table.notice, /^This camera or light is new to beanscan/);
  assert.deepEqual(rows.map((r) => Number(r.bean)), rows.map((_, i) => i + 1));
  const target = rows.reduce((a, b) => (a.width * a.height >= b.width * b.height ? a : b));
  const bbox = [target.left, target.top, target.width, target.height].map(Number);
  await tapBean(page, bbox);
  const panel = page.getByTestId('tray').first().getByTestId('bean-panel');
  await panel.waitFor();
  assert.equal(await panel.getAttribute('data-index'), String(Number(target.bean) - 1));
  assert.ok(await panel.getByTestId('neighbour').count() >= 1, 'no nearest references in the panel');
  assert.equal(await panel.getByTestId('label').textContent(), target.label);

  // Correct it: it counts as the new class, and the table follows.
  const rowsBefore = table.rows;
  const before = target.unknown === 'true' ? 'Unknown' : target.label;
  const corrected = classNames.find((c) => c !== target.label && c !== 'Normal') ?? classNames.find((c) => c !== target.label);
  await panel.getByTestId('correct-label').selectOption(corrected);
  await panel.getByTestId('save-reference').click();
  await panel.getByTestId('saved-reference').waitFor();
  assert.equal(await panel.getAttribute('data-label'), corrected);
  t.diagnostic(await page.getByTestId('tray-bean-count').first().textContent());
  const shot = join(tmpdir(), 'beanscan-e2e-tray.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  table = await countTable(page);
  t.diagnostic(`bean ${target.bean} (${before}) corrected to ${corrected}: counts ${JSON.stringify(table.rows)}`);
  assert.ok((table.rows[corrected] ?? 0) >= 1);
  assert.notDeepEqual(table.rows, rowsBefore, 'the count table did not change');
  assert.equal(Object.values(table.rows).reduce((a, b) => a + b, 0), tray.beans);
  rows = await exportCsv(page);
  const row = rows[Number(target.bean) - 1];
  assert.equal(row.label, corrected);
  assert.equal(row.by_you, 'true');
  assert.equal(rows.length, tray.beans);

  // Reload: still in tray mode, the reference comes back from IndexedDB and is the bean's
  // nearest neighbour when the same photo is dropped again.
  await page.close();
  ({ page, errors } = await open(context));
  assert.equal(await page.getByTestId('mode-tray').isChecked(), true, 'tray mode is kept');
  assert.equal(await page.getByTestId('tray-view').evaluate((e) => e.hidden), false);
  assert.equal(await page.getByTestId('reference-count').textContent(), '1');
  await drop(page, [{ name: 'tray.jpg', type: 'image/jpeg', buffer: photo }]);
  const [again] = await settledTrays(page, 1);
  assert.equal(again.beans, tray.beans);
  await tapBean(page, bbox);
  const panelAgain = page.getByTestId('tray').first().getByTestId('bean-panel');
  await panelAgain.waitFor();
  assert.equal(await panelAgain.getAttribute('data-index'), String(Number(target.bean) - 1));
  const nearest = panelAgain.getByTestId('neighbour').first();
  assert.equal(await nearest.getAttribute('data-added'), 'true');
  assert.ok(Number(await nearest.locator('.dist').textContent()) < 1e-3);

  // Teach beanscan your camera: with the notice shown, its button opens the first of 12 beans
  // to confirm; confirming it leaves 11.
  const card = page.getByTestId('tray').first();
  if ((await countTable(page)).notice) {
    await card.getByTestId('tray-teach-camera').click();
    const next = card.getByTestId('next-to-confirm');
    await page.waitForFunction(() => /\(12 left\)/.test(document.querySelector('[data-testid="next-to-confirm"]')?.textContent ?? ''));
    const asked = await panelAgain.getAttribute('data-index');
    await panelAgain.getByTestId('save-reference').click();
    await panelAgain.getByTestId('saved-reference').waitFor();
    assert.match(await next.textContent(), /\(11 left\)/);
    await next.click();
    await page.waitForFunction((i) => document.querySelector('[data-testid="bean-panel"]')?.dataset.index !== i, asked);
  } else {
    assert.equal(await card.getByTestId('tray-teach-camera').count(), 0);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('a tray shared out over a pool of workers gives the beans, labels and counts of one worker', { timeout: 480_000 }, async (t) => {
  const photo = await readFile(PHOTO);
  const runs = {};
  for (const workers of [1, 3]) {
    const context = await browser.newContext({ ...devices['Pixel 7'], serviceWorkers: 'block' });
    const { page, errors } = await open(context, `?workers=${workers}`);
    await page.locator('label[for="mode-tray"]').click();
    // Helpers start once the main classifier is ready; give them time to load the model too.
    await page.waitForTimeout(workers > 1 ? 5000 : 0);
    const started = Date.now();
    await drop(page, [{ name: 'tray.jpg', type: 'image/jpeg', buffer: photo }]);
    const [tray] = await settledTrays(page, 1);
    assert.equal(tray.state, 'done', tray.error);
    t.diagnostic(`${workers} worker(s): ${tray.beans} beans in ${Date.now() - started} ms`);
    runs[workers] = { rows: await exportCsv(page), table: await countTable(page) };
    assert.deepEqual(errors, []);
    await context.close();
  }
  const [one, pool] = [runs[1], runs[3]];
  assert.equal(pool.rows.length, one.rows.length);
  const box = (r) => [r.left, r.top, r.width, r.height].join();
  assert.deepEqual(pool.rows.map(box), one.rows.map(box), 'the same beans, in the same order');
  const differ = one.rows.filter((r, i) => r.label !== pool.rows[i].label).length;
  // Beans embedded in other batches may round differently in the last bits; labels must agree.
  assert.ok(differ <= 1, `${differ} of ${one.rows.length} labels differ between one worker and the pool`);
  if (differ === 0) assert.deepEqual(pool.table.rows, one.table.rows);
});
