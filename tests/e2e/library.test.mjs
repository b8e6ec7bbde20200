// The shared reference library against a real Qdrant server (tests/e2e/qdrant.mjs; each test
// starts its own): phones are browser contexts on the page (separate storage), set up through
// Settings → Shared reference library like a grader would.
// Run: BEANSCAN_QDRANT=$(./build.sh qdrant | tail -1) node --test tests/e2e/library.test.mjs
//      (after ./build.sh build; needs /usr/bin/chromium)
// Env: as page.test.mjs (BEANSCAN_WWW, BEANSCAN_DATA, CHROMIUM), BEANSCAN_QDRANT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { devices } from 'playwright-core';
import {
  BATCH_TIMEOUT, asFiles, cardsOn, classNamesOn, launchBrowser, pickPhotos, settledCards, startServer, waitReady,
} from './harness.mjs';
import { startQdrant } from './qdrant.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const site = resolve(process.env.BEANSCAN_WWW ?? join(repo, 'www'));
const data = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'greencoffee');
const TRAY = join(resolve(process.env.BEANSCAN_DATA ?? join(repo, '../shared/data')), 'trays/Normal/20210212_144153.jpg');
const TEST_TIMEOUT = 600_000;
const COLLECTION = 'beanscan-references';
const SYNC_GOAL_MS = 2_000; // confirmed on one phone → the other's vote changed, from its sync's start

let server;
let browser;
let origin;

before(async () => {
  let url;
  ({ child: server, url } = await startServer(site));
  origin = new URL(url).origin;
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close();
  server?.kill();
});

/** A phone: its own browser context (own IndexedDB), the page loaded and ready. */
async function phone(t, options = {}) {
  const context = await browser.newContext({ ...devices['Pixel 7'], ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) errors.push(msg.text());
  });
  await page.goto(origin + '/');
  await waitReady(page);
  await openSettings(page);
  return { context, page, errors };
}

const openSettings = (page) => page.getByTestId('settings').evaluate((d) => { d.open = true; });

/** The library's status (its line's data attributes and text, and its message) from a copy. */
const asStatus = ({ state, count, graders, waiting, syncs, saved, syncedSaved, changes, text, message }) => ({
  state, count: Number(count), graders: Number(graders), waiting: Number(waiting), syncs: Number(syncs),
  saved: Number(saved), syncedSaved: Number(syncedSaved), changes: Number(changes), text, message,
});
/** Waits until the page has finished more than `after` syncs, the last of them started once more
 *  than `saved` settings were saved and `changes` changes made (and, if `idle`, none runs; if
 *  `sent`, every change made was sent and the sync ended well), then reads the status line's data
 *  attributes and text and the message under it in the same step: a periodic sync starting just
 *  after, or one from before the settings or change awaited, cannot stand in for the one awaited. */
async function statusWhen(page, { after = -1, saved = -1, changes = -1, idle = false, sent = false } = {}) {
  const handle = await page.waitForFunction(([n, saved, changes, idle, sent]) => {
    const s = document.querySelector('[data-testid="library-status"]');
    const d = s.dataset;
    const done = Number(d.syncs) > n && Number(d.syncedSaved) > saved && Number(d.syncedChanges) > changes;
    const allSent = d.syncedChanges === d.changes && d.waiting === '0' && d.state === 'ok';
    if (!done || (idle && d.state === 'syncing') || (sent && !allSent)) return false;
    return { ...d, text: s.textContent, message: document.querySelector('[data-testid="library-message"]').textContent };
  }, [after, saved, changes, idle, sent], { timeout: 60_000 });
  return asStatus(await handle.jsonValue());
}
const libraryStatus = (page) => statusWhen(page);
const changesOn = async (page) => (await libraryStatus(page)).changes;
const libraryMessage = (page) => page.getByTestId('library-message').textContent();
const syncedAfter = (page, after) => statusWhen(page, { after, idle: true });

/** Sync now (once no other sync runs); resolves to the status after it. */
async function syncNow(page) {
  const { syncs } = await statusWhen(page, { idle: true });
  await page.getByTestId('library-sync').click();
  return syncedAfter(page, syncs);
}

