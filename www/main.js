// beanscan page: queues photos, sends them one at a time to the worker, shows a card per photo.
const $ = (id) => document.getElementById(id);
const MAX_BYTES = 40 * 1024 * 1024;
// A photo that takes longer than this is treated as a hung classifier: the worker is restarted.
const REQUEST_TIMEOUT_MS = 120_000;

const statusEl = $('status');
const classesEl = $('classes');
const dropEl = $('drop');
const resultsEl = $('results');
const progressBox = $('progress-box');
const progressEl = $('progress');
const progressText = $('progress-text');

// ---------- worker ----------

let worker = null;
let ready = null;         // Promise<info> for the current worker
let loaded = false;       // the current worker reported 'ready' (so a later death is a crash)
const pending = new Map(); // request id -> resolve
let nextId = 0;

function startWorker() {
  setStatus('loading', 'Loading the model…');
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  loaded = false;
  let settle;
  ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  ready.catch(() => {}); // reported through the status line and per card
  worker.onmessage = ({ data }) => {
    if (data.type === 'ready') {
      loaded = true;
      showReady(data);
      settle.resolve(data);
    } else if (data.type === 'failed') {
      setStatus('error', `The model could not be loaded: ${data.error}`);
      settle.reject(new Error(data.error));
    } else {
      const resolve = pending.get(data.id);
      pending.delete(data.id);
      resolve?.(data);
      if (data.fatal) restartWorker();
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    if (loaded) {
      // It worked before, so this is a crash (e.g. out of memory), not a missing module: start over.
      restartWorker(`the classifier stopped (${e.message || 'worker error'}) and was restarted`);
      return;
    }
    const why = e.message || 'the classifier could not start (is the pkg/ folder missing?)';
    setStatus('error', `The model could not be loaded: ${why}`);
    settle.reject(new Error(why));
    failPending(why);
  };
}

function restartWorker(why = 'the classifier stopped and was restarted') {
  worker.terminate();
  failPending(why, true);
  startWorker();
}

function failPending(why, fatal = false) {
  for (const [id, resolve] of pending) resolve({ id, error: why, fatal });
  pending.clear();
}

function classify(bytes) {
  const id = ++nextId;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (pending.has(id)) restartWorker(`no answer after ${REQUEST_TIMEOUT_MS / 1000} s; the classifier was restarted`);
    }, REQUEST_TIMEOUT_MS);
    pending.set(id, (reply) => { clearTimeout(timer); resolve(reply); });
    worker.postMessage({ id, bytes }, [bytes.buffer]);
  });
}

// ---------- status ----------

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function showReady({ backend, bundleVersion, classNames }) {
  setStatus('ready', `Ready · ${backend} · ${bundleVersion}`);
  statusEl.dataset.backend = backend;
  statusEl.dataset.bundle = bundleVersion;
  classesEl.replaceChildren(...classNames.map((name) => {
    const li = el('li', 'chip', name);
    li.dataset.testid = 'class-name';
    return li;
  }));
  classesEl.hidden = false;
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
    const card = pendingCard(file);
    batch.append(card);
    queue.push({ file, card });
  }
  resultsEl.prepend(batch);
  total += files.length;
  updateProgress();
  pump();
}

async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) {
    const { file, card } = queue.shift();
    try {
      await processFile(file, card);
    } catch (err) {
      showError(card, err?.message || String(err));
    }
    done += 1;
    updateProgress();
  }
  busy = false;
}

