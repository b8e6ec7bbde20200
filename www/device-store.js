// What the user adds to the page, kept in IndexedDB so it survives a reload:
// - reference beans: one references file (the module's exportReferences() bytes) per model,
//   keyed by the model's id, since embeddings only mean something to the model that made them;
// - the bundle the user loaded instead of the built-in one, if any.
const DB = 'beanscan';
const REFERENCES = 'references';
const BUNDLE = 'bundle';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 2);
    req.onupgradeneeded = () => {
      for (const name of [REFERENCES, BUNDLE]) {
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
      const req = action(tx.objectStore(store));
      tx.oncomplete = () => resolve(req.result);
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
