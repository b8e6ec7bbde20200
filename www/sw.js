// Service worker: keeps the page, its worker, the bundle and the wasm module for offline use.
// Of the two modules (pkg/: WebGPU + CPU, pkg/cpu/: CPU only) it keeps the one this device runs:
// the page asks for it ({keep}) once it runs, a module file fetched through here is kept too, and
// a new build's install fetches the module files the previous build's cache held.
// Every path is relative to this file, so the page works under any sub-path. The cache is named
// after the build (pkg/version.js, written by ./build.sh build from a hash of the module and the
// page's files): a new deploy fills a new cache and never mixes an old module with new files;
// older caches are deleted once the new worker takes over. Only same-origin GETs are answered, and
// never the shared reference library's (asked 'no-store').
importScripts('./pkg/version.js');

const CACHE = `beanscan-${self.BEANSCAN_BUILD}`;
// The page is kept once, as './': a navigation to any URL of it (index.html, ?backend=cpu) is
// answered with that copy.
const FILES = [
  './', 'style.css', 'manifest.webmanifest', 'icon.svg',
  'main.js', 'classifier-client.js', 'dom.js', 'device-store.js', 'notice.js', 'results.js', 'summary.js',
  'palette.js', 'shared-library.js', 'tray-canvas.js', 'tray-summary.js', 'tray-view.js', 'worker.js', 'pkg/version.js',
  'pkg/default.beanscan',
];
// What the page may ask to keep: the two modules' files.
const MODULE_FILES = ['pkg/beanscan.js', 'pkg/beanscan_bg.wasm', 'pkg/cpu/beanscan.js', 'pkg/cpu/beanscan_bg.wasm'];
const inScope = (path) => new URL(path, self.registration.scope).href;
const isModuleFile = (url) => MODULE_FILES.some((f) => inScope(f) === url);

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    // The module this device ran under an earlier build, so an update keeps it usable offline.
    const used = new Set();
    for (const name of (await caches.keys()).filter((k) => k.startsWith('beanscan-') && k !== CACHE)) {
      for (const request of await (await caches.open(name)).keys()) if (isModuleFile(request.url)) used.add(request.url);
    }
    const cache = await caches.open(CACHE);
    // 'no-cache': asked of the server every time, never taken from a possibly older HTTP cache
    // entry, but conditionally: a file the first visit has just loaded (the 3.8 MB bundle) comes
    // back as "unchanged" instead of a second download (the page registers this worker once the
    // model is loaded, so the HTTP cache holds it by then).
    await cache.addAll([...FILES, ...used].map((f) => new Request(f, { cache: 'no-cache' })));
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith('beanscan-') && k !== CACHE).map((k) => caches.delete(k)),
  )));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  // The shared reference library's requests (shared-library.js asks them 'no-store'; a library
  // behind this origin's proxy too) go to the network untouched, never answered from or kept here.
  if (request.cache === 'no-store') return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // The page and worker URLs may carry options (?backend=cpu): the file is the same.
    const hit = (await cache.match(request, { ignoreSearch: true }))
      ?? (request.mode === 'navigate' ? await cache.match('./') : undefined);
    if (hit) return hit;
    const response = await fetch(request);
    if (response.ok && isModuleFile(request.url)) await cache.put(request, response.clone());
    return response;
  })());
});

self.addEventListener('message', (event) => {
  const urls = (Array.isArray(event.data?.keep) ? event.data.keep : []).map(inScope).filter(isModuleFile);
  if (!urls.length) return;
  event.waitUntil(caches.open(CACHE).then(async (cache) => {
    const missing = (await Promise.all(urls.map(async (u) => ((await cache.match(u)) ? null : u)))).filter(Boolean);
    await cache.addAll(missing);
  }));
});
