// The shared reference library: reference beans the company's graders confirmed, kept in a
// Qdrant collection the company runs and reached from here with `fetch` (no server of ours in
// between; protocol: docs/shared-library.md). Confirm / Correct / Undo go to an outbox kept in
// IndexedDB; a sync makes sure of the collection, sends the outbox (idempotent upserts) and pulls
// the other graders' references of the loaded model changed since the last pull, page by page.
// Every request body and every check of what the server sends comes from the wasm module
// (src/library through src/web/library.rs), by way of the worker: nothing is built or trusted
// here. With no library set up this makes no request and changes nothing.
// A library too large for a phone (more live references of the model than the module's
// `libraryLocalMax`, counted at each sync) is no longer pulled: the references kept so far stay
// for offline use, and while online each photo's (or tray's) beans are labelled from the server's
// k nearest references (one batch search), voted by the module as the kept ones would be. When
// the server cannot be asked, or its answer is refused, the beans are labelled with what is kept
// here, and the page says so once.
import {
  forgetPulled, keepPulled, loadLibraryValue, outboxOf, queueChange, removeSent, saveLibraryValue, sharedOf,
} from './device-store.js';

const SYNC_EVERY_MS = 30_000;  // while set up and the page is visible
const SYNC_AFTER_CHANGE_MS = 1_000; // a burst of confirmations goes in one sync
const REQUEST_TIMEOUT_MS = 20_000;
const SEARCH_TIMEOUT_MS = 10_000; // a grader waits for these labels: then the kept references vote

/** A sync that stopped, with the sentence to show. */
class LibraryError extends Error {}

const $ = (id) => document.getElementById(id);
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** "1 change waits" / "3 changes wait". */
const waitingChanges = (n) => `${plural(n, 'change')} wait${n === 1 ? 's' : ''}`;
const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const keyOf = (r) => `${r.model_id}/${r.ref_id}`;
/** 23456 → "23,456". */
const number = (n) => n.toLocaleString('en-US');

/** A random id for this browser, written on every point it sends. */
function newDeviceId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The server's address as typed: an http(s) URL without credentials, query or fragment, no
 *  trailing slash; '' for none. Throws a sentence for anything else. */
function normaliseAddress(text) {
  const address = text.trim().replace(/\/+$/, '');
  if (!address) return '';
  let url;
  try {
    url = new URL(address);
  } catch {
    throw new LibraryError(`"${address}" is not an address: give the server's URL, e.g. https://qdrant.example.org:6333`);
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
    throw new LibraryError('The address must be an http(s) URL with no user name, key or query in it: the API key has its own field.');
  }
  return address;
}

/** The body, read until it is longer than `limit` (the most the library may send: the module
 *  then refuses it without the rest being read). */
async function readAtMost(response, limit) {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size > limit) { reader.cancel().catch(() => {}); break; }
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((at, c) => { bytes.set(c, at); return at + c.length; }, 0);
  return bytes;
}

/** What a refusal says: Qdrant's `status.error`, else the start of the body. */
function detail(bytes) {
  const text = new TextDecoder().decode(bytes.subarray(0, 2000)).trim();
  try {
    const error = JSON.parse(text)?.status?.error;
    if (typeof error === 'string') return error;
  } catch { /* not JSON: plain text */ }
  return text.slice(0, 200) || 'no details';
}

