// beanscan page: queues photos, sends them one at a time to the worker, shows a card per photo,
// re-labels shown results when k, the threshold or the reference beans change, and keeps the
// user's reference beans in IndexedDB. The single-bean view lives here; card rendering, the
// summary, the worker client, the tray view (tray-view.js) and the shared reference library
// (shared-library.js) are their own modules.
import { ClassifierPool } from './classifier-client.js';
import { download, el } from './dom.js';
import { loadReferences, loadUserBundle, saveReferences, saveUserBundle } from './device-store.js';
import { pendingCard, renderError, renderResult } from './results.js';
import { SharedLibrary } from './shared-library.js';
import { proposeBeans } from './notice.js';
import { renderSummary, summarize, toCsv } from './summary.js';
import { TrayView } from './tray-view.js';

const $ = (id) => document.getElementById(id);
const MAX_BYTES = 40 * 1024 * 1024;
const SETTINGS_KEY = 'beanscan-settings';
const MODE_KEY = 'beanscan-mode';

const statusEl = $('status');
const classesEl = $('classes');
const dropEl = $('drop');
const resultsEl = $('results');
const progressBox = $('progress-box');
const progressEl = $('progress');
const progressText = $('progress-text');
const kInput = $('k');
const thresholdInput = $('threshold');
const trayThresholdInput = $('tray-threshold'); // tray beans have their own: another camera, another distance
const addedOnlyInput = $('added-only');

// ---------- state ----------

let info = null;          // what the running classifier reported: backend, bundle, classes, k, thresholds
let settings = savedSettings(); // {k, threshold, trayThreshold, addedOnly, bundle} chosen by the user (kept across reloads)
let bundleDefaults = '';        // the running bundle's model and default k and thresholds
let customBundle;         // bytes of a bundle the user loaded, null for the built-in one (undefined: not read yet)
let references = [];      // [{id, label}] added on this device
const entries = [];       // one per photo, oldest first: {file, card, result?, error?, reference?}

// ---------- the classifier ----------

const backend = new URLSearchParams(location.search).get('backend') || undefined;
// Workers in all: one per core (at most 4: each holds its own copy of the model); `?workers=N` overrides.
const workers = Number(new URLSearchParams(location.search).get('workers')) || Math.min(navigator.hardwareConcurrency || 1, 4);
const client = new ClassifierPool({
  backend,
  size: workers,
  bundleBytes: () => customBundle ?? null,
  modelId: () => info?.modelId,
  onLoading: () => setStatus('loading', 'Loading the model…'),
  onFailed: (why) => {
    setStatus('error', `The model could not be loaded: ${why}`);
    registerOffline();
  },
  onReady: restore,
});

// The company's shared reference library (Settings → Shared reference library), when set up.
const library = new SharedLibrary({
  client,
  ownIds: () => new Set(references.map((r) => r.id)),
  onChange: async (voters) => {
    if (info && voters) info.addedOnly = voters.addedOnly;
    showAddedOnly();
    await relabelAll();
  },
  tell: (text, replacing) => {
    if (replacing === undefined || $('panel-message').textContent === replacing) panelMessage(text);
  },
});

/** Labels of cached embeddings (`tray`: tray beans): from the shared library's server while it is
 *  too large to keep here, else (or when the server cannot be asked) the classifier's own vote.
 *  Resolves to {result: Prediction[]} | {error}. */
async function vote(embeddings, tray, ask = (op, ...args) => client.request(op, ...args)) {
  const asked = await library.vote(embeddings, tray, ask);
  return asked ? { result: asked } : ask(tray ? 'labelTrayBeans' : 'label', embeddings);
}

/** A fresh worker: put back the user's bundle, settings and references, then show it. */
async function restore(ready, send) {
  registerOffline();
  keepForOffline(ready.moduleFiles);
  let next = ready;
  if (customBundle === undefined) customBundle = (await loadUserBundle().catch(() => null)) ?? null;
  if (customBundle) {
    const reply = await send('loadBundle', customBundle);
    if (reply.error === undefined) next = reply.result;
    else {
      customBundle = null;
      saveUserBundle(null).catch(() => {});
      panelMessage(`Your bundle could not be loaded again, the built-in one is used: ${reply.error}`);
    }
  }
  const modelChanged = info !== null && info.modelId !== next.modelId;
  // References first: voting among one's own references needs them in place (then the shared
  // library's, of which one's own are left out).
  await restoreReferences(next.modelId, send);
  await library.restore(next.modelId, send);
  if (settingsFit(next)) {
    const reply = await send('settings', settings);
    if (reply.error === undefined) Object.assign(next, reply.result);
  }
  const listed = await send('references');
  references = listed.result ?? [];
  showReady(next);
  if (modelChanged) dropResultsOfOtherModel();
  else relabelAll(send);
}

