// The batch at a glance (count per class, defect share) and the results as CSV.
import { el } from './dom.js';
import { NON_DEFECT } from './results.js';
import { NEW_CAMERA, noticeElements, unfamiliar } from './notice.js';

/** Counts over labelled entries ({result}) and refused ones ({error}); `bound`: the single-bean
 *  unknown threshold, for the new-camera notice. */
export function summarize(entries, classNames, bound) {
  const labelled = entries.filter((e) => e.result);
  const perClass = new Map(classNames.map((name) => [name, 0]));
  for (const { result } of labelled) perClass.set(result.label, (perClass.get(result.label) ?? 0) + 1);
  const defects = labelled.filter((e) => e.result.label !== NON_DEFECT).length;
  return {
    labelled: labelled.length,
    errors: entries.filter((e) => e.error !== undefined).length,
    unknown: labelled.filter((e) => e.result.unknown).length,
    defects,
    defectShare: labelled.length ? defects / labelled.length : 0,
    perClass,
    unfamiliar: unfamiliar(labelled.map((e) => e.result.distance), bound),
  };
}

/** `onTeach`: called by the new-camera notice's button (propose beans to confirm). */
export function renderSummary(box, s, onTeach) {
  box.hidden = s.labelled + s.errors === 0;
  const head = el('p', 'summary-head');
  const share = el('strong', null, `${(s.defectShare * 100).toFixed(1)}%`);
  share.dataset.testid = 'defect-share';
  head.append(share, ` defective (${s.defects} of ${s.labelled} labelled beans)`);
  if (s.unknown) head.append(` · ${s.unknown} unknown`);
  if (s.errors) head.append(` · ${s.errors} not read`);
  const list = el('ul', 'counts');
  for (const [name, n] of s.perClass) {
    if (!n) continue;
    const li = el('li', name === NON_DEFECT ? 'chip normal' : 'chip', `${name} ${n}`);
    li.dataset.testid = 'class-count';
    li.dataset.label = name;
    li.dataset.count = String(n);
    list.append(li);
  }
  box.replaceChildren(head, list);
  if (s.unfamiliar) box.append(...noticeElements({ noticeId: 'camera-notice', buttonId: 'teach-camera' }, NEW_CAMERA, onTeach));
}

const CSV_COLUMNS = ['file', 'label', 'defect', 'unknown', 'confidence', 'distance', 'nearest_reference', 'error'];

export function csvField(value) {
  let text = String(value ?? '');
  // A spreadsheet would run a cell starting like a formula: keep it text.
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One row per photo in the order given; `meta` ({k, threshold, voters, backend, bundle}) adds the
 * same columns to every row, so each row says how it was labelled. */
export function toCsv(entries, meta) {
  const lines = [[...CSV_COLUMNS, ...Object.keys(meta)].join(',')];
  for (const e of entries) {
    const r = e.result;
    const row = r
      ? [e.file, r.label, r.label !== NON_DEFECT, r.unknown, r.confidence.toFixed(4), r.distance.toFixed(4), r.neighbours[0]?.id, '']
      : [e.file, '', '', '', '', '', '', e.error ?? 'waiting'];
    lines.push([...row, ...Object.values(meta)].map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