export class SharedLibrary {
  /**
   * @param {{client, ownIds: () => Set<string>, onChange: ({count, addedOnly}?) => Promise<void>,
   *          tell: (text: string, replacing?: string) => void}} options
   *   client: the page's classifier (its worker holds the module); ownIds: the ids of this
   *   device's own references; onChange: the shared references that vote changed, or (no
   *   argument) how they vote did (re-label); tell: a sentence for the page's panel (with
   *   `replacing`: only in place of that one, if the panel still shows it).
   */
  constructor({ client, ownIds, onChange, tell }) {
    Object.assign(this, { client, ownIds, onChange, tell });
    this.settings = null;     // {address, apiKey, site, grader, device}
    this.modelId = null;      // the model the shared references below belong to
    this.pulled = new Map();  // MODEL_ID/REF_ID -> the newest state of each point known here (this model)
    this.count = 0;           // shared references voting now (the classifier's count)
    this.waiting = 0;         // outbox entries of this model
    this.lastSync = null;     // ms
    this.state = 'off';       // off | idle | syncing | ok | error | offline
    this.message = '';
    this.syncs = 0;           // finished syncs, for tests
    this.saved = 0;           // settings saved on this page so far
    this.syncedSaved = 0;     // how many had been saved when the last finished sync started
    this.changes = 0;         // changes this page put in the outbox so far
    this.syncedChanges = 0;   // how many it had put there when the last finished sync started
    this.switching = null;    // while settings are being switched: no sync starts
    this.checked = null;      // `${address} ${modelId}` whose collection was checked
    this.total = null;        // the model's live references on the server, as last counted
    this.fallback = null;     // why the server could not label beans just now (said once)
    this.stale = false;       // beans were labelled without the server: again after a sync
    this.running = null;
    this.again = false;
    this.timer = null;
    this.loaded = this.load();
    this.bind();
  }

  get configured() { return Boolean(this.settings?.address); }

  /** The library holds more references than a phone keeps: online, beans ask the server. */
  get asksServer() {
    const max = this.library?.modelId === this.modelId ? this.library.localMax : undefined;
    return this.configured && Boolean(this.modelId) && this.total !== null && max !== undefined && this.total > max;
  }

  async load() {
    try {
      const s = await loadLibraryValue('settings');
      this.settings = s && typeof s === 'object' ? s : null;
      this.lastSync = (await loadLibraryValue('synced')) ?? null;
    } catch (err) {
      this.say(`The shared library's settings could not be read from this browser's storage: ${err?.message ?? err}`);
    }
    this.fillForm();
    this.show();
  }

  bind() {
    $('library-save').addEventListener('click', () => this.save());
    $('library-sync').addEventListener('click', () => this.sync());
    window.addEventListener('online', () => this.sync());
    window.addEventListener('offline', () => { if (this.configured) { this.state = 'offline'; this.show(); } });
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') this.sync(); });
    setInterval(() => { if (document.visibilityState === 'visible') this.sync(); }, SYNC_EVERY_MS);
  }

  fillForm() {
    const s = this.settings ?? {};
    $('library-address').value = s.address ?? '';
    $('library-key').value = s.apiKey ?? '';
    $('library-site').value = s.site ?? '';
    $('library-grader').value = s.grader ?? '';
  }

  /** Settings → Save: kept in IndexedDB (never in a URL); another address starts afresh. */
  async save() {
    await this.loaded;
    let address;
    try {
      address = normaliseAddress($('library-address').value);
    } catch (err) {
      return this.say(err.message, 'error');
    }
    // A sync under the old settings ends first, and none starts until the new ones are in place:
    // nothing pulled lands in another library's place.
    let switched;
    let kept;
    const switching = new Promise((resolve) => { switched = resolve; });
    const before = this.switching; // a save still switching ends first
    this.switching = switching;
    try {
      await before;
      await this.running?.catch(() => {});
      kept = await this.switchTo(address);
    } finally {
      if (this.switching === switching) this.switching = null;
      switched();
    }
    if (!kept) return;
    this.state = this.configured ? 'idle' : 'off';
    this.say(this.configured ? '' : 'No shared library: references stay on this device.');
    await this.countWaiting();
    this.sync();
  }

  /** Keeps the form's settings (under `address`); another address forgets the old library's.
   *  False (and said) when the browser could not keep them. */
  async switchTo(address) {
    const previous = this.settings;
    const next = {
      address,
      apiKey: $('library-key').value.trim(),
      site: $('library-site').value.trim(),
      grader: $('library-grader').value.trim(),
      device: previous?.device ?? newDeviceId(),
    };
    try {
      await saveLibraryValue('settings', next);
      if ((previous?.address ?? '') !== address) {
        await forgetPulled();
        await saveLibraryValue('synced', undefined);
      }
    } catch (err) {
      this.say(`The shared library's settings could not be saved in this browser: ${err?.message ?? err}`, 'error');
      return false;
    }
    this.settings = next;
    this.saved += 1;
    this.fillForm();
    if ((previous?.address ?? '') !== address) {
      // Another library (or none): the references pulled from the old one stop voting.
      this.pulled.clear();
      this.checked = null;
      this.lastSync = null;
      this.total = null;
      this.fallback = null;
      if (this.count) {
        const reply = await this.client.request('clearSharedReferences');
        if (reply.error === undefined) await this.changedVoters(reply.result);
      }
    }
    return true;
  }