async function restoreReferences(modelId, send) {
  let stored;
  try {
    stored = await loadReferences(modelId);
  } catch (err) {
    panelMessage(`Saved reference beans could not be read from this browser's storage: ${err?.message ?? err}`);
    return;
  }
  if (!stored) return;
  const reply = await send('importReferences', stored);
  if (reply.error !== undefined) panelMessage(`Saved reference beans could not be restored: ${reply.error}`);
}

/** Confirm / Correct, on a card or a tray bean (`item`): the bean becomes a reference, kept,
 *  queued for the shared library, and every result is re-labelled. */
async function addReference(item, embedding, label) {
  const { id, file } = await client.call('addReference', embedding, label);
  item.reference = { id, label };
  await keepReferences(file);
  await library.changed({ refId: id, label, embedding, deleted: false });
  await relabelAll();
}

/** Undo of `item.reference`: removed here, and from the shared library. */
async function removeReference(item, embedding) {
  const { id, label } = item.reference;
  const { file } = await client.call('removeReference', id);
  item.reference = undefined;
  await keepReferences(file);
  await library.changed({ refId: id, label, embedding, deleted: true });
  await relabelAll();
}

/** Stores the references file the worker returned and updates the count. */
async function keepReferences(file) {
  references = await client.call('references');
  $('ref-count').textContent = String(references.length);
  showAddedOnly();
  try {
    await saveReferences(info.modelId, file);
  } catch (err) {
    panelMessage(`Reference beans could not be saved in this browser (${err?.message ?? err}); they last until the page is closed.`);
  }
}

// ---------- status ----------

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function showReady(next) {
  info = next;
  const { backend, bundleVersion, classNames, k, threshold, trayThreshold } = info;
  // Words for a grader here; the model's description and why this backend runs (e.g. "the
  // WebGPU adapter is a software fallback (google swiftshader)") sit under Settings.
  const engine = backend === 'webgpu' ? 'WebGPU' : 'CPU';
  const kinds = `${classNames.length} ${classNames.length === 1 ? 'kind' : 'kinds'} of bean`;
  setStatus('ready', `Ready · ${engine} · ${customBundle ? 'your model' : 'built-in model'}, ${kinds}`);
  const why = info.backendReason ? ` (${info.backendReason})` : '';
  $('model-details').textContent = `Runs on ${engine}${why}. Model: ${customBundle ? 'loaded from your file, ' : ''}${bundleVersion}.`;
  statusEl.dataset.backend = backend;
  statusEl.dataset.backendReason = info.backendReason ?? '';
  statusEl.dataset.bundle = bundleVersion;
  statusEl.dataset.customBundle = String(Boolean(customBundle));
  $('builtin-bundle').hidden = !customBundle;
  classesEl.replaceChildren(...classNames.map((name) => {
    const li = el('li', 'chip', name);
    li.dataset.testid = 'class-name';
    return li;
  }));
  classesEl.hidden = false;
  kInput.value = String(k);
  thresholdInput.value = String(threshold);
  trayThresholdInput.value = String(trayThreshold);
  kInput.disabled = thresholdInput.disabled = trayThresholdInput.disabled = false;
  showSettingValues();
  $('ref-count').textContent = String(references.length);
  showAddedOnly();
}

/** The "my references only" box: usable once there are references of one's own (or shared
 *  ones). Removing the last one turns it off in the classifier too (all references vote again). */
function showAddedOnly() {
  const none = references.length + library.count === 0;
  if (none && info) info.addedOnly = false;
  addedOnlyInput.checked = Boolean(info?.addedOnly);
  addedOnlyInput.disabled = none;
}

function panelMessage(text) {
  $('panel-message').textContent = text;
}

// ---------- queue ----------

const queue = [];
let busy = false;
let done = 0;
let total = 0;

function addFiles(files) {
  files = Array.from(files ?? []);
  if (!files.length) return;
  if (!busy) { done = 0; total = 0; }
  const batch = document.createDocumentFragment(); // newest batch on top, in the order given
  for (const file of files) {
    const entry = { file: file.name, card: pendingCard(file) };
    batch.append(entry.card);
    entries.push(entry);
    queue.push({ file, entry });
  }
  resultsEl.prepend(batch);
  total += files.length;
  updateProgress();
  pump();
}

