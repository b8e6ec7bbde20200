// Module worker: loads the wasm classifier once and answers one request at a time,
// so the page stays responsive while photos are decoded and classified.
//   in:  {id, bytes: Uint8Array}
//   out: {type: 'ready', backend, bundleVersion, classNames} | {type: 'failed', error}  (once)
//        {id, result} | {id, error, fatal}
// A panic inside the module aborts it (a WebAssembly.RuntimeError): the reply is marked fatal and
// the page starts a fresh worker. The panic message comes from the module's panic hook.
import init, { Classifier } from './pkg/beanscan.js';

const message = (err) => (err instanceof Error ? err.message : String(err)) || 'unknown error';

const classifier = (async () => {
  await init();
  return Classifier.create({ backend: 'cpu' });
})();

(async () => {
  try {
    const c = await classifier;
    postMessage({
      type: 'ready',
      backend: String(c.backend),
      bundleVersion: String(c.bundleVersion),
      classNames: Array.from(c.classNames(), String),
    });
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
  })),
});

async function handle({ id, bytes }) {
  try {
    const c = await classifier;
    postMessage({ id, result: plain(await c.classify(bytes)) });
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
