// Shared by the end-to-end tests: the static server and the headless browser.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** Serves `site` on a free loopback port; resolves to { child, url, requests } once it listens,
 * `requests` growing with what the server answers: {method, path (with its query), status, bytes}.
 * `env`: more of serve.mjs's settings, e.g. { SERVE_ISOLATED: '1' }. */
export async function startServer(site, env = {}) {
  const child = spawn(process.execPath, [join(here, 'serve.mjs'), site], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', SERVE_LOG: '1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const requests = [];
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('static server did not start in 10 s')), 10_000);
    let out = '';
    child.stdout.on('data', (chunk) => {
      const lines = (out + chunk).split('\n');
      out = lines.pop();
      for (const line of lines) {
        const served = line.match(/ at (http:\/\/\S+)$/);
        if (served) { clearTimeout(timer); ok(served[1]); }
        const m = line.match(/^(GET|HEAD) (\S+) (\d+) (\d+)$/);
        if (m) requests.push({ method: m[1], path: m[2], status: Number(m[3]), bytes: Number(m[4]) });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`static server exited (${code})`)); });
  });
  return { child, url, requests };
}

/** Debian's Chromium, headless, with no background traffic (the machine has no network). */
export function launchBrowser(executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium', extraArgs = []) {
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

export const LOAD_TIMEOUT = 180_000;  // model download + init on a slow CPU
export const BATCH_TIMEOUT = 240_000; // a few photos on CPU

/** Validation photos of greencoffee (folder `data`), one per class asked for (deterministic). */
export async function pickPhotos(data, labels) {
  const [header, ...lines] = (await readFile(join(data, 'manifest.csv'), 'utf8')).trim().split(/\r?\n/);
  const cols = header.split(',');
  const rows = lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [cols[i], v])));
  return labels.map((label, i) => {
    const round = i % 2 ? 'r1' : 'r2';
    const ok = (r) => r.split === 'val' && r.label === label && r.label_applies === '1';
    const row = rows.find((r) => ok(r) && r.round === round) ?? rows.find(ok);
    assert.ok(row, `no validation photo of class ${label} in manifest.csv`);
    return { path: join(data, row.path), name: row.path.replaceAll('/', '-'), label };
  });
}

/** Picker entries for setInputFiles. */
export const asFiles = (photos) => Promise.all(photos.map(async (p) => ({
  name: p.name, mimeType: 'image/jpeg', buffer: await readFile(p.path),
})));

/** Waits for the status to leave "loading" and insists it is "ready". */
export async function waitReady(page) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="status"]')?.dataset.state !== 'loading',
    null,
    { timeout: LOAD_TIMEOUT },
  );
  const status = page.getByTestId('status');
  assert.equal(await status.getAttribute('data-state'), 'ready', `page not ready: ${await status.textContent()}`);
}

/** What the result cards show, in page order. */
export const cardsOn = (page) => page.$$eval('[data-testid="result"], [data-testid="result-error"]', (cards) => cards.map((c) => ({
  kind: c.dataset.testid,
  file: c.dataset.file,
  label: c.dataset.label,
  confidence: Number(c.dataset.confidence),
  distance: Number(c.dataset.distance),
  unknown: c.dataset.unknown,
  decoder: c.dataset.decoder,
  shownLabel: c.querySelector('[data-testid="label"]')?.textContent,
  shownConfidence: c.querySelector('[data-testid="confidence"]')?.textContent,
  badge: Boolean(c.querySelector('[data-testid="unknown-badge"]')),
  neighbours: c.querySelectorAll('[data-testid="neighbour"]').length,
  addedNeighbours: c.querySelectorAll('[data-testid="neighbour"][data-added="true"]').length,
  error: c.querySelector('[data-testid="error-message"]')?.textContent,
})));

/** Waits until `n` cards are settled (no pending ones) and returns what they show. */
export async function settledCards(page, n) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="result"], [data-testid="result-error"]').length >= n
      && !document.querySelector('[data-testid="result-pending"]'),
    n,
    { timeout: BATCH_TIMEOUT },
  );
  return cardsOn(page);
}

export function checkLabelled(card, classNames) {
  assert.equal(card.kind, 'result', `${card.file}: ${card.error}`);
  assert.ok(classNames.includes(card.label), `${card.file}: label ${card.label} is not one of ${classNames}`);
  assert.equal(card.shownLabel, card.label);
  assert.ok(card.confidence >= 0 && card.confidence <= 1, `${card.file}: confidence ${card.confidence}`);
  assert.match(card.shownConfidence, /^\d{1,3}%$/);
  assert.ok(Number.isFinite(card.distance) && card.distance >= 0, `${card.file}: distance ${card.distance}`);
  assert.ok(card.unknown === 'true' || card.unknown === 'false');
}

export const classNamesOn = (page) => page.$$eval('[data-testid="class-name"]', (els) => els.map((e) => e.textContent));
