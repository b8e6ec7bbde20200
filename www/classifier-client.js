// The page's side of the worker (worker.js): starts it, sends requests, restarts it when it
// crashes, hangs or dies, and tells the page each time a fresh classifier is ready (so the page
// can put back its settings and references).

// A request that takes longer than this is treated as a hung classifier: the worker is restarted.
const REQUEST_TIMEOUT_MS = 120_000;

export class ClassifierClient {
  /**
   * @param {{backend?: string, onReady: (info) => (void|Promise<void>), onFailed: (why: string) => void,
   *          onLoading: () => void}} options
   *   onReady(info, send) runs before any `request` reaches a fresh worker; it talks to the
   *   worker through `send(op, ...args)` (resolves to {result} | {error}).
   */
  constructor({ backend, onReady, onFailed, onLoading }) {
    Object.assign(this, { backend, onReady, onFailed, onLoading });
    this.pending = new Map(); // request id -> resolve
    this.nextId = 0;
    this.start();
  }

  start() {
    this.onLoading();
    // The backend goes in the worker's name, not its URL: worker.js stays one URL, which the
    // service worker's install revalidates instead of downloading it a second time.
    const url = new URL('./worker.js', import.meta.url);
    const worker = new Worker(url, { type: 'module', name: this.backend ?? 'auto' });
    this.worker = worker;
    this.loaded = false;
    let settle;
    const started = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    // `ready` settles after onReady, so requests made meanwhile wait for the restored state.
    this.ready = started.then(async (info) => {
      await this.onReady(info, (op, ...args) => this.post(op, args));
      return info;
    });
    this.ready.catch(() => {}); // reported through onFailed and per request
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') {
        this.loaded = true;
        settle.resolve(data);
      } else if (data.type === 'failed') {
        this.onFailed(data.error);
        settle.reject(new Error(data.error));
      } else {
        const job = this.pending.get(data.id);
        this.pending.delete(data.id);
        job?.done(data);
        if (data.fatal) this.restart(undefined, true);
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      if (this.loaded) {
        // It worked before, so this is a crash (e.g. out of memory), not a missing module: start over.
        this.restart(`the classifier stopped (${e.message || 'worker error'}) and was restarted`);
        return;
      }
      const why = e.message || 'the classifier could not start (is the pkg/ folder missing?)';
      this.onFailed(why);
      settle.reject(new Error(why));
      this.failPending(why);
    };
  }

  /**
   * A fresh worker in place of this one. The worker answers one request at a time, so the oldest
   * unanswered request was running when it stopped: that one fails (`answered`: its crash reply
   * was already given). The requests queued behind it never ran: they go to the fresh worker,
   * once its state is restored, so no photo is lost to another one's crash.
   */
  restart(why = 'the classifier stopped and was restarted', answered = false) {
    this.worker.terminate();
    const jobs = [...this.pending.values()]; // in the order sent
    this.pending.clear();
    if (!answered && jobs.length) jobs.shift().done({ error: why, fatal: true });
    this.start();
    for (const job of jobs) {
      this.ready.then(() => this.send(job), (err) => job.done({ error: err.message, notReady: true }));
    }
  }

  failPending(why, fatal = false) {
    for (const [id, job] of this.pending) job.done({ id, error: why, fatal });
    this.pending.clear();
  }

  /** Sends one request to the current worker; resolves to {result} | {error, fatal}. */
  post(op, args = [], transfer = []) {
    return new Promise((resolve) => this.send({ op, args, transfer, resolve }));
  }

  send(job) {
    const id = ++this.nextId;
    const timer = setTimeout(() => {
      if (this.pending.has(id)) this.restart(`no answer after ${REQUEST_TIMEOUT_MS / 1000} s; the classifier was restarted`);
    }, REQUEST_TIMEOUT_MS);
    this.pending.set(id, { ...job, done: (reply) => { clearTimeout(timer); job.resolve(reply); } });
    this.worker.postMessage({ id, op: job.op, args: job.args }, job.transfer);
  }

  /** Waits for a ready classifier, then sends; resolves to {result} | {error, fatal}. */
  async request(op, ...args) {
    try {
      await this.ready;
    } catch (err) {
      return { error: err.message, notReady: true };
    }
    return this.post(op, args);
  }

  /** Like request, but resolves to the result and throws the error. */
  async call(op, ...args) {
    const reply = await this.request(op, ...args);
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.result;
  }
}

