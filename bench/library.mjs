// Shared reference library against a real Qdrant server (not a test, not in CI):
//   node bench/library.mjs [--sizes 10000,100000,1000000] [--queries 500] [--out FILE]
// Starts its own server (BEANSCAN_QDRANT, else ./build.sh qdrant), then
// 1. pull and push of 10k references with the product's own client (`beanscan refs pull|push`);
// 2. server-side kNN at each size, as a phone asks when the library is too large to keep
//    (library::search_batch_body: k 10, the model filter, tombstones left out, no vectors): one
//    bean, and a 245-bean tray in one request; p50/p95 over loopback HTTP, once the server has
//    finished indexing.
// Points are random unit vectors (near the worst case for HNSW) with a valid payload.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startQdrant } from '../tests/e2e/qdrant.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SIZES = arg('sizes', '10000,100000,1000000').split(',').map(Number);
const QUERIES = Number(arg('queries', '500'));
const OUT = arg('out', 'bench/results/library.json');
const DIM = 128;
let PROBE; // two real references (modelOf), pushed to create each collection
const BIN = process.env.BEANSCAN_BIN ?? join(process.env.CARGO_TARGET_DIR ?? `${process.env.HOME}/.cache/beanscan-target`, 'release/beanscan');

/** UUID v5 as src/library point_id makes it (namespace OID, name `beanscan/MODEL/REF`). */
function pointId(model, ref) {
  const ns = Buffer.from('6ba7b8129dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(ns).update(`beanscan/${model}/${ref}`).digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function unitVector() {
  const v = Array.from({ length: DIM }, () => {
    // Box–Muller: Gaussian components give directions uniform on the sphere.
    const u = 1 - Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
  });
  const n = Math.hypot(...v);
  return v.map((x) => Math.fround(x / n));
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** A request with the graders' key; the answer's `result`, or an error. */
async function call(server, method, path, body) {
  const { status, json } = await server.api(method, path, body);
  if (status !== 200) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json).slice(0, 200)}`);
  return json.result;
}

// Searches go out as one write on a kept-alive connection, as a browser sends them: node's fetch
// writes a request's headers and body apart, and on loopback the second write then waits for a
// delayed ACK (every search took 40-50 ms more, whatever the library's size).
const agent = new http.Agent({ keepAlive: true });
function post(server, path, body) {
  return new Promise((ok, fail) => {
    const req = http.request(`${server.url}${path}`, { method: 'POST', agent, headers: { 'api-key': server.apiKey, 'content-type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? ok(Buffer.concat(chunks)) : fail(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** Waits until the server has finished optimising: green, and the indexed count steady for 3 s
 *  (segments under Qdrant's indexing threshold are searched by a plain scan and never indexed). */
async function waitIndexed(server, collection) {
  let last = -1;
  let steady = 0;
  for (;;) {
    const info = await call(server, 'GET', `/collections/${collection}`);
    const indexed = info.indexed_vectors_count ?? 0;
    steady = info.status === 'green' && indexed === last ? steady + 1 : 0;
    last = indexed;
    if (steady >= 3) return info;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Fills a collection with `n` points of model `model` (batches of 1,000, not waiting on each);
 *  the collection is created as the product creates it (`beanscan refs push` of the probe file). */
async function fill(server, collection, model, classes, n) {
  execFileSync(BIN, ['refs', 'push', '--qdrant', server.url, '--api-key', server.apiKey, '--collection', collection, PROBE]);
  const now = Date.now();
  for (let start = 0; start < n; start += 1000) {
    const points = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const ref = `user-${i.toString(16).padStart(8, '0')}`;
      points.push({
        id: pointId(model, ref),
        vector: unitVector(),
        payload: { ref_id: ref, label: classes[i % classes.length], model_id: model, grader: `g${i % 20}`, device: `d${i % 20}`,
          site: 'bench', created_at: now, updated_at: now, deleted: false },
      });
    }
    await call(server, 'PUT', `/collections/${collection}/points?wait=${start + 1000 >= n}`, { points });
  }
}

async function knn(server, model, classes, n) {
  const collection = `knn-${n}`;
  const t0 = performance.now();
  await fill(server, collection, model, classes, n);
  const filled = (performance.now() - t0) / 1000;
  const info = await waitIndexed(server, collection);
  const indexed = (performance.now() - t0) / 1000;
  // As library::search_batch_body asks: the model's live references, payload fields the vote
  // needs, no vectors. One bean (a single-bean photo), then a 245-bean tray in one request.
  const query = () => ({ vector: unitVector(), limit: 10, with_vector: false, with_payload: ['ref_id', 'label', 'model_id', 'grader', 'deleted'],
    filter: { must: [{ key: 'model_id', match: { value: model } }], must_not: [{ key: 'deleted', match: { value: true } }] } });
  const timed = async (beans, rounds) => {
    const times = [];
    for (let q = 0; q < rounds; q++) {
      const body = JSON.stringify({ searches: Array.from({ length: beans }, query) });
      const s = performance.now();
      await post(server, `/collections/${collection}/points/search/batch`, body);
      times.push(performance.now() - s);
    }
    return times.sort((a, b) => a - b);
  };
  const times = await timed(1, QUERIES);
  const tray = await timed(245, Math.max(10, QUERIES / 25));
  await call(server, 'DELETE', `/collections/${collection}`);
  const row = { references: n, p50_ms: percentile(times, 0.5), p95_ms: percentile(times, 0.95), tray_p50_ms: percentile(tray, 0.5), tray_p95_ms: percentile(tray, 0.95), upload_s: filled, indexed_s: indexed, points: info.points_count, indexed_vectors: info.indexed_vectors_count };
  console.log(`kNN ${n}: one bean p50 ${row.p50_ms.toFixed(2)} ms, p95 ${row.p95_ms.toFixed(2)} ms; 245-bean tray p50 ${row.tray_p50_ms.toFixed(0)} ms, p95 ${row.tray_p95_ms.toFixed(0)} ms (upload ${filled.toFixed(1)} s, settled after ${indexed.toFixed(1)} s, ${row.indexed_vectors} of ${row.points} in the HNSW index)`);
  return row;
}

/** The bundle's model id, as its references carry it: two real photos added with `beanscan refs
 *  add` and pushed to a probe collection, read back from the server. */
async function modelOf(server, dir) {
  PROBE = join(dir, 'probe.beanrefs');
  const data = join(import.meta.dirname, '../../shared/data/greencoffee');
  const rows = readFileSync(join(data, 'manifest.csv'), 'utf8').trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
  const pick = (label) => join(data, rows.find((r) => r[1] === label && r.at(-1) === 'val')[0]);
  const file = PROBE;
  execFileSync(BIN, ['refs', 'add', '--label', 'Normal', '--out', file, pick('Normal')]);
  execFileSync(BIN, ['refs', 'add', '--label', 'Black', '--out', file, pick('Black')]);
  execFileSync(BIN, ['refs', 'push', '--qdrant', server.url, '--api-key', server.apiKey, '--collection', 'probe', file]);
  const { points } = await call(server, 'POST', '/collections/probe/points/scroll', { limit: 1, with_payload: true });
  return points[0].payload.model_id;
}

/** 10k references pulled, then pushed, with the product's own client (`beanscan refs pull` reads
 *  what a first sync after 10k confirmations elsewhere reads; `refs push` writes them again). */
async function pushPull(server, model, dir) {
  await fill(server, 'filled', model, ['Normal', 'Black'], 10000);
  const pulled = join(dir, 'pulled.beanrefs');
  const time = (collection, args) => {
    const s = performance.now();
    execFileSync(BIN, ['refs', ...args.slice(0, 1), '--qdrant', server.url, '--api-key', server.apiKey, '--collection', collection, ...args.slice(1)],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    return (performance.now() - s) / 1000;
  };
  const pull = time('filled', ['pull', '--out', pulled]);
  const push = time('pushed', ['push', pulled]);
  const [sent, got] = [await server.count('filled'), await server.count('pushed')];
  if (sent !== got) throw new Error(`pushed ${got} points, not ${sent}`);
  console.log(`10k references: pull ${pull.toFixed(2)} s, push ${push.toFixed(2)} s (beanscan refs pull|push, whole commands)`);
  return { references: 10000, pull_s: pull, push_s: push };
}

const dir = mkdtempSync(join(tmpdir(), 'beanscan-bench-library-'));
const server = await startQdrant();
try {
  const model = await modelOf(server, dir);
  const result = { date: new Date().toISOString(), cores: (await import('node:os')).cpus().length, model, push_pull: await pushPull(server, model, dir), knn: [] };
  for (const n of SIZES) result.knn.push(await knn(server, model, ['Normal', 'Black'], n));
  writeFileSync(OUT, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`written ${OUT}`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
