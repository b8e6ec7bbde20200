// Reference beans the user added, kept in IndexedDB so they survive a reload: one references
// file (the module's exportReferences() bytes) per model, keyed by the model's id, since
// embeddings only mean something to the model that made them.
const DB = 'beanscan';
const STORE = 'references';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('storage transaction aborted'));
    });
  } finally {
    db.close();
  }
}

/** The stored references file for this model, or undefined. */
export const loadReferences = (modelId) => run('readonly', (s) => s.get(modelId));

/** Stores the references file for this model (replacing what was there). */
export const saveReferences = (modelId, bytes) => run('readwrite', (s) => s.put(bytes, modelId));
