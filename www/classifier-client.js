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
    const url = new URL('./worker.js', import.meta.url);
    if (this.backend) url.searchParams.set('backend', this.backend);
    const worker = new Worker(url, { type: 'module' });
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
        const resolve = this.pending.get(data.id);
        this.pending.delete(data.id);
        resolve?.(data);
        if (data.fatal) this.restart();
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

  restart(why = 'the classifier stopped and was restarted') {
    this.worker.terminate();
    this.failPending(why, true);
    this.start();
  }

  failPending(why, fatal = false) {
    for (const [id, resolve] of this.pending) resolve({ id, error: why, fatal });
    this.pending.clear();
  }

  /** Sends one request to the current worker; resolves to {result} | {error, fatal}. */
  post(op, args = [], transfer = []) {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending.has(id)) this.restart(`no answer after ${REQUEST_TIMEOUT_MS / 1000} s; the classifier was restarted`);
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, (reply) => { clearTimeout(timer); resolve(reply); });
      this.worker.postMessage({ id, op, args }, transfer);
    });
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
