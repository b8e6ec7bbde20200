// A real Qdrant server for the shared-library tests: each test starts its own, on free loopback
// ports, with its own storage in a temporary folder, an API key and a read-only key.
// The binary: $BEANSCAN_QDRANT (./build.sh test exports it), else the one `./build.sh qdrant`
// unpacks (run here if it is not there yet). No server, no test: it fails, it never skips.
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FALLBACK = '/root/.cache/beanscan-target/qdrant/qdrant-1.18.3';

async function binary() {
  if (process.env.BEANSCAN_QDRANT) {
    if (!existsSync(process.env.BEANSCAN_QDRANT)) throw new Error(`BEANSCAN_QDRANT=${process.env.BEANSCAN_QDRANT} does not exist`);
    return process.env.BEANSCAN_QDRANT;
  }
  if (existsSync(FALLBACK)) return FALLBACK;
  const { stdout } = await promisify(execFile)(join(repo, 'build.sh'), ['qdrant'], { cwd: repo });
  const path = stdout.trim().split('\n').pop();
  if (!path || !existsSync(path)) throw new Error('no Qdrant server: ./build.sh qdrant did not give one (see its message)');
  return path;
}

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/**
 * Starts a Qdrant server; resolves once /readyz answers. Returns {url, apiKey, readOnlyKey,
 * log(), api(method, path, body), count(collection), stop()}.
 */
export async function startQdrant({ apiKey = 'grader-key-0123456789', readOnlyKey = 'viewer-key-0123456789' } = {}) {
  const bin = await binary();
  const dir = await mkdtemp(join(tmpdir(), 'beanscan-qdrant-'));
  const [http, grpc] = [await freePort(), await freePort()];
  const child = spawn(bin, [], {
    cwd: dir,
    env: {
      ...process.env,
      QDRANT__SERVICE__HOST: '127.0.0.1',
      QDRANT__SERVICE__HTTP_PORT: String(http),
      QDRANT__SERVICE__GRPC_PORT: String(grpc),
      QDRANT__STORAGE__STORAGE_PATH: join(dir, 'storage'),
      QDRANT__STORAGE__SNAPSHOTS_PATH: join(dir, 'snapshots'),
      QDRANT__SERVICE__API_KEY: apiKey,
      QDRANT__SERVICE__READ_ONLY_API_KEY: readOnlyKey,
      QDRANT__TELEMETRY_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => { output = (output + chunk).slice(-20_000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = signal ?? code; });
  const url = `http://127.0.0.1:${http}`;

  const stop = async () => {
    if (exited === null) {
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) { await stop(); throw new Error(`Qdrant exited (${exited}):\n${output}`); }
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) { await stop(); throw new Error(`Qdrant did not become ready in 60 s:\n${output}`); }
    await new Promise((ok) => setTimeout(ok, 200));
  }

  /** A request with the full key; resolves to the parsed answer and its status. */
  const api = async (method, path, body, key = apiKey) => {
    const response = await fetch(url + path, {
      method,
      headers: { 'api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: response.status, json };
  };

  /** Points in a collection, exactly; `filter`: a Qdrant filter. */
  const count = async (collection, filter) => {
    const { status, json } = await api('POST', `/collections/${collection}/points/count`, { exact: true, ...(filter ? { filter } : {}) });
    if (status !== 200) throw new Error(`count: HTTP ${status} ${JSON.stringify(json)}`);
    return json.result.count;
  };

  return { url, apiKey, readOnlyKey, log: () => output, api, count, stop };
}
