// Milliseconds the first vote after a change of references takes in the browser's CPU path
// (headless Chromium, the built module), where the module fits the Normal-vs-defect gate and
// the defect head on the bundle's references and this device's confirmed ones, against the
// votes after it. N greencoffee r1 photos per class (10 classes) are embedded (one view) and
// confirmed; then one reference more (a change) and a vote, REPS times.
//   ./build.sh build && node bench/fit-ms.mjs [--per-class 10] [--reps 5]
// Prints one JSON line. Not a test; not in CI.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startServer } from '../tests/e2e/harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(argv[i + 1]);
};
const PER_CLASS = opt('per-class', 10);
const REPS = opt('reps', 5);
const data = join(root, '../shared/data/greencoffee/r1');
const photos = readdirSync(data).sort().flatMap((label) =>
  readdirSync(join(data, label)).sort().slice(0, PER_CLASS + 1)
    .map((f) => ({ label, bytes: readFileSync(join(data, label, f)).toString('base64') })));

const { child, url } = await startServer(join(root, 'www'));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(url);
  const r = await page.evaluate(async ({ photos, reps, perClass }) => {
    const { default: init, Classifier } = await import('./pkg/cpu/beanscan.js');
    await init();
    const c = await Classifier.create({ backend: 'cpu', bundle: new Uint8Array(await (await fetch('./pkg/default.beanscan')).arrayBuffer()) });
    c.setViews(1);
    const b64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
    const known = new Set(c.classNames());
    const embedded = [];
    for (const p of photos.filter((p) => known.has(p.label))) embedded.push({ label: p.label, e: await c.embed(b64(p.bytes)) });
    // The last photo of each class is kept back: one of them is confirmed before each timed vote.
    const byClass = Object.groupBy(embedded, (p) => p.label);
    const spare = Object.values(byClass).map((list) => list.pop());
    let confirmed = 0;
    for (const list of Object.values(byClass)) for (const p of list.slice(0, perClass)) { await c.addReference(p.e, p.label); confirmed++; }
    const query = spare[0].e;
    const timed = (f) => { const t = performance.now(); f(); return performance.now() - t; };
    const first = [], later = [];
    for (let rep = 0; rep < reps; rep++) {
      const p = spare[(rep + 1) % spare.length];
      const id = await c.addReference(p.e, p.label);
      first.push(timed(() => c.label(query)));
      later.push(timed(() => c.label(query)));
      await c.removeReference(id);
    }
    const median = (v) => v.sort((a, b) => a - b)[v.length >> 1];
    const last = c.label(query);
    return {
      confirmed, classes: Object.keys(byClass).length, reps,
      first_vote_ms: median(first), later_vote_ms: median(later),
      label: last.label, normal_probability: last.normal_probability, defect_probability: last.defect_probability,
    };
  }, { photos, reps: REPS, perClass: PER_CLASS });
  console.log(JSON.stringify({ per_class: PER_CLASS, ...r }));
} finally {
  await browser.close();
  child.kill();
}
