// The greencoffee photos the browser benchmarks time: the first N of four classes in turn, as
// base64 (what page.evaluate carries into the page).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function benchPhotos(root, n) {
  const data = join(root, '../shared/data/greencoffee');
  return ['r1/Normal', 'r2/Broken', 'r2/Black', 'r1/Sour']
    .flatMap((d) => readdirSync(join(data, d)).sort().slice(0, Math.ceil(n / 4)).map((f) => join(data, d, f)))
    .slice(0, n)
    .map((p) => readFileSync(p).toString('base64'));
}
