// Tiny static file server for the beanscan page (no dependencies).
//   node tests/e2e/serve.mjs [ROOT]      ROOT defaults to www/ beside this repo's tests/
//   PORT=8080 (0 picks a free port), HOST=127.0.0.1, SERVE_LOG=1 (one line per request on stdout:
//   "GET /path?query STATUS BYTES", BYTES the body sent), SERVE_ISOLATED=1 (cross-origin
//   isolation headers on every response, as wasm threads' shared memory needs)
// Prints "Serving ROOT at http://HOST:PORT/" once listening. Files carry an ETag and a
// Last-Modified date and a conditional request for an unchanged file gets 304 without a body, as
// static hosts do: the service worker's install revalidates what the first visit just loaded.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.bin': 'application/octet-stream',
};

const root = resolve(process.argv[2] ?? fileURLToPath(new URL('../../www', import.meta.url)));
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const log = Boolean(process.env.SERVE_LOG);
const isolation = process.env.SERVE_ISOLATED
  ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
  : {};

function send(res, status, text, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

async function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method not allowed', { Allow: 'GET, HEAD' });
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return send(res, 400, 'Bad request');
  }
  const file = resolve(join(root, pathname));
  if (pathname.includes('\0') || (file !== root && !file.startsWith(root + sep))) return send(res, 403, 'Forbidden');

  let path = file;
  let info = await stat(path).catch(() => null);
  if (info?.isDirectory()) {
    // Relative URLs in the page need the trailing slash.
    if (!pathname.endsWith('/')) return send(res, 301, 'Moved', { Location: `${req.url.split('?')[0]}/` });
    path = join(file, 'index.html');
    info = await stat(path).catch(() => null);
  }
  if (!info?.isFile()) return send(res, 404, 'Not found');

  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers = {
    'Cache-Control': 'no-cache',
    ETag: etag,
    'Last-Modified': info.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
    ...isolation,
  };
  const unchanged = req.headers['if-none-match']?.split(',').map((t) => t.trim().replace(/^W\//, '')).includes(etag);
  if (unchanged) {
    if (log) console.log(`${req.method} ${req.url} 304 0`);
    res.writeHead(304, headers);
    return res.end();
  }
  res.writeHead(200, { ...headers, 'Content-Type': MIME[extname(path).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': info.size });
  if (log) console.log(`${req.method} ${req.url} 200 ${req.method === 'HEAD' ? 0 : info.size}`);
  if (req.method === 'HEAD') return res.end();
  createReadStream(path).on('error', () => res.destroy()).pipe(res);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, 'Internal error');
    else res.destroy();
  });
});
server.listen(port, host, () => {
  const { port: actual } = server.address();
  console.log(`Serving ${root} at http://${host}:${actual}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
