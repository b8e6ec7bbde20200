// Module worker: loads the wasm classifier once and answers one request at a time,
// so the page stays responsive while photos are decoded and classified.
//   in:  {id, op, args}   op: one of the names in `ops` below
//   out: {type: 'ready', ...info()} | {type: 'failed', error}   (once)
//        {id, result} | {id, error, fatal}
// Backend: `auto|webgpu|cpu` as the worker's name (`new Worker(url, {type: 'module', name: 'cpu'})`)
// or `?backend=` on its URL (default auto: WebGPU when the browser has a hardware adapter, else
// CPU; a software fallback adapter is skipped).
// Module: pkg/beanscan.js has WebGPU and the CPU path; pkg/cpu/beanscan.js only the CPU path, at
// a fraction of the bytes: loaded unless WebGPU may run. Both get the bundle pkg/default.beanscan.
// A panic inside the module aborts it (a WebAssembly.RuntimeError): the reply is marked fatal and
// the page starts a fresh worker. The panic message comes from the module's panic hook.

const message = (err) => (err instanceof Error ? err.message : String(err)) || 'unknown error';
const BACKENDS = ['auto', 'webgpu', 'cpu'];
const backend = new URL(self.location.href).searchParams.get('backend')
  || (BACKENDS.includes(self.name) ? self.name : 'auto');
// Beyond this the bytes path refuses the photo with its own message; don't paint it first.
const MAX_PIXELS = 64e6;

/** WebGPU asked for, or `auto` with a hardware adapter (the module says why it runs what it runs). */
async function mayUseWebgpu() {
  if (backend === 'cpu') return false;
  if (backend !== 'auto') return true;
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  return Boolean(adapter) && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
}

