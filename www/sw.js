// Service worker: keeps the page, its worker and the wasm module for offline use.
// Every path is relative to this file, so the page works under any sub-path. The cache is named
// after the build (pkg/version.js, written by ./build.sh build from a hash of the module and the
// page's files): a new deploy fills a new cache and never mixes an old module with new files;
// older caches are deleted once the new worker takes over. Only same-origin GETs are answered.
importScripts('./pkg/version.js');

const CACHE = `beanscan-${self.BEANSCAN_BUILD}`;
const FILES = [
  './', 'index.html', 'style.css', 'manifest.webmanifest', 'icon.svg',
  'main.js', 'classifier-client.js', 'dom.js', 'device-store.js', 'results.js', 'summary.js',
  'palette.js', 'tray-canvas.js', 'tray-summary.js', 'tray-view.js', 'worker.js', 'pkg/beanscan.js', 'pkg/beanscan_bg.wasm', 'pkg/version.js',
];

self.addEventListener('install', (event) => {
  // 'reload': straight from the server, not from a possibly older HTTP cache entry.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES.map((f) => new Request(f, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith('beanscan-') && k !== CACHE).map((k) => caches.delete(k)),
  )));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // The page and worker URLs may carry options (?backend=cpu): the file is the same.
    const hit = (await cache.match(request, { ignoreSearch: true }))
      ?? (request.mode === 'navigate' ? await cache.match('./') : undefined);
    return hit ?? fetch(request);
  })());
});