async function processFile(file, card) {
  if (file.size === 0) return showError(card, 'The file is empty (0 bytes); it may not have finished downloading or copying: try again.');
  if (file.size > MAX_BYTES) return showError(card, `The file is too large (${mb(file.size)}; limit ${mb(MAX_BYTES)}).`);
  let bytes;
  try {
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch {
    return showError(card, 'The file could not be read.');
  }
  try {
    await ready;
  } catch (err) {
    return showError(card, `The model is not available: ${err.message}`);
  }
  const reply = await classify(bytes);
  if (reply.fatal) showError(card, `The classifier crashed on this file (${reply.error}) and was restarted; the next photos are not affected.`);
  else if (reply.error !== undefined) showError(card, `Could not classify this file: ${reply.error}`);
  else showResult(card, reply.result);
}

function updateProgress() {
  progressBox.hidden = total === 0;
  progressEl.max = Math.max(total, 1);
  progressEl.value = done;
  progressText.textContent = done < total ? `Checking ${done + 1} of ${total}…` : `Checked ${total} photo${total === 1 ? '' : 's'}`;
}

// ---------- cards ----------

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function pendingCard(file) {
  const card = el('li', 'card pending');
  card.dataset.testid = 'result-pending';
  card.dataset.file = file.name;
  const img = el('img', 'thumb');
  img.alt = '';
  img.decoding = 'async';
  img.loading = 'lazy'; // a long batch of phone photos must not decode every thumbnail at once
  img.addEventListener('error', () => img.classList.add('broken'), { once: true });
  img.src = URL.createObjectURL(file);
  const body = el('div', 'body');
  body.append(el('p', 'file', file.name), el('p', 'wait', 'Waiting…'));
  card.append(img, body);
  return card;
}

function cardBody(card) {
  const body = card.querySelector('.body');
  body.replaceChildren(el('p', 'file', card.dataset.file));
  return body;
}

function showResult(card, r) {
  card.className = `card ${r.unknown ? 'is-unknown' : r.label === 'Normal' ? 'is-normal' : 'is-defect'}`;
  Object.assign(card.dataset, {
    testid: 'result',
    label: r.label,
    confidence: String(r.confidence),
    distance: String(r.distance),
    unknown: String(r.unknown),
  });
  const body = cardBody(card);
  const head = el('p', 'verdict');
  const label = el('span', 'label', r.label);
  label.dataset.testid = 'label';
  head.append(label);
  if (r.unknown) {
    const badge = el('span', 'badge', 'unknown');
    badge.dataset.testid = 'unknown-badge';
    badge.title = 'This bean is far from every reference bean; check it by eye.';
    head.append(badge);
  }
  const meta = el('p', 'meta');
  const conf = el('span', 'confidence', `${Math.round(r.confidence * 100)}%`);
  conf.dataset.testid = 'confidence';
  meta.append(conf, ` confidence · distance ${r.distance.toFixed(3)}`);
  body.append(head, meta);
  if (r.neighbours.length) {
    const list = el('ol', 'neighbours');
    list.setAttribute('aria-label', 'Nearest reference beans');
    for (const n of r.neighbours) {
      const li = el('li', null, `${n.label} `);
      li.dataset.testid = 'neighbour';
      li.title = n.id;
      li.append(el('span', 'dist', n.distance.toFixed(3)));
      list.append(li);
    }
    body.append(el('p', 'nn-title', 'Nearest reference beans'), list);
  }
}

function showError(card, message) {
  card.className = 'card is-error';
  card.dataset.testid = 'result-error';
  const msg = el('p', 'error-msg', message);
  msg.dataset.testid = 'error-message';
  cardBody(card).append(msg);
}

const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;

// ---------- inputs ----------

for (const input of [$('picker'), $('camera')]) {
  input.addEventListener('change', () => {
    addFiles(input.files);
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
  addFiles(e.dataTransfer?.files);
});
// A drop that misses the zone must not navigate away from the page; take its files too.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => {
  if (e.defaultPrevented) return;
  e.preventDefault();
  addFiles(e.dataTransfer?.files);
});

$('clear').addEventListener('click', () => {
  for (const card of resultsEl.querySelectorAll('.card:not(.pending)')) {
    URL.revokeObjectURL(card.querySelector('img').src);
    card.remove();
  }
  if (!busy) { done = 0; total = 0; updateProgress(); }
});

startWorker();