async function pump() {
  if (busy) return;
  busy = true;
  // As many photos at once as the pool has workers; each result goes to its own card, so the
  // cards keep the order the photos were given in.
  const lane = async () => {
    while (queue.length) {
      const { file, entry } = queue.shift();
      try {
        await processFile(file, entry);
      } catch (err) {
        fail(entry, err?.message || String(err));
      }
      done += 1;
      updateProgress();
      updateSummary();
    }
  };
  await Promise.all(Array.from({ length: client.lanes }, lane));
  busy = false;
}

async function processFile(file, entry) {
  if (file.size === 0) return fail(entry, 'The file is empty (0 bytes); it may not have finished downloading or copying: try again.');
  if (file.size > MAX_BYTES) return fail(entry, `The file is too large (${mb(file.size)}; limit ${mb(MAX_BYTES)}).`);
  const reply = await client.classify(file);
  if (reply.notReady) fail(entry, `The model is not available: ${reply.error}`);
  else if (reply.fatal) fail(entry, `The classifier crashed on this file (${reply.error}) and was restarted; the next photos are not affected.`);
  else if (reply.error !== undefined) fail(entry, `Could not classify this file: ${reply.error}`);
  else {
    const { embedding, decoder } = reply.result;
    // A library too large to keep here: the server's nearest references vote (null: not asked).
    const asked = await library.vote([embedding], false);
    entry.result = asked ? { ...asked[0], embedding, decoder } : reply.result;
    show(entry);
  }
}

function fail(entry, message) {
  entry.error = message;
  renderError(entry.card, message);
}

function updateProgress() {
  progressBox.hidden = total === 0;
  progressEl.max = Math.max(total, 1);
  progressEl.value = done;
  progressText.textContent = done < total ? `Checking ${done + 1} of ${total}…` : `Checked ${total} photo${total === 1 ? '' : 's'}`;
}

const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;

// ---------- results ----------

const cardActions = {
  async onSave(entry, label) {
    try {
      await addReference(entry, entry.result.embedding, label);
    } catch (err) {
      panelMessage(`The bean could not be added as a reference: ${err.message}`);
      show(entry);
    }
  },
  async onUndo(entry) {
    try {
      await removeReference(entry, entry.result.embedding);
    } catch (err) {
      panelMessage(`The reference could not be removed: ${err.message}`);
    }
  },
};

function show(entry) {
  renderResult(entry, { classNames: info?.classNames ?? [entry.result.label], ...cardActions });
}

let relabelling = null; // the running re-label; a change meanwhile asks for one more
let relabelAgain = false;

/** Re-labels every shown result from its cached embedding (k, threshold or references changed). */
async function relabelAll(send) {
  if (relabelling) { relabelAgain = true; return relabelling; }
  relabelling = (async () => {
    do {
      relabelAgain = false;
      const ask = send ?? ((op, ...args) => client.request(op, ...args));
      const shown = entries.filter((e) => e.result?.embedding);
      if (shown.length) {
        const embeddings = shown.map((e) => e.result.embedding);
        const reply = await vote(embeddings, false, ask);
        if (reply.error !== undefined) { panelMessage(`Results could not be re-labelled: ${reply.error}`); break; }
        shown.forEach((e, i) => {
          e.result = { ...reply.result[i], embedding: e.result.embedding, decoder: e.result.decoder };
          show(e);
        });
        updateSummary();
      }
      await trays.relabel(ask);
    } while (relabelAgain);
  })();
  try { await relabelling; } finally { relabelling = null; }
}

/** After another bundle: cached embeddings belong to the old model, so their results go. */
function dropResultsOfOtherModel() {
  const stale = entries.filter((e) => e.result);
  for (const e of stale) removeEntry(e);
  const staleTrays = trays.clear();
  if (stale.length + staleTrays) panelMessage(`${stale.length + staleTrays} result(s) made with the previous model were cleared: add the photos again.`);
  updateSummary();
}

/** "Teach beanscan your camera": marks the shown beans whose confirmation teaches most (spread
 *  over the batch, typical ones first, away from the references of one's own), best first. */
async function teachCamera() {
  const open = entries.filter((e) => e.result?.embedding && !e.reference);
  for (const e of entries) delete e.toConfirm;
  if (!open.length) return;
  let picks;
  try {
    picks = await proposeBeans(client, open.map((e) => e.result.embedding));
  } catch (err) {
    panelMessage(`No beans could be proposed: ${err.message}`);
    return;
  }
  picks.forEach((i, rank) => Object.assign(open[i], { toConfirm: rank + 1, proposals: picks.length }));
  for (const e of open) show(e);
  open[picks[0]]?.card.scrollIntoView({ behavior: 'smooth', block: 'center' });
}