  /**
   * A fresh classifier (or another bundle): the pulled references of its model vote again.
   * `send(op, ...args)` talks to it before the page's other requests (resolves {result}|{error}).
   */
  async restore(modelId, send) {
    await this.loaded;
    this.modelId = modelId;
    this.pulled = new Map();
    this.count = 0;
    this.total = null;
    if (!this.configured) return this.show();
    try {
      // Whether the library was too large to keep when last counted: offline, it still is.
      this.total = (await loadLibraryValue(`total/${modelId}`)) ?? null;
      await this.describe(send);
    } catch { /* counted again at the next sync */ }
    try {
      for (const r of await sharedOf(modelId)) this.pulled.set(keyOf(r), r);
    } catch (err) {
      this.say(`The shared references kept in this browser could not be read: ${err?.message ?? err}`, 'error');
    }
    const live = [...this.pulled.values()].filter((r) => !r.deleted);
    for (let i = 0; i < live.length; i += 256) {
      const reply = await send('applySharedReferences', live.slice(i, i + 256));
      if (reply.error !== undefined) {
        // Kept by an older page, or damaged: fetched again whole at the next sync.
        this.say(`The shared references kept in this browser could not be used (${reply.error}); they are fetched again.`, 'error');
        await forgetPulled().catch(() => {});
        this.pulled.clear();
        const cleared = await send('clearSharedReferences');
        this.count = cleared.result?.count ?? 0;
        break;
      }
      this.count = reply.result.count;
    }
    await this.countWaiting();
    this.show();
    setTimeout(() => this.sync(), 0); // once the page is ready
  }

