// What the user adds to the page, kept in IndexedDB so it survives a reload:
// - reference beans: one references file (the module's exportReferences() bytes) per model,
//   keyed by the model's id, since embeddings only mean something to the model that made them;
// - the bundle the user loaded instead of the built-in one, if any;
// - the shared reference library (shared-library.js): its settings, pull marks and the server's
//   count of each model's references (`library`),
//   the changes waiting to be sent (`outbox`) and the references pulled from it (`shared`), both
//   keyed `MODEL_ID/REF_ID`.
const DB = 'beanscan';
const REFERENCES = 'references';
const BUNDLE = 'bundle';
const LIBRARY = 'library';
const OUTBOX = 'outbox';
const SHARED = 'shared';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 3);
    req.onupgradeneeded = () => {
      for (const name of [REFERENCES, BUNDLE, LIBRARY, OUTBOX, SHARED]) {
        if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(store, mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      // `store`: one store's name, or several (the action then reaches them through `tx`).
      const req = action(Array.isArray(store) ? null : tx.objectStore(store), tx);
      tx.oncomplete = () => resolve(req?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('storage transaction aborted'));
    });
  } finally {
    db.close();
  }
}

/** The stored references file for this model, or undefined. */
export const loadReferences = (modelId) => run(REFERENCES, 'readonly', (s) => s.get(modelId));

/** Stores the references file for this model (replacing what was there). */
export const saveReferences = (modelId, bytes) => run(REFERENCES, 'readwrite', (s) => s.put(bytes, modelId));

/** The bundle the user loaded, or undefined for the built-in one. */
export const loadUserBundle = () => run(BUNDLE, 'readonly', (s) => s.get('current'));

/** Keeps the user's bundle (null: back to the built-in one). */
export const saveUserBundle = (bytes) => run(BUNDLE, 'readwrite', (s) => (bytes ? s.put(bytes, 'current') : s.delete('current')));

// ---------- the shared reference library ----------

/** A value of the library's own store (`settings`, `since/MODEL_ID`, `total/MODEL_ID`, `synced`), or undefined. */
export const loadLibraryValue = (key) => run(LIBRARY, 'readonly', (s) => s.get(key));

/** Stores (or with undefined, deletes) a value of the library's own store. */
export const saveLibraryValue = (key, value) => run(LIBRARY, 'readwrite', (s) => (value === undefined ? s.delete(key) : s.put(value, key)));

/** Keys `MODEL_ID/…` of one model. */
const ofModel = (modelId) => IDBKeyRange.bound(`${modelId}/`, `${modelId}/\uffff`);

/** The entries of `outbox` or `shared` for one model. */
function entriesOf(store, modelId) {
  return run(store, 'readonly', (s) => s.getAll(ofModel(modelId)));
}

export const outboxOf = (modelId) => entriesOf(OUTBOX, modelId);
export const sharedOf = (modelId) => entriesOf(SHARED, modelId);

/** How many changes wait to be sent, of every model. */
export const outboxSize = () => run(OUTBOX, 'readonly', (s) => s.count());

/** One change: into the outbox and, as the newest state of its point, into the pulled ones. */
export const queueChange = (key, reference) => run([OUTBOX, SHARED], 'readwrite', (_, tx) => {
  tx.objectStore(OUTBOX).put(reference, key);
  return tx.objectStore(SHARED).put(reference, key);
});

/** After the server took them: removes the outbox entries not changed since they were sent. */
export const removeSent = (sent) => run(OUTBOX, 'readwrite', (s) => {
  for (const [key, updatedAt] of sent) {
    s.get(key).onsuccess = (e) => { if (e.target.result?.updated_at === updatedAt) s.delete(key); };
  }
});

/** Keeps pulled references (keyed `MODEL_ID/REF_ID`) unless the same or a newer state of the
 * point is stored (read before, or a change of this device's): resolves to those taken. */
export async function keepPulled(entries) {
  const taken = [];
  await run(SHARED, 'readwrite', (s) => {
    for (const [key, reference] of entries) {
      s.get(key).onsuccess = (e) => {
        const stored = e.target.result;
        if (stored && stored.updated_at >= reference.updated_at) return; // read again, or changed here since
        s.put(reference, key);
        taken.push(reference);
      };
    }
  });
  return taken;
}

/** Forgets every pulled reference, pull mark and count of the server's (another library, or none). */
export const forgetPulled = () => run([SHARED, LIBRARY], 'readwrite', (_, tx) => {
  tx.objectStore(SHARED).clear();
  const library = tx.objectStore(LIBRARY);
  library.delete(IDBKeyRange.bound('total/', 'total/\uffff'));
  return library.delete(IDBKeyRange.bound('since/', 'since/\uffff'));
});