/** Settings → Shared reference library → Save (which syncs); resolves to the status after it. */
async function setUp(page, { url, key, grader = 'Ana', place = 'Santos' }) {
  const { syncs, saved } = await libraryStatus(page);
  await page.getByTestId('library-address').fill(url);
  await page.getByTestId('library-key').fill(key);
  await page.getByTestId('library-site').fill(place);
  await page.getByTestId('library-grader').fill(grader);
  await page.getByTestId('library-save').click();
  return statusWhen(page, { after: syncs, saved, idle: true });
}

/** Waits until every change was sent and a sync ended well; with `changes` (how many the page had
 *  made before a click that makes one more), only once that new one was made and sent. */
const allSent = (page, changes = -1) => statusWhen(page, { changes, sent: true });

async function slide(page, testid, value) {
  await page.getByTestId(testid).evaluate((input, v) => {
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

const labelOf = (page, file) => page.$eval(`[data-testid="result"][data-file="${file}"]`, (c) => c.dataset.label);
const waitLabel = (page, file, label, timeout = 30_000) => page.waitForFunction(
  ([f, l]) => document.querySelector(`[data-testid="result"][data-file="${f}"]`)?.dataset.label === l, [file, label], { timeout },
);

/** Distinct validation photos of greencoffee, spread over the classes, in a fixed order. */
async function validationPhotos(n) {
  const [header, ...lines] = (await readFile(join(data, 'manifest.csv'), 'utf8')).trim().split(/\r?\n/);
  const cols = header.split(',');
  const rows = lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [cols[i], v])))
    .filter((r) => r.split === 'val' && r.label_applies === '1');
  const step = Math.floor(rows.length / n);
  return Array.from({ length: n }, (_, i) => rows[i * step])
    .map((r) => ({ path: join(data, r.path), name: r.path.replaceAll('/', '-'), label: r.label }));
}