/**
 * Every core: the page's classifier (a ClassifierClient holding the bundle, settings and
 * references) plus helper workers, each with its own module instance, that only embed photos.
 * A photo sent to a helper is embedded there and labelled by the main classifier from its
 * embedding (cheap), so references and settings live in one place. Helpers run on the CPU path
 * and only when the main classifier does (on WebGPU the GPU is already shared). A helper that
 * crashes restarts like the main one; a helper that is not ready, or holds another model, is
 * passed over. Needs no SharedArrayBuffer, so any static host works.
 */
export class ClassifierPool {
  /**
   * @param {{backend?: string, size: number, bundleBytes: () => (Uint8Array|null),
   *          modelId: () => (string|undefined), onReady, onFailed, onLoading}} options
   *   size: workers in all (1 = the main classifier alone); bundleBytes: the bundle the user
   *   loaded (null: the built-in one), which helpers load too; modelId: the page's current model.
   */
  constructor({ backend, size, bundleBytes, modelId, onReady, onFailed, onLoading }) {
    Object.assign(this, { size: Math.max(1, size), bundleBytes, modelId });
    this.helpers = [];
    this.main = new ClassifierClient({
      backend,
      onFailed,
      onLoading,
      onReady: async (info, send) => {
        await onReady(info, send);
        if (info.backend === 'cpu') this.startHelpers();
      },
    });
  }

  startHelpers() {
    while (this.helpers.length < this.size - 1) {
      const helper = new ClassifierClient({
        backend: 'cpu',
        onLoading: () => {},
        onFailed: () => {}, // passed over while it cannot start
        onReady: async (info, send) => {
          helper.modelId = info.modelId;
          const bytes = this.bundleBytes();
          if (bytes) {
            const reply = await send('loadBundle', bytes);
            helper.modelId = reply.error === undefined ? reply.result.modelId : undefined;
          }
        },
      });
      this.helpers.push(helper);
    }
  }

  /** Workers that can take photos now (for as many photos at once). */
  get lanes() {
    return 1 + this.helpers.length;
  }

  /** Helpers ready with the page's model, least busy first. */
  usableHelpers() {
    return this.helpers.filter((h) => h.loaded && h.modelId === this.modelId()).sort((a, b) => a.pending.size - b.pending.size);
  }

  /** One photo → {result} | {error, fatal, notReady}, on whichever worker has least to do. */
  async classify(file) {
    const helper = this.usableHelpers()[0];
    if (!helper || helper.pending.size >= this.main.pending.size + 1) return this.main.request('classify', file);
    const embedded = await helper.request('embed', file);
    if (embedded.notReady) return this.main.request('classify', file);
    if (embedded.error !== undefined) return embedded;
    const { embedding, decoder, modelId } = embedded.result;
    // The bundle changed while the helper was at work: label with the current model instead.
    if (modelId !== this.modelId()) return this.main.request('classify', file);
    const labelled = await this.main.request('label', [embedding]);
    if (labelled.error !== undefined) return labelled;
    return { result: { ...labelled.result[0], embedding, decoder } };
  }

  /**
   * A tray photo → {result} | {error, fatal, notReady}. With helpers, its beans are shared out:
   * the main classifier finds and cuts them out, every worker embeds a share, the main one labels
   * and counts. A helper that fails leaves its share to the main classifier.
   */
  async classifyTray(file) {
    const helpers = this.usableHelpers();
    if (!helpers.length) return this.main.request('classifyTray', file);
    const begun = await this.main.request('trayBegin', file);
    if (begun.error !== undefined) return begun;
    const { job, count, inputs } = begun.result;
    const workers = [this.main, ...helpers];
    const perBean = count ? inputs.length / count : 0;
    const share = Math.ceil(count / workers.length);
    let failed;
    const parts = await Promise.all(workers.map(async (worker, i) => {
      // slice, not subarray: a view would send the whole buffer to every worker.
      const part = inputs.slice(i * share * perBean, Math.min(count, (i + 1) * share) * perBean);
      if (!part.length) return new Float32Array(0);
      let reply = await worker.request('embedInputs', part);
      if (reply.error !== undefined && worker !== this.main) reply = await this.main.request('embedInputs', part);
      if (reply.error !== undefined) failed ??= reply;
      return reply.result ?? new Float32Array(0);
    }));
    if (failed) return failed;
    const embeddings = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => { embeddings.set(p, at); return at + p.length; }, 0);
    return this.main.request('trayFinish', job, embeddings);
  }

  /** Another bundle on the main classifier: helpers start over and load it. */
  reloadHelpers() {
    for (const h of this.helpers) h.restart();
  }

  restart() {
    this.main.restart();
    this.reloadHelpers();
  }

  request(op, ...args) {
    return this.main.request(op, ...args);
  }

  call(op, ...args) {
    return this.main.call(op, ...args);
  }
}