function removeEntry(entry) {
  URL.revokeObjectURL(entry.card.querySelector('img')?.src ?? '');
  entry.card.remove();
  entries.splice(entries.indexOf(entry), 1);
}

function updateSummary() {
  const settled = entries.filter((e) => e.result || e.error !== undefined);
  renderSummary($('summary'), summarize(settled, info?.classNames ?? [], info?.threshold), teachCamera);
  $('summary-box').hidden = settled.length === 0;
}

// ---------- settings ----------

function showSettingValues() {
  $('k-value').textContent = kInput.value;
  $('threshold-value').textContent = Number(thresholdInput.value).toFixed(2);
  $('tray-threshold-value').textContent = Number(trayThresholdInput.value).toFixed(2);
}

function savedSettings() {
  try {
    const s = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? 'null');
    if (!(Number.isInteger(s?.k) && Number.isFinite(s?.threshold) && Number.isFinite(s?.trayThreshold)
      && typeof s?.bundle === 'string')) return null;
    return { ...s, addedOnly: s.addedOnly === true };
  } catch {
    return null;
  }
}

/** Whether the saved settings were chosen for this bundle (`ready`: its defaults, before any
 *  settings). A threshold is a distance in one model's embedding space, and a new build may ship
 *  better defaults: settings chosen for another model or other defaults are dropped. */
function settingsFit(ready) {
  bundleDefaults = `${ready.modelId} k ${ready.k} threshold ${ready.threshold} tray ${ready.trayThreshold}`;
  if (settings && settings.bundle !== bundleDefaults) settings = null;
  return settings !== null;
}

async function applySettings() {
  showSettingValues();
  settings = {
    k: Number(kInput.value),
    threshold: Number(thresholdInput.value),
    trayThreshold: Number(trayThresholdInput.value),
    addedOnly: addedOnlyInput.checked,
    bundle: bundleDefaults,
  };
  try { localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); } catch { /* private mode: this visit only */ }
  const reply = await client.request('settings', settings);
  if (reply.error !== undefined) return panelMessage(`Settings not applied: ${reply.error}`);
  Object.assign(info, reply.result);
  showAddedOnly();
  await relabelAll();
}
kInput.addEventListener('input', applySettings);
thresholdInput.addEventListener('input', applySettings);
trayThresholdInput.addEventListener('input', applySettings);
addedOnlyInput.addEventListener('change', applySettings);

// ---------- references and bundles ----------

$('export-refs').addEventListener('click', async () => {
  try {
    download('beanscan-references.beanrefs', await client.call('exportReferences'), 'application/octet-stream');
  } catch (err) {
    panelMessage(`Export failed: ${err.message}`);
  }
});

async function readPicked(input) {
  const file = input.files?.[0];
  input.value = '';
  return file ? new Uint8Array(await file.arrayBuffer()) : null;
}

$('import-refs').addEventListener('change', async (e) => {
  const bytes = await readPicked(e.target);
  if (!bytes) return;
  try {
    const { count, file } = await client.call('importReferences', bytes);
    await keepReferences(file);
    panelMessage(`Imported ${count} reference bean${count === 1 ? '' : 's'}.`);
    await relabelAll();
  } catch (err) {
    panelMessage(err.message);
  }
});

$('bundle-file').addEventListener('change', async (e) => {
  const bytes = await readPicked(e.target);
  if (!bytes) return;
  try {
    const loaded = await client.call('loadBundle', bytes);
    customBundle = bytes;
    client.reloadHelpers();
    saveUserBundle(bytes).catch((err) => panelMessage(`The bundle is used but could not be kept for next time: ${err.message}`));
    const modelChanged = loaded.modelId !== info.modelId;
    const send = (op, ...args) => client.request(op, ...args);
    await restoreReferences(loaded.modelId, send);
    await library.restore(loaded.modelId, send);
    references = await client.call('references');
    if (settingsFit(loaded)) Object.assign(loaded, await client.call('settings', settings));
    showReady(loaded);
    if (modelChanged) dropResultsOfOtherModel();
    else await relabelAll();
    panelMessage(`Bundle loaded: ${loaded.bundleVersion}`);
  } catch (err) {
    panelMessage(`That bundle was not loaded (the current one stays): ${err.message}`);
  }
});

$('builtin-bundle').addEventListener('click', async () => {
  if (busy || trays.busy) return panelMessage('Wait until the photos being checked are done.');
  customBundle = null;
  await saveUserBundle(null).catch(() => {});
  client.restart(); // fresh modules with the built-in bundle; restore() puts the rest back
  panelMessage('Back to the built-in bundle.');
});