test('two phones: a bean corrected on one changes the other\'s vote after its sync, and Undo reaches it too', { timeout: TEST_TIMEOUT }, async (t) => {
  const qdrant = await startQdrant();
  t.after(() => qdrant.stop());
  const [a, b] = await Promise.all([phone(t), phone(t)]);
  const classNames = await classNamesOn(a.page);
  let status = await setUp(a.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Ana' });
  assert.equal(status.state, 'ok', await libraryMessage(a.page));
  status = await setUp(b.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Bruno', place: 'Varginha' });
  assert.equal(status.state, 'ok', await libraryMessage(b.page));
  assert.equal((await qdrant.api('GET', `/collections/${COLLECTION}`)).status, 200, 'the first phone made the collection');
  assert.match(status.text, /Shared library: 0 references from 0 graders · last synced/);

  // B goes offline (the train, the cellar) until A's change is on the server: then it syncs by
  // itself, on the 'online' event, and nothing else syncs it before.
  await b.context.setOffline(true);

  // One neighbour votes: the nearest reference decides. The same photo on both phones.
  await slide(a.page, 'k', 1);
  await slide(b.page, 'k', 1);
  const [photo] = await pickPhotos(data, ['Sour']);
  await Promise.all([a, b].map(async ({ page }) => page.getByTestId('picker').setInputFiles(await asFiles([photo]))));
  const [[onA], [onB]] = await Promise.all([settledCards(a.page, 1), settledCards(b.page, 1)]);
  assert.equal(onA.label, onB.label, 'both phones label the photo alike');
  const corrected = classNames.find((c) => c !== onA.label);
  t.diagnostic(`${photo.name}: ${onA.label} on both; corrected to ${corrected} on A`);

  // A corrects it; the outbox is sent on its own (no button pressed).
  await a.page.getByTestId('correct-label').selectOption(corrected);
  let made = await changesOn(a.page);
  await a.page.getByTestId('save-reference').click();
  await a.page.getByTestId('saved-reference').waitFor();
  await allSent(a.page, made);
  assert.equal(await qdrant.count(COLLECTION), 1);
  const [point] = (await qdrant.api('POST', `/collections/${COLLECTION}/points/scroll`, { with_payload: true, with_vector: true })).json.result.points;
  assert.equal(point.payload.label, corrected);
  assert.equal(point.payload.grader, 'Ana');
  assert.equal(point.payload.site, 'Santos');
  assert.equal(point.payload.deleted, false);
  assert.equal(point.vector.length, 128);
  assert.equal(await labelOf(b.page, photo.name), onB.label, 'B has not synced yet');

  // B is back online and syncs: its vote changes, measured from the sync's start.
  const { syncs } = await libraryStatus(b.page);
  const t0 = Date.now();
  await b.context.setOffline(false);
  await waitLabel(b.page, photo.name, corrected, 10_000);
  const ms = Date.now() - t0;
  t.diagnostic(`confirmed on A → B's vote changed ${ms} ms after B's sync started (goal ≤ ${SYNC_GOAL_MS} ms)`);
  console.log(`# A→B: B's label changed ${ms} ms after its sync started`);
  assert.ok(ms <= SYNC_GOAL_MS, `B's vote changed ${ms} ms after its sync started`);
  status = await syncedAfter(b.page, syncs);
  assert.equal(status.count, 1);
  assert.equal(status.graders, 1);
  assert.match(status.text, /Shared library: 1 reference from 1 grader · last synced \d/);
  const [card] = await cardsOn(b.page);
  assert.equal(card.addedNeighbours, 1);
  assert.equal(await b.page.locator('[data-testid="neighbour"][data-shared="true"]').count(), 1, 'the neighbour is marked shared');
  assert.ok(await b.page.getByTestId('added-only').isEnabled(), 'shared references may be the only voters');

  // A point of another model on the server is never mixed in.
  const other = { ...point, id: crypto.randomUUID(), payload: { ...point.payload, model_id: '00000000', ref_id: 'user-00000000' } };
  assert.equal((await qdrant.api('PUT', `/collections/${COLLECTION}/points?wait=true`, { points: [other] })).status, 200);
  status = await syncNow(b.page);
  assert.equal(status.state, 'ok', await libraryMessage(b.page));
  assert.equal(status.count, 1, 'another model\'s point stays out');

  // Undo on A: a tombstone; after B's sync its label goes back.
  await b.context.setOffline(true);
  made = await changesOn(a.page);
  await a.page.getByTestId('undo-reference').click();
  await a.page.getByTestId('correct-label').waitFor();
  await allSent(a.page, made);
  const tombstone = (await qdrant.api('GET', `/collections/${COLLECTION}/points/${point.id}`)).json.result;
  assert.equal(tombstone.payload.deleted, true);
  assert.ok(tombstone.payload.updated_at > point.payload.updated_at);
  assert.equal(await labelOf(b.page, photo.name), corrected);
  const before = (await libraryStatus(b.page)).syncs;
  const t1 = Date.now();
  await b.context.setOffline(false);
  await waitLabel(b.page, photo.name, onB.label, 10_000);
  t.diagnostic(`Undo on A → B's label back ${Date.now() - t1} ms after B's sync started`);
  status = await syncedAfter(b.page, before);
  assert.equal(status.count, 0);
  assert.match(status.text, /Shared library: 0 references from 0 graders/);
  assert.equal(await qdrant.count(COLLECTION, { must: [{ key: 'model_id', match: { value: point.payload.model_id } }] }), 1, 'Undo keeps one point, a tombstone');

  // A reload of B keeps what it pulled (none voting now) and its settings, key included.
  await b.page.reload();
  await waitReady(b.page);
  await openSettings(b.page);
  assert.equal(await b.page.getByTestId('library-address').inputValue(), qdrant.url);
  assert.equal(await b.page.getByTestId('library-key').inputValue(), qdrant.apiKey);
  assert.ok(!b.page.url().includes(qdrant.apiKey), 'the key is never in a URL');
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test('100 confirmations made offline are all on the server once they are back online, once each', { timeout: TEST_TIMEOUT }, async (t) => {
  const qdrant = await startQdrant();
  t.after(() => qdrant.stop());
  const a = await phone(t);
  let status = await setUp(a.page, { url: qdrant.url, key: qdrant.apiKey });
  assert.equal(status.state, 'ok', await libraryMessage(a.page));

  const photos = await validationPhotos(100);
  await a.page.getByTestId('picker').setInputFiles(await asFiles(photos));
  const cards = await settledCards(a.page, photos.length);
  assert.equal(cards.filter((c) => c.kind === 'result').length, photos.length);

  await a.context.setOffline(true);
  const t0 = Date.now();
  for (const p of photos) {
    const card = a.page.locator(`[data-testid="result"][data-file="${p.name}"]`);
    await card.getByTestId('save-reference').click(); // Confirm
    await card.getByTestId('saved-reference').waitFor({ timeout: BATCH_TIMEOUT });
  }
  t.diagnostic(`100 confirmations offline in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ids = await a.page.evaluate(() => document.querySelector('[data-testid="reference-count"]').textContent);
  assert.equal(Number(ids), 100);
  await a.page.waitForFunction(() => document.querySelector('[data-testid="library-status"]').dataset.waiting === '100');
  status = await syncNow(a.page);
  assert.equal(status.state, 'offline');
  assert.match(status.text, /100 waiting to send · offline/);
  assert.equal(await qdrant.count(COLLECTION), 0, 'nothing left the phone while offline');

  // The page is closed while offline: the outbox is in IndexedDB. Back online, the page opened
  // again sends it on its own.
  await a.page.close();
  await a.context.setOffline(false);
  const page = await a.context.newPage();
  await page.goto(origin + '/');
  await waitReady(page);
  status = await allSent(page);
  assert.equal(await qdrant.count(COLLECTION), 100, 'every confirmation is on the server');
  assert.equal(await qdrant.count(COLLECTION, { must: [{ key: 'deleted', match: { value: false } }, { key: 'grader', match: { value: 'Ana' } }] }), 100);
  // Sent again (a retry, another sync): still once each.
  await page.getByTestId('settings').evaluate((d) => { d.open = true; });
  status = await syncNow(page);
  assert.equal(status.state, 'ok');
  assert.equal(await qdrant.count(COLLECTION), 100, 'nothing doubled');
  assert.equal(status.count, 0, 'one\'s own references are not counted again as shared');

  // Another phone gets all 100.
  const b = await phone(t);
  status = await setUp(b.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Bruno' });
  assert.equal(status.state, 'ok', await libraryMessage(b.page));
  assert.equal(status.count, 100);
  assert.match(status.text, /Shared library: 100 references from 1 grader/);

  // A fresh page (or a restarted worker) votes with what was pulled before, from IndexedDB,
  // before it has synced; and its pull asks only for what changed since.
  const scrolls = [];
  b.page.on('request', (r) => { if (r.url().endsWith('/points/scroll')) scrolls.push(JSON.parse(r.postData())); });
  await b.page.reload();
  await waitReady(b.page);
  await b.page.waitForFunction(() => document.querySelector('[data-testid="library-status"]').dataset.count === '100');
  status = await allSent(b.page);
  assert.equal(status.count, 100);
  assert.ok(scrolls.length >= 1 && scrolls.every((body) => body.filter.must.some((m) => m.range?.gte > 0)), 'an incremental pull');
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test('a read-only key, a wrong key and an unreachable server each say so and keep the outbox', { timeout: TEST_TIMEOUT }, async (t) => {
  const qdrant = await startQdrant();
  t.after(() => qdrant.stop());
  const a = await phone(t);

  // A viewer's key cannot make the collection.
  let status = await setUp(a.page, { url: qdrant.url, key: qdrant.readOnlyKey });
  assert.equal(status.state, 'error');
  assert.match(await libraryMessage(a.page), /does not exist yet and this API key may not create it \(HTTP 403\)/);
  status = await setUp(a.page, { url: qdrant.url, key: qdrant.apiKey });
  assert.equal(status.state, 'ok', await libraryMessage(a.page));

  // A confirmation with the viewer's key: refused with a message, kept.
  status = await setUp(a.page, { url: qdrant.url, key: qdrant.readOnlyKey });
  assert.equal(status.state, 'ok', 'a viewer\'s key reads');
  const [photo] = await pickPhotos(data, ['Black']);
  await a.page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  await settledCards(a.page, 1);
  const made = await changesOn(a.page);
  await a.page.getByTestId('save-reference').click();
  await a.page.getByTestId('saved-reference').waitFor();
  status = await statusWhen(a.page, { changes: made, idle: true });
  assert.equal(status.state, 'error');
  assert.equal(status.waiting, 1);
  const readOnly = await libraryMessage(a.page);
  t.diagnostic(readOnly);
  assert.match(readOnly, /This API key may only read the shared library \(HTTP 403\): 1 change waits on this device until a key that may write is set/);
  assert.match(status.text, /1 waiting to send/);
  assert.equal(await qdrant.count(COLLECTION), 0);

  // A wrong key.
  status = await setUp(a.page, { url: qdrant.url, key: 'not-the-key' });
  assert.equal(status.state, 'error');
  assert.equal(status.waiting, 1);
  assert.match(await libraryMessage(a.page), /The shared library refused the API key \(HTTP 401: Invalid API key or JWT\).*1 change waits on this device/);

  // No server at that address.
  const gone = await startQdrant();
  const deadUrl = gone.url;
  await gone.stop();
  status = await setUp(a.page, { url: deadUrl, key: qdrant.apiKey });
  assert.equal(status.state, 'error');
  assert.equal(status.waiting, 1);
  assert.match(await libraryMessage(a.page), new RegExp(`The shared library at ${deadUrl} could not be reached .*1 change waits`));

  // Not an address at all: refused before anything is kept.
  await a.page.getByTestId('library-address').fill('qdrant.example.org');
  await a.page.getByTestId('library-save').click();
  await a.page.waitForFunction(() => /is not an address/.test(document.querySelector('[data-testid="library-message"]').textContent));

  // The right key again: the kept change goes.
  status = await setUp(a.page, { url: qdrant.url, key: qdrant.apiKey });
  await allSent(a.page);
  assert.equal(await qdrant.count(COLLECTION), 1);
  assert.equal(await libraryMessage(a.page), '');
  assert.deepEqual(a.errors, []);
});

test('bad answers from the server are refused with a message and change nothing here', { timeout: TEST_TIMEOUT }, async (t) => {
  const qdrant = await startQdrant();
  t.after(() => qdrant.stop());
  // No service worker: the routes below see every request.
  const [a, b] = await Promise.all([phone(t, { serviceWorkers: 'block' }), phone(t, { serviceWorkers: 'block' })]);
  const classNames = await classNamesOn(a.page);
  await setUp(a.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Ana' });
  await setUp(b.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Bruno' });
  await slide(b.page, 'k', 1);
  const [photo] = await pickPhotos(data, ['Fissure']);
  await Promise.all([a, b].map(async ({ page }) => page.getByTestId('picker').setInputFiles(await asFiles([photo]))));
  const [[onA], [onB]] = await Promise.all([settledCards(a.page, 1), settledCards(b.page, 1)]);
  const corrected = classNames.find((c) => c !== onA.label);
  await a.page.getByTestId('correct-label').selectOption(corrected);
  let made = await changesOn(a.page);
  await a.page.getByTestId('save-reference').click();
  await a.page.getByTestId('saved-reference').waitFor();
  await allSent(a.page, made);
  await syncNow(b.page);
  await waitLabel(b.page, photo.name, corrected);

  const bad = Object.entries({
    'wrong dimension': [(j) => { j.result.points[0].vector.push(0); }, /point 1: its vector has 129 values; this model makes 128/],
    'NaN': [(j) => JSON.stringify(j).replace('"vector":[', '"vector":[NaN,'), /not JSON/],
    'a null in the vector': [(j) => { j.result.points[0].vector[3] = null; }, /not a number/],
    'unknown label': [(j) => { j.result.points[0].payload.label = 'Purple'; }, /label "Purple" is not one of the model's classes/],
    'another model': [(j) => { j.result.points[0].payload.model_id = '00000000'; }, /made with another model/],
    'a huge answer': [(j) => JSON.stringify(j) + ' '.repeat(9 << 20), /bytes, more than the 8388608 a page may take/],
  });
  // Every answer B gets is spoiled from here on, its periodic syncs' too, until the route goes.
  let spoil = bad[0][1][0];
  const answers = [];
  await b.page.route('**/points/scroll', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    answers.push(json.result.points.length);
    const body = (json.result.points.length ? spoil(json) : undefined) ?? JSON.stringify(json);
    await route.fulfill({ response, body, headers: { ...response.headers(), 'content-length': String(Buffer.byteLength(body)) } });
  });
  // A takes it back: a good answer would now change B's vote; the bad ones below must not.
  made = await changesOn(a.page);
  await a.page.getByTestId('undo-reference').click();
  await allSent(a.page, made);

  for (const [what, [spoilWith, message]] of bad) {
    spoil = spoilWith;
    const status = await syncNow(b.page);
    t.diagnostic(`${what}: ${status.message}`);
    assert.equal(status.state, 'error', what);
    assert.match(status.message, message, what);
    assert.match(status.message, /^The shared library's answer was refused: .*Nothing of it was taken/, what);
    assert.equal(status.count, 1, `${what}: the shared references stay as they were`);
    assert.equal(await labelOf(b.page, photo.name), corrected, `${what}: the vote is unchanged`);
  }
  await b.page.unroute('**/points/scroll');
  assert.ok(answers.every((n) => n >= 1), `every answer held the reference or its tombstone: ${answers}`);

  // A good answer again: the tombstone is taken.
  const status = await syncNow(b.page);
  assert.equal(status.state, 'ok', await libraryMessage(b.page));
  await waitLabel(b.page, photo.name, onB.label);
  assert.equal(status.count, 0);
  assert.deepEqual([...a.errors, ...b.errors], []);
});

/** The point id of a reference (UUID v5, as library::point_id makes it; checked below against a
 *  point a phone sent). */
function pointId(modelId, refId) {
  const ns = Buffer.from('6ba7b8129dad11d180b400c04fd430c8', 'hex'); // the OID namespace
  const h = createHash('sha1').update(Buffer.concat([ns, Buffer.from(`beanscan/${modelId}/${refId}`)])).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** `n` references of the model, random unit vectors under random classes, as another phone would
 *  have sent them, written straight into the collection, 1,000 a request. */
async function fillLibrary(qdrant, { n, modelId, classNames, dim }) {
  let seed = 12345;
  const random = () => { // mulberry32: the same library every run
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const now = Date.now();
  for (let i = 0; i < n; i += 1000) {
    const points = Array.from({ length: Math.min(1000, n - i) }, (_, j) => {
      const refId = `user-${(0x80000000 + i + j).toString(16)}`;
      const v = Array.from({ length: dim }, () => random() - 0.5);
      const norm = Math.hypot(...v);
      return {
        id: pointId(modelId, refId),
        vector: v.map((x) => x / norm),
        payload: {
          ref_id: refId, label: classNames[Math.floor(random() * classNames.length)], model_id: modelId,
          grader: 'Carla', device: 'web-0000000000000000', site: 'Patrocínio', created_at: now, updated_at: now, deleted: false,
        },
      };
    });
    const { status, json } = await qdrant.api('PUT', `/collections/${COLLECTION}/points?wait=true`, { points });
    assert.equal(status, 200, JSON.stringify(json).slice(0, 300));
  }
}

/** Pulled references kept in the phone's IndexedDB. */
const keptInBrowser = (page) => page.evaluate(() => new Promise((ok, fail) => {
  const open = indexedDB.open('beanscan');
  open.onerror = () => fail(open.error);
  open.onsuccess = () => {
    const count = open.result.transaction('shared').objectStore('shared').count();
    count.onsuccess = () => { open.result.close(); ok(count.result); };
    count.onerror = () => fail(count.error);
  };
}));

const panelMessage = (page) => page.getByTestId('panel-message').textContent();

test('a library too large to keep: online each bean asks the server for its nearest, offline or on a refused answer the kept references vote', { timeout: TEST_TIMEOUT }, async (t) => {
  const started = Date.now();
  const qdrant = await startQdrant();
  t.after(() => qdrant.stop());
  // No service worker on B: the route below sees its searches. C keeps what it pulled before.
  const [a, b, c] = await Promise.all([phone(t), phone(t, { serviceWorkers: 'block' }), phone(t)]);
  const classNames = await classNamesOn(a.page);
  let status = await setUp(a.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Ana' });
  assert.equal(status.state, 'ok', await libraryMessage(a.page));
  assert.equal(status.text.includes('asks the server'), false);

  // A shows the photo with one neighbour voting (the bundle's label), corrects it, and sends it.
  await slide(a.page, 'k', 1);
  await slide(b.page, 'k', 1);
  const [photo] = await pickPhotos(data, ['Broken']);
  await a.page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  const [onA] = await settledCards(a.page, 1);
  const bundled = onA.label;
  const corrected = classNames.find((c) => c !== bundled);
  await a.page.getByTestId('correct-label').selectOption(corrected);
  const made = await changesOn(a.page);
  await a.page.getByTestId('save-reference').click();
  await a.page.getByTestId('saved-reference').waitFor();
  await allSent(a.page, made);
  const [point] = (await qdrant.api('POST', `/collections/${COLLECTION}/points/scroll`, { with_payload: true, with_vector: true })).json.result.points;
  const modelId = point.payload.model_id;
  assert.equal(pointId(modelId, point.payload.ref_id), point.id, 'the test makes point ids as the module does');
  status = await setUp(c.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Célia' });
  assert.equal(status.count, 1, 'C keeps the library while it is small');
  await slide(c.page, 'k', 1);
  // C is away while the library grows (so no periodic sync of C's lands in the middle of it).
  await c.context.setOffline(true);

  // Then the library grows past what a phone keeps.
  const localMax = 20_000;
  const bulk = localMax + 500;
  const t0 = Date.now();
  await fillLibrary(qdrant, { n: bulk, modelId, classNames, dim: point.vector.length });
  t.diagnostic(`${bulk} references written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(await qdrant.count(COLLECTION), bulk + 1);

  // B is set up: it counts the library, does not pull it, and says so.
  const asked = []; // beans per search request B sends
  const listed = [];
  b.page.on('request', (r) => {
    if (r.url().endsWith('/points/search/batch')) asked.push(JSON.parse(r.postData()).searches.length);
    if (r.url().endsWith('/points/scroll')) listed.push(r.url());
  });
  const took = []; // ms from each search's start to its answer's end
  b.page.on('requestfinished', (r) => { if (r.url().endsWith('/points/search/batch')) took.push(r.timing().responseEnd); });
  status = await setUp(b.page, { url: qdrant.url, key: qdrant.apiKey, grader: 'Bruno' });
  assert.equal(status.state, 'ok', await libraryMessage(b.page));
  const mode = await b.page.getByTestId('library-status').evaluate((s) => ({ mode: s.dataset.mode, total: Number(s.dataset.total) }));
  assert.deepEqual(mode, { mode: 'server', total: bulk + 1 });
  assert.match(status.text, /^Shared library: asks the server for each bean's nearest: the library holds 20,501 references \(a phone keeps at most 20,000\) · 0 kept here for offline use · last synced/);
  assert.equal(status.count, 0, 'nothing pulled');
  assert.deepEqual(listed, [], 'no page of the library was asked for');
  assert.equal(await keptInBrowser(b.page), 0);

  // C, which kept the library while it was small, keeps what it has for offline use.
  await c.context.setOffline(false);
  status = await syncNow(c.page);
  assert.match(status.text, /the library holds 20,501 references .* · 1 kept here for offline use/);
  assert.equal(await keptInBrowser(c.page), 1);
  await c.context.setOffline(true);
  await c.page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  await settledCards(c.page, 1);
  assert.equal(await labelOf(c.page, photo.name), corrected, 'offline, C\'s kept reference votes');
  assert.match(await panelMessage(c.page), /^Offline: .* labelled with the 1 shared reference kept on this device \(of the library's 20,501\)/);

  // B's photo is labelled by the server's nearest reference: A's correction.
  const t1 = Date.now();
  await b.page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  await settledCards(b.page, 1);
  t.diagnostic(`B: photo labelled through the server in ${Date.now() - t1} ms (embedding included)`);
  assert.equal(await labelOf(b.page, photo.name), corrected);
  assert.deepEqual(asked, [1], 'one search for the photo');
  t.diagnostic(`B: the photo's search took ${took[0]?.toFixed(0)} ms`);
  const neighbour = b.page.locator('[data-testid="neighbour"]');
  assert.equal(await neighbour.count(), 1);
  assert.equal(await neighbour.getAttribute('data-shared'), 'true');

  // A refused answer (a hit under a class the model lacks): the kept references vote, said once.
  await b.page.route('**/points/search/batch', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    json.result[0][0].payload.label = 'Purple';
    const body = JSON.stringify(json);
    await route.fulfill({ response, body, headers: { ...response.headers(), 'content-length': String(Buffer.byteLength(body)) } });
  });
  await slide(b.page, 'k', 1); // a setting touched: everything is labelled again
  await waitLabel(b.page, photo.name, bundled);
  let said = await panelMessage(b.page);
  t.diagnostic(`refused: ${said}`);
  assert.match(said, /^The shared library's answer was refused: bean 1: label "Purple" is not one of the model's classes\. Beans are labelled with the 0 shared references kept on this device \(of the library's 20,501\) until it can be asked again\.$/);
  await b.page.unroute('**/points/search/batch');
  await slide(b.page, 'k', 1);
  await waitLabel(b.page, photo.name, corrected);
  assert.equal(await panelMessage(b.page), '', 'the server labels again: the message goes');

  // Offline: the kept references vote, said once; back online, the server again (on its own).
  await b.context.setOffline(true);
  const before = asked.length;
  await slide(b.page, 'k', 1);
  await waitLabel(b.page, photo.name, bundled);
  said = await panelMessage(b.page);
  t.diagnostic(`offline: ${said}`);
  assert.match(said, /^Offline: the shared library's server cannot be asked .* kept on this device/);
  assert.equal(asked.length, before, 'no search offline');
  status = await libraryStatus(b.page);
  assert.equal(status.state, 'offline');
  await b.context.setOffline(false);
  await waitLabel(b.page, photo.name, corrected);
  assert.equal((await libraryStatus(b.page)).count, 0);
  assert.equal(await keptInBrowser(b.page), 0, 'still nothing of the library kept');

  // A tray photo: every bean asks the server, in one request, and the tray is counted from it.
  await b.page.locator('label[for="mode-tray"]').click();
  const searches = asked.length;
  const t2 = Date.now();
  await b.page.getByTestId('picker').setInputFiles([{ name: 'tray.jpg', mimeType: 'image/jpeg', buffer: await readFile(TRAY) }]);
  await b.page.waitForFunction(() => document.querySelector('[data-testid="tray"]')?.dataset.state === 'done', null, { timeout: BATCH_TIMEOUT });
  const beans = Number(await b.page.getByTestId('tray').getAttribute('data-beans'));
  t.diagnostic(`B: a ${beans}-bean tray labelled through the server in ${Date.now() - t2} ms (finding and embedding included)`);
  assert.deepEqual(asked.slice(searches), [beans], 'one search for the whole tray');
  t.diagnostic(`B: the tray's search took ${took.at(-1)?.toFixed(0)} ms`);
  t.diagnostic(`whole test ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);
});

test('with no library set up, the page makes no request to any other address', { timeout: TEST_TIMEOUT }, async (t) => {
  const a = await phone(t);
  const seen = [];
  a.page.on('request', (r) => seen.push(r.url()));
  const [photo] = await pickPhotos(data, ['Normal']);
  await a.page.getByTestId('picker').setInputFiles(await asFiles([photo]));
  await settledCards(a.page, 1);
  await a.page.getByTestId('save-reference').click();
  await a.page.getByTestId('saved-reference').waitFor();
  assert.ok(await a.page.getByTestId('library-sync').isDisabled());
  await new Promise((ok) => setTimeout(ok, 1500)); // past the sync-after-a-change delay
  const status = await libraryStatus(a.page);
  assert.equal(status.state, 'off');
  assert.match(status.text, /Not set up/);
  const foreign = seen.filter((u) => !/^(blob|data):/.test(u) && new URL(u).origin !== origin);
  assert.deepEqual(foreign, []);
  assert.deepEqual(a.errors, []);
});