async function fetchBytes(path) {
  const response = await fetch(new URL(path, import.meta.url));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const moduleDir = mayUseWebgpu().then((gpu) => (gpu ? './pkg/' : './pkg/cpu/'));
const classifier = (async () => {
  const dir = await moduleDir;
  const [{ default: init, Classifier }, bundle] = await Promise.all([import(`${dir}beanscan.js`), fetchBytes('./pkg/default.beanscan')]);
  await init();
  return Classifier.create({ backend, bundle });
})();

const info = (c) => ({
  backend: String(c.backend),
  backendReason: String(c.backendReason),
  bundleVersion: String(c.bundleVersion),
  modelId: String(c.modelId),
  classNames: Array.from(c.classNames(), String),
  k: c.k,
  threshold: c.threshold,
  trayThreshold: c.trayThreshold,
  addedOnly: c.addedOnly,
  references: c.addedReferences(),
});

/** The module files this worker runs, for the service worker to keep (relative to the page). */
const moduleFiles = async () => [`${await moduleDir}beanscan.js`, `${await moduleDir}beanscan_bg.wasm`];

(async () => {
  try {
    postMessage({ type: 'ready', ...info(await classifier), moduleFiles: await moduleFiles() });
  } catch (err) {
    postMessage({ type: 'failed', error: message(err) });
  }
})();

// Copy the answer into a plain object (it may be a Map or a wasm-backed object).
const get = (o, k) => (o instanceof Map ? o.get(k) : o?.[k]);
const plain = (r) => ({
  label: String(get(r, 'label')),
  confidence: Number(get(r, 'confidence')),
  distance: Number(get(r, 'distance')),
  unknown: Boolean(get(r, 'unknown')),
  neighbours: Array.from(get(r, 'neighbours') ?? [], (n) => ({
    label: String(get(n, 'label')),
    distance: Number(get(n, 'distance')),
    id: String(get(n, 'id')),
    added: Boolean(get(n, 'added')),
    shared: Boolean(get(n, 'shared')),
  })),
  ...(get(r, 'normal_probability') != null ? { normal_probability: Number(get(r, 'normal_probability')) } : {}),
  ...(get(r, 'defect_probability') != null ? { defect_probability: Number(get(r, 'defect_probability')) } : {}),
  ...(get(r, 'embedding') ? { embedding: get(r, 'embedding') } : {}),
});

/** The browser's decoder: upright 8-bit RGBA, or null when it cannot read the file. */
async function browserPixels(blob) {
  let bitmap;
  try {
    // 'none': the same pixel values the file holds, as the wasm decoder reads them.
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    return null;
  }
  try {
    const { width, height } = bitmap;
    if (width * height > MAX_PIXELS || typeof OffscreenCanvas !== 'function') return null;
    const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    if (!ctx) return null;
    ctx.drawImage(bitmap, 0, 0);
    const { data } = ctx.getImageData(0, 0, width, height);
    return { rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  } catch {
    return null;
  } finally {
    bitmap.close();
  }
}

/** The file's bytes and, when the browser can decode it, its pixels, after the module has
 * refused what it refuses (a half-downloaded photo, limits): every photo op starts here. */
async function readPhoto(c, file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const pixels = await browserPixels(file);
  if (pixels) c.checkPhoto(bytes);
  return { bytes, pixels, decoder: pixels ? 'browser' : 'wasm' };
}

/** Decode with the browser (fast, native code); fall back to the module's own decoder. */
async function classifyFile(c, file) {
  const { bytes, pixels, decoder } = await readPhoto(c, file);
  const result = pixels ? await c.classifyPixels(pixels.rgba, pixels.width, pixels.height) : await c.classify(bytes);
  return { ...plain(result), decoder };
}

/** The embedding alone (a helper worker of the pool: the page's main worker labels it). */
async function embedFile(c, file) {
  const { bytes, pixels, decoder } = await readPhoto(c, file);
  const embedding = pixels ? await c.embedPixels(pixels.rgba, pixels.width, pixels.height) : await c.embed(bytes);
  return { embedding, decoder, modelId: String(c.modelId) };
}

/** A tray photo: every bean found, labelled, with its outline and embedding (kept by the page to
 * re-label and to add as a reference). Same decoding as a single photo. */
async function classifyTrayFile(c, file) {
  const { bytes, pixels, decoder } = await readPhoto(c, file);
  const tray = pixels ? await c.classifyTrayPixels(pixels.rgba, pixels.width, pixels.height) : await c.classifyTray(bytes);
  return trayReply(tray, decoder);
}

/** The tray as the page keeps it: plain objects, embeddings as Float32Arrays. */
function trayReply(tray, decoder) {
  return {
    width: tray.width,
    height: tray.height,
    decoder,
    beans: tray.beans.map((b) => ({
      bbox: Array.from(b.bbox, Number),
      outline: b.outline.map(([x, y]) => [Number(x), Number(y)]),
      area: Number(b.area),
      result: plain({ ...b, embedding: undefined }),
      embedding: Float32Array.from(b.embedding),
    })),
    counts: tray.counts,
    unknown: tray.unknown,
    defectPercent: tray.defect_percent,
    grading: tray.grading,
  };
}

// A tray split across the page's workers: trayBegin (this worker: decode, find, cut out) →
// embedInputs (any worker, a share of the beans each) → trayFinish (this worker: label, count).
const trayJobs = new Map(); // job id -> {job: TrayJob, decoder}
let nextTrayJob = 0;

async function trayBegin(c, file) {
  const { bytes, pixels, decoder } = await readPhoto(c, file);
  const job = pixels ? c.beginTrayPixels(pixels.rgba, pixels.width, pixels.height) : c.beginTray(bytes);
  const id = ++nextTrayJob;
  trayJobs.set(id, { job, decoder });
  return { job: id, count: job.count, inputs: job.takeInputs() };
}

function trayFinish(c, id, embeddings) {
  const entry = trayJobs.get(id);
  if (!entry) throw new Error('this tray is no longer being worked on (the classifier was restarted): drop it again');
  trayJobs.delete(id);
  try {
    return trayReply(c.finishTray(entry.job, embeddings), entry.decoder);
  } finally {
    entry.job.free();
  }
}

const ops = {
  classify: (c, file) => classifyFile(c, file),
  embed: (c, file) => embedFile(c, file),
  classifyTray: (c, file) => classifyTrayFile(c, file),
  trayBegin: (c, file) => trayBegin(c, file),
  embedInputs: (c, inputs) => c.embedInputs(inputs),
  trayFinish: (c, id, embeddings) => trayFinish(c, id, embeddings),
  gradeCounts: (c, counts) => c.gradeCounts(counts),
  // "Teach beanscan your camera": which of these embeddings to ask the grader about, best first.
  propose: (c, embeddings, n) => [...c.proposeToConfirm(embeddings, n)],
  // Re-label cached embeddings (after k, threshold or references changed): no photo is re-read.
  label: (c, embeddings) => embeddings.map((e) => plain(c.label(e))),
  labelTrayBeans: (c, embeddings) => embeddings.map((e) => plain(c.labelTrayBean(e))),
  settings: (c, { k, threshold, trayThreshold, addedOnly }) => {
    if (k !== undefined) c.setK(k);
    if (threshold !== undefined) c.setThreshold(threshold);
    if (trayThreshold !== undefined) c.setTrayThreshold(trayThreshold);
    // A saved choice whose references could not be restored falls back to all references.
    if (addedOnly !== undefined) c.setAddedOnly(addedOnly && (c.addedReferences().length > 0 || c.sharedReferenceCount > 0));
    return { k: c.k, threshold: c.threshold, trayThreshold: c.trayThreshold, addedOnly: c.addedOnly };
  },
  addReference: async (c, embedding, label) => ({ id: await c.addReference(embedding, label), file: c.exportReferences() }),
  removeReference: (c, id) => ({ removed: c.removeReference(id), file: c.exportReferences() }),
  importReferences: (c, bytes) => ({ count: c.importReferences(bytes), file: c.exportReferences() }),
  exportReferences: (c) => c.exportReferences(),
  references: (c) => c.addedReferences(),
  loadBundle: (c, bytes) => { c.loadBundle(bytes); return info(c); },
  // The shared reference library (shared-library.js): bodies and checks come from the module.
  libraryInfo: (c) => ({
    collection: c.libraryCollection,
    pageSize: c.libraryPageSize,
    maxAnswerBytes: c.libraryMaxAnswerBytes,
    createBody: c.libraryCreateBody(),
    indexBodies: c.libraryIndexBodies(),
    countBody: c.libraryCountBody(),
    localMax: c.libraryLocalMax,
  }),
  parseLibraryCount: (c, bytes) => c.parseLibraryCount(bytes),
  // A library too large to keep here: the server's nearest references of each bean vote.
  librarySearchBody: (c, embeddings) => c.librarySearchBody(embeddings),
  labelWithSharedHits: (c, embeddings, bytes, tray) => Array.from(c.labelWithSharedHits(embeddings, bytes, tray), plain),
  libraryUpsertBody: (c, references) => c.libraryUpsertBody(references),
  libraryScrollBody: (c, since, offset) => c.libraryScrollBody(since, offset),
  checkLibraryCollection: (c, bytes) => c.checkLibraryCollection(bytes),
  acceptLibraryPage: (c, bytes, since) => c.acceptLibraryPage(bytes, since),
  applySharedReferences: (c, references) => ({ count: c.applySharedReferences(references), addedOnly: c.addedOnly }),
  clearSharedReferences: (c) => { c.clearSharedReferences(); return { count: 0, addedOnly: c.addedOnly }; },
};

async function handle({ id, op, args = [] }) {
  try {
    const c = await classifier;
    const run = ops[op];
    if (!run) throw new Error(`unknown request ${op}`);
    postMessage({ id, result: await run(c, ...args) });
  } catch (err) {
    // A trap (a panic under panic=abort, or running out of memory) leaves the module unusable.
    const fatal = err instanceof WebAssembly.RuntimeError;
    const why = fatal && self.beanscanPanic ? String(self.beanscanPanic).replace(/^panicked at [^\n]*\n?/, '') : message(err);
    postMessage({ id, error: why, fatal });
  }
}

let queue = Promise.resolve();
self.onmessage = (e) => {
  queue = queue.then(() => handle(e.data));
};