/** The settings the labels were made under, a column each on every CSV row (`threshold`: the
 *  one the rows' photos were labelled with). */
function csvMeta(tray = false) {
  return {
    k: info?.k ?? '',
    threshold: (tray ? info?.trayThreshold : info?.threshold) ?? '',
    voters: info ? (info.addedOnly ? 'added' : 'all') : '',
    backend: info?.backend ?? '',
    bundle: info?.bundleVersion ?? '',
  };
}

$('export-csv').addEventListener('click', () => {
  const settled = entries.filter((e) => e.result || e.error !== undefined);
  download('beanscan-results.csv', toCsv(settled, csvMeta()), 'text/csv');
});

// ---------- tray photos ----------

const trays = new TrayView({
  list: $('trays'),
  client,
  maxBytes: MAX_BYTES,
  classNames: () => info?.classNames ?? [],
  // The new-camera notice's bound: the single-bean threshold (src/notice.rs).
  noticeBound: () => info?.threshold,
  addReference,
  removeReference,
  vote,
  askServer: (embeddings) => library.vote(embeddings, true),
  message: panelMessage,
  onChange: () => { $('tray-tools').hidden = trays.trays.length === 0; },
});

$('export-tray-csv').addEventListener('click', () => {
  download('beanscan-tray-beans.csv', trays.csv(csvMeta(true)), 'text/csv');
});
$('clear-trays').addEventListener('click', () => trays.clear());

// ---------- mode: single beans or a tray ----------

const MODES = {
  single: { hint: 'Drop bean photos here, or', note: 'One bean per photo works best.' },
  tray: { hint: 'Drop a tray photo here, or', note: 'Beans spread apart on light paper, photographed from above; every bean is found, labelled and counted.' },
};
let mode = savedMode();

function savedMode() {
  try { return localStorage.getItem(MODE_KEY) === 'tray' ? 'tray' : 'single'; } catch { return 'single'; }
}

function showMode() {
  $(`mode-${mode}`).checked = true;
  $('drop-hint').textContent = MODES[mode].hint;
  $('drop-note').textContent = MODES[mode].note;
  $('single-view').hidden = mode !== 'single';
  $('tray-view').hidden = mode !== 'tray';
  dropEl.dataset.mode = mode;
}

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener('change', () => {
    mode = radio.value === 'tray' ? 'tray' : 'single';
    try { localStorage.setItem(MODE_KEY, mode); } catch { /* private mode: this visit only */ }
    showMode();
  });
}
showMode();

/** Photos go to the view the grader chose. */
function take(files) {
  if (mode === 'tray') trays.add(files);
  else addFiles(files);
}

// ---------- inputs ----------

for (const input of [$('picker'), $('camera')]) {
  input.addEventListener('change', () => {
    take(input.files);
    input.value = ''; // allow picking the same photo again
  });
}

dropEl.addEventListener('dragenter', (e) => { e.preventDefault(); dropEl.classList.add('over'); });
dropEl.addEventListener('dragover', (e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
dropEl.addEventListener('dragleave', (e) => {
  if (!dropEl.contains(e.relatedTarget)) dropEl.classList.remove('over');
});
dropEl.addEventListener('drop', (e) => {
  e.preventDefault();
  dropEl.classList.remove('over');
  take(e.dataTransfer?.files);
});
// A drop that misses the zone must not navigate away from the page; take its files too.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => {
  if (e.defaultPrevented) return;
  e.preventDefault();
  take(e.dataTransfer?.files);
});

$('clear').addEventListener('click', () => {
  for (const entry of entries.filter((e) => e.result || e.error !== undefined)) removeEntry(entry);
  if (!busy) { done = 0; total = 0; updateProgress(); }
  updateSummary();
});

// ---------- offline ----------

// The service worker (sw.js, beside this file) keeps the page, worker and module for offline use.
const offline = 'serviceWorker' in navigator && new URLSearchParams(location.search).get('sw') !== '0';
let registered = false;

/** Registered once the model has loaded (or failed to): its install then finds the bundle and
 * module in the HTTP cache and does not download them a second time on a first visit. */
function registerOffline() {
  if (!offline || registered) return;
  registered = true;
  navigator.serviceWorker.register(new URL('./sw.js', import.meta.url)).catch((err) => {
    console.warn(`offline use is not available: ${err.message}`);
  });
}

/** It keeps only the CPU-only module up front: the module this device runs is kept once it runs. */
function keepForOffline(files) {
  if (!offline || !files?.length) return;
  navigator.serviceWorker.ready.then((reg) => reg.active?.postMessage({ keep: files })).catch(() => {});
}