  /**
   * Confirm / Correct (`deleted` false) or Undo (true) of one of this device's references: into
   * the outbox (replacing an unsent change of the same point), and sent soon.
   */
  async changed({ refId, label, embedding, deleted }) {
    if (!this.configured || !this.modelId) return;
    const s = this.settings;
    const now = Date.now();
    const key = `${this.modelId}/${refId}`;
    const previous = this.pulled.get(key);
    const reference = {
      ref_id: refId,
      label,
      embedding: Array.from(embedding, Number),
      model_id: this.modelId,
      grader: s.grader,
      device: s.device,
      site: s.site,
      created_at: previous?.created_at ?? now,
      updated_at: Math.max(now, (previous?.updated_at ?? 0) + 1), // newer than what it replaces
      deleted,
    };
    try {
      await queueChange(key, reference);
      this.changes += 1;
      this.pulled.set(key, reference);
      // An Undo also takes back the point where it came in from the library.
      const reply = await this.client.request('applySharedReferences', [reference]);
      if (reply.error === undefined) this.count = reply.result.count;
    } catch (err) {
      this.say(`This change could not be kept for the shared library: ${err?.message ?? err}`, 'error');
    }
    await this.countWaiting();
    this.show();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.sync(), SYNC_AFTER_CHANGE_MS);
  }

  /** Sends the outbox and pulls; one at a time (a call meanwhile runs one more afterwards). */
  async sync() {
    await this.loaded;
    while (this.switching) await this.switching;
    if (!this.configured || !this.modelId) return;
    if (this.running) { this.again = true; return this.running; }
    this.running = (async () => {
      do {
        this.again = false;
        await this.syncOnce();
      } while (this.again);
    })();
    try { await this.running; } finally { this.running = null; }
  }

  async syncOnce() {
    const [saved, changes] = [this.saved, this.changes];
    if (!navigator.onLine) {
      this.state = 'offline'; // no request: the 'online' event syncs
      this.finished(saved, changes);
      return this.show();
    }
    this.state = 'syncing';
    this.show();
    const problems = [];
    let relabel = false;
    try {
      const library = await this.describe();
      await this.ensureCollection(library);
      let pushed = 0;
      try {
        pushed = await this.push(library);
      } catch (err) {
        if (!err.readOnly) throw err;
        problems.push(err.message); // a viewer's key: still receives
      }
      const [wasLarge, before] = [this.asksServer, this.total];
      await this.countLive(library);
      // Too large to keep: what is kept stays for offline use, and beans ask the server. Their
      // labels change when the library did (or this device's changes reached it), when it moved
      // from kept to asked (or back), and after labels made without the server.
      if (this.asksServer) relabel = !wasLarge || pushed > 0 || this.total !== before || this.stale;
      else {
        relabel = wasLarge;
        await this.pull(library);
      }
      this.lastSync = Date.now();
      saveLibraryValue('synced', this.lastSync).catch(() => {});
      this.state = problems.length ? 'error' : 'ok';
      this.message = problems.join(' ');
    } catch (err) {
      this.state = 'error';
      this.message = err instanceof LibraryError ? err.message : `The shared library could not be synced: ${err?.message ?? err}`;
    }
    if (!navigator.onLine) {
      // Offline by now (the sync may have been cut off midway): the 'online' event syncs again.
      this.state = 'offline';
      this.message = '';
    }
    this.finished(saved, changes);
    await this.countWaiting();
    this.show();
    if (relabel) {
      this.stale = false;
      await this.onChange();
    }
  }

  /** The collection's name, page size, answer limit, bodies and local limit for this model (from
   *  the module). `ask(op, ...args)`: how to reach the worker (the page's `send` while it starts). */
  async describe(ask = (op, ...args) => this.client.request(op, ...args)) {
    if (this.library?.modelId !== this.modelId) {
      const reply = await ask('libraryInfo');
      if (reply.error !== undefined) throw new Error(reply.error);
      this.library = { ...reply.result, modelId: this.modelId };
    }
    return this.library;
  }

  /** One request to the library; resolves to {status, bytes}. A refused key or no answer throws. */
  async request(library, method, path, body, timeout = REQUEST_TIMEOUT_MS) {
    const { address, apiKey } = this.settings;
    const headers = {};
    if (apiKey) headers['api-key'] = apiKey; // a header, never the URL
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await fetch(`${address}/collections/${encodeURIComponent(library.collection)}${path}`, {
        method,
        headers,
        body,
        cache: 'no-store', // and the service worker lets it by
        credentials: 'omit',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
        signal: AbortSignal.timeout(timeout),
      });
    } catch (err) {
      const why = err?.name === 'TimeoutError' ? `no answer in ${timeout / 1000} s` : 'no answer, or the server does not allow calls from this page';
      throw new LibraryError(`The shared library at ${address} could not be reached (${why}): check the address and the connection. ${this.keptNote()}`);
    }
    const bytes = await readAtMost(response, library.maxAnswerBytes).catch(() => new Uint8Array(0));
    if (response.status === 401) {
      throw new LibraryError(`The shared library refused the API key (HTTP 401: ${detail(bytes)}): check the key in the settings. ${this.keptNote()}`);
    }
    return { status: response.status, bytes };
  }

  keptNote() {
    return this.waiting ? `${waitingChanges(this.waiting)} on this device and will be sent later.` : '';
  }

  refused(what, { status, bytes }) {
    return new LibraryError(`The shared library refused ${what} (HTTP ${status}: ${detail(bytes)}). ${this.keptNote()}`);
  }

  /** The collection exists and fits this model: created (with its payload indexes) if missing. */
  async ensureCollection(library) {
    const checked = `${this.settings.address} ${this.modelId}`;
    if (this.checked === checked) return;
    let answer = await this.request(library, 'GET', '');
    if (answer.status === 404) {
      const created = await this.request(library, 'PUT', '', library.createBody);
      if (created.status === 403) {
        throw new LibraryError(`The collection "${library.collection}" does not exist yet and this API key may not create it (HTTP 403): ask for a key that may write.`);
      }
      if (created.status !== 200) {
        answer = await this.request(library, 'GET', ''); // made by another phone meanwhile?
        if (answer.status !== 200) throw this.refused(`to create the collection "${library.collection}"`, created);
      } else {
        for (const body of library.indexBodies) {
          const indexed = await this.request(library, 'PUT', '/index?wait=true', body);
          if (indexed.status !== 200) throw this.refused('a payload index', indexed);
        }
        this.checked = checked;
        return;
      }
    }
    if (answer.status !== 200) throw this.refused(`to show the collection "${library.collection}"`, answer);
    const check = await this.client.request('checkLibraryCollection', answer.bytes);
    if (check.error !== undefined) throw new LibraryError(`${sentence(check.error)}.`);
    this.checked = checked;
  }

  /** Sends this model's outbox, a page at a time; an entry leaves it only once the server has it. */
  async push(library) {
    const entries = (await outboxOf(this.modelId)).sort((a, b) => a.updated_at - b.updated_at);
    for (let i = 0; i < entries.length; i += library.pageSize) {
      const page = entries.slice(i, i + library.pageSize);
      const body = await this.client.request('libraryUpsertBody', page);
      if (body.error !== undefined) throw new LibraryError(`Changes waiting to be sent were refused before sending: ${body.error}`);
      const answer = await this.request(library, 'PUT', '/points?wait=true', body.result);
      if (answer.status === 403) {
        const err = new LibraryError(`This API key may only read the shared library (HTTP 403): ${waitingChanges(entries.length)} on this device until a key that may write is set.`);
        err.readOnly = true;
        throw err;
      }
      if (answer.status !== 200) throw this.refused('the changes sent', answer);
      await removeSent(page.map((r) => [keyOf(r), r.updated_at]));
    }
    return entries.length;
  }

  /** Counts this model's live references on the server (kept for the next visit, offline too). */
  async countLive(library) {
    const answer = await this.request(library, 'POST', '/points/count', library.countBody);
    if (answer.status !== 200) throw this.refused('to count the shared references', answer);
    const counted = await this.client.request('parseLibraryCount', answer.bytes);
    if (counted.error !== undefined) throw new LibraryError(`${sentence(counted.error)}.`);
    this.total = counted.result;
    await saveLibraryValue(`total/${this.modelId}`, this.total).catch(() => {});
  }

  /**
   * Labels of beans (`embeddings`, Float32Arrays; `tray`: tray beans, with the tray threshold)
   * voted from the server's nearest references: one batch search per `pageSize` beans, k the
   * classifier's. Null when the library is kept here (or none is set up: no request), or when
   * the server cannot be asked or its answer is refused (said once): the caller then votes with
   * the references kept here. `ask`: as for `describe`.
   */
  async vote(embeddings, tray, ask = (op, ...args) => this.client.request(op, ...args)) {
    if (!this.asksServer || !embeddings.length) return null;
    if (!navigator.onLine) return this.fellBack('Offline: the shared library\'s server cannot be asked for each bean\'s nearest references.');
    try {
      const library = await this.describe(ask);
      const results = [];
      for (let i = 0; i < embeddings.length; i += library.pageSize) {
        const part = embeddings.slice(i, i + library.pageSize);
        const body = await ask('librarySearchBody', part);
        if (body.error !== undefined) throw new LibraryError(`${sentence(body.error)}.`);
        const answer = await this.request(library, 'POST', '/points/search/batch', body.result, SEARCH_TIMEOUT_MS);
        if (answer.status !== 200) throw this.refused('to search the shared references', answer);
        const labelled = await ask('labelWithSharedHits', part, answer.bytes, tray);
        if (labelled.error !== undefined) throw new LibraryError(`${sentence(labelled.error)}.`);
        results.push(...labelled.result);
      }
      if (this.fallback) {
        this.fallback = null;
        this.tell('', this.told); // the server labels again
        this.show();
      }
      return results;
    } catch (err) {
      return this.fellBack(err instanceof LibraryError ? err.message : `The shared library could not be asked: ${err?.message ?? err}.`);
    }
  }

  /** The server could not label beans: they are voted here; said once until it labels again. */
  fellBack(why) {
    this.stale = true;
    if (!this.fallback) {
      this.fallback = why;
      this.told = `${why.trim()} Beans are labelled with the ${plural(this.count, 'shared reference')} kept on this device `
        + `(of the library's ${number(this.total ?? 0)}) until it can be asked again.`;
      this.tell(this.told);
      this.show();
    }
    return null;
  }

  /** Pulls this model's points changed since the last pull; each page is checked whole by the
   *  module before anything of it is kept. The mark moves only once every page was taken. */
  async pull(library) {
    const markKey = `since/${this.modelId}`;
    const since = (await loadLibraryValue(markKey)) ?? undefined;
    let mark = since;
    let offset;
    let changed = null;
    do {
      const body = await this.client.call('libraryScrollBody', since, offset);
      const answer = await this.request(library, 'POST', '/points/scroll', body);
      if (answer.status !== 200) throw this.refused('to list the shared references', answer);
      const page = await this.client.request('acceptLibraryPage', answer.bytes, mark);
      if (page.error !== undefined) {
        throw new LibraryError(`${sentence(page.error)}. Nothing of it was taken: the shared references stay as they were.`);
      }
      const { references, nextOffset } = page.result;
      mark = page.result.since ?? undefined;
      // A point this device changed later (an Undo not sent yet) keeps its newer state.
      const taken = await keepPulled(references.map((r) => [keyOf(r), r]));
      for (const r of taken) this.pulled.set(keyOf(r), r);
      if (taken.length) {
        changed = await this.client.call('applySharedReferences', taken);
        this.count = changed.count;
      }
      offset = nextOffset ?? undefined;
    } while (offset);
    if (mark !== undefined) await saveLibraryValue(markKey, mark);
    if (changed) await this.changedVoters(changed);
  }

  /** One more sync ended; `saved`, `changes`: the settings saved (which it ran under) and the
   *  changes made when it started (those it could send). */
  finished(saved, changes) {
    this.syncs += 1;
    this.syncedSaved = saved;
    this.syncedChanges = changes;
  }

  async changedVoters(voters) {
    this.count = voters.count;
    this.show();
    await this.onChange(voters);
  }

  async countWaiting() {
    this.waiting = this.configured && this.modelId ? (await outboxOf(this.modelId).catch(() => [])).length : 0;
  }

  say(text, state) {
    this.message = text;
    if (state) this.state = state;
    this.show();
  }

  /** The status line: how many shared references from how many graders, the last sync, what waits. */
  show() {
    const status = $('library-status');
    $('library-sync').disabled = !this.configured;
    let text;
    let graders = 0;
    if (!this.configured) {
      text = 'Not set up: your reference beans stay on this device.';
    } else {
      const own = this.ownIds();
      const names = new Set([...this.pulled.values()].filter((r) => !r.deleted && !own.has(r.ref_id)).map((r) => r.grader));
      graders = this.count ? names.size : 0;
      const when = this.lastSync
        ? `last synced ${new Date(this.lastSync).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`
        : 'not synced yet';
      text = [
        ...(this.asksServer
          ? [`Shared library: asks the server for each bean's nearest: the library holds ${number(this.total)} references `
            + `(a phone keeps at most ${number(this.library.localMax)})`, `${number(this.count)} kept here for offline use`]
          : [`Shared library: ${plural(this.count, 'reference')} from ${plural(graders, 'grader')}`]),
        when,
        ...(this.waiting ? [`${this.waiting} waiting to send`] : []),
        ...(this.state === 'syncing' ? ['syncing…'] : this.state === 'offline' ? ['offline: syncs when back online'] : []),
      ].join(' · ');
    }
    status.textContent = text;
    Object.assign(status.dataset, {
      state: this.configured ? this.state : 'off',
      mode: this.asksServer ? 'server' : 'local',
      total: String(this.total ?? ''),
      fallback: this.fallback ?? '',
      count: String(this.count),
      graders: String(graders),
      waiting: String(this.waiting),
      syncedAt: String(this.lastSync ?? ''),
      syncs: String(this.syncs),
      saved: String(this.saved),
      syncedSaved: String(this.syncedSaved),
      changes: String(this.changes),
      syncedChanges: String(this.syncedChanges),
    });
    const message = $('library-message');
    message.textContent = this.message;
    message.dataset.state = this.state;
  }
}
