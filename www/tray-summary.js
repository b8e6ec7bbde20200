// A tray at a glance: beans per class (the legend of the outlines too), the defect share and the
// SCA grading, and the tray's beans as CSV (one row per bean).
import { el } from './dom.js';
import { colour, css } from './palette.js';
import { NON_DEFECT } from './results.js';
import { csvField } from './summary.js';
import { NEW_CAMERA, noticeElements, unfamiliar } from './notice.js';

/** A bean's current label: the grader's word when they confirmed or corrected it, else the vote. */
export function labelOf(bean) {
  if (bean.reference) return { label: bean.reference.label, unknown: false, byYou: true };
  return { label: bean.result.label, unknown: bean.result.unknown, byYou: false };
}

/** Counts as the module makes them: per class in class order, unknown beans apart; and whether
 *  the beans get the new-camera notice (`bound`: the single-bean unknown threshold). */
export function countBeans(beans, classNames, bound) {
  const perClass = new Map(classNames.map((c) => [c, 0]));
  let unknown = 0;
  for (const bean of beans) {
    const { label, unknown: isUnknown } = labelOf(bean);
    if (isUnknown) unknown += 1;
    else perClass.set(label, (perClass.get(label) ?? 0) + 1);
  }
  const counts = [...perClass];
  const labelled = beans.length - unknown;
  const defective = counts.filter(([c]) => c !== NON_DEFECT).reduce((sum, [, n]) => sum + n, 0);
  const distances = beans.map((b) => (b.reference ? 0 : b.result.distance));
  return {
    counts, unknown, labelled, defective, defectPercent: labelled ? (100 * defective) / labelled : 0,
    unfamiliar: unfamiliar(distances, bound),
  };
}

const GRADES = {
  specialty: 'Specialty', premium: 'Premium', exchange: 'Exchange', below_standard: 'Below standard', off_grade: 'Off grade',
};

function swatch(rgb) {
  const s = el('span', 'swatch');
  s.style.background = css(rgb);
  return s;
}

/** The outline colours of the classes on this tray (and grey for unknown), under the photo. */
export function renderLegend(box, count, classNames) {
  const items = count.counts.filter(([, n]) => n > 0).map(([c]) => [c, colour(c, false, classNames)]);
  if (count.unknown) items.push(['Unknown', colour('', true, classNames)]);
  box.replaceChildren(...items.map(([name, rgb]) => {
    const li = el('li', null);
    li.dataset.testid = 'legend-item';
    li.dataset.label = name;
    li.append(swatch(rgb), name);
    return li;
  }));
}

/** The count table (one row per class found, unknown, total) and the SCA grading; `onTeach`:
 *  called by the new-camera notice's button (propose beans to confirm). */
export function renderCounts(box, count, grading, classNames, onTeach) {
  const rules = new Map((grading?.lines ?? []).map((l) => [l.class, l]));
  const table = el('table', 'tray-counts');
  table.dataset.testid = 'tray-counts';
  const head = el('tr');
  for (const h of ['Class', 'Beans', 'Share', 'SCA defect']) head.append(el('th', null, h));
  table.append(el('thead'));
  table.tHead.append(head);
  const body = el('tbody');
  const total = count.labelled + count.unknown;
  const row = (name, n, rgb, sca, testid = 'tray-count') => {
    const tr = el('tr');
    tr.dataset.testid = testid;
    tr.dataset.label = name;
    tr.dataset.count = String(n);
    const cls = el('td');
    if (rgb) cls.append(swatch(rgb));
    cls.append(name);
    tr.append(cls, el('td', 'num', String(n)), el('td', 'num', total ? `${((100 * n) / total).toFixed(1)}%` : '–'), el('td', 'sca', sca));
    body.append(tr);
  };
  for (const [name, n] of count.counts) {
    if (!n) continue;
    const rule = rules.get(name);
    const sca = name === NON_DEFECT ? '' : rule
      ? `${rule.sca_defect} · ${rule.category === 'primary' ? 'cat. 1' : 'cat. 2'} · ${rule.full_defects} full`
      : 'not in the SCA table';
    row(name, n, colour(name, false, classNames), sca);
  }
  if (count.unknown) row('Unknown', count.unknown, colour('', true, classNames), 'left out of the grading');
  row('Total', total, null, '', 'tray-total');
  table.append(body);

  const share = el('p', 'tray-defects');
  const pct = el('strong', null, `${count.defectPercent.toFixed(1)}%`);
  pct.dataset.testid = 'tray-defect-percent';
  share.append(pct, ` defective (${count.defective} of ${count.labelled} labelled beans${count.unknown ? `; ${count.unknown} unknown left out` : ''})`);

  box.replaceChildren(share, table, gradingBlock(count.labelled ? grading : null, count, onTeach));
}

/** The new-camera notice and its "Show the beans to confirm" button, on a tray. */
const cameraNotice = (onTeach) => noticeElements(
  { noticeId: 'tray-camera-notice', buttonId: 'tray-teach-camera' }, `${NEW_CAMERA} Tap a bean to confirm or correct it.`, onTeach,
);

function gradingBlock(g, count, onTeach) {
  const box = el('div', 'grading');
  box.dataset.testid = 'tray-grading';
  if (!g) {
    // All beans unknown: an empty sample would grade as Specialty, which says nothing.
    box.append(el('p', 'grade', 'SCA grade: none — no bean on this tray is labelled (all unknown).'));
    if (count.unfamiliar) box.append(...cameraNotice(onTeach));
    return box;
  }
  box.dataset.grade = g.grade;
  const head = el('p', 'grade');
  const name = el('strong', null, GRADES[g.grade] ?? g.grade);
  name.dataset.testid = 'tray-grade';
  // A camera new to beanscan: the grade is shown as provisional, with what to do about it.
  head.append(count.unfamiliar ? 'SCA grade (provisional): ' : 'SCA grade: ', name);
  box.append(head);
  if (count.unfamiliar) box.append(...cameraNotice(onTeach));
  // Most beans unknown (another camera, beans nobody labelled): the grade rests on a minority.
  if (count.unknown > count.labelled) {
    const total = count.labelled + count.unknown;
    const warning = el('p', 'grade-warning',
      `Provisional: only ${count.labelled} of ${total} beans (${((100 * count.labelled) / total).toFixed(0)}%) are labelled; `
      + `the grade leaves out the other ${count.unknown}. Tap a few unknown beans and confirm or correct them (they become `
      + 'references), or raise the tray beans\' unknown threshold in the settings, before trusting it.');
    warning.dataset.testid = 'tray-grade-warning';
    box.append(warning);
  }
  const lines = el('dl', 'grade-lines');
  const item = (term, counted, scaled) => {
    const dd = el('dd', null, `${counted} counted · ${scaled.toFixed(1)} per 350 g`);
    lines.append(el('dt', null, term), dd);
    return dd;
  };
  item('Category 1 (primary) full defects', g.primary_full_defects, g.primary_per_sample).dataset.testid = 'tray-primary';
  item('Category 2 (secondary) full defects', g.secondary_full_defects, g.secondary_per_sample).dataset.testid = 'tray-secondary';
  const note = el('p', 'panel-note',
    `Graded from the beans seen in this photo (≈ ${g.sample_grams.toFixed(0)} g at 0.15 g per bean), scaled to a 350 g sample; `
    + 'unknown beans are left out. Counted full defects are whole ones from the SCA table (e.g. 5 broken beans = 1).');
  box.append(lines, note);
  if (g.not_in_table.length) {
    box.append(el('p', 'panel-note', `Not in the SCA table (not graded): ${g.not_in_table.map(([c, n]) => `${c} ${n}`).join(', ')}.`));
  }
  return box;
}

const CSV_COLUMNS = ['photo', 'bean', 'left', 'top', 'width', 'height', 'label', 'defect', 'unknown', 'by_you',
  'confidence', 'distance', 'nearest_reference'];

/** One row per bean of every tray ({file, tray}) in the order given; `meta` columns on every row. */
export function trayCsv(trays, meta) {
  const lines = [[...CSV_COLUMNS, ...Object.keys(meta)].join(',')];
  for (const { file, tray } of trays) {
    tray.beans.forEach((bean, i) => {
      const { label, unknown, byYou } = labelOf(bean);
      const r = bean.result;
      const row = [file, i + 1, ...bean.bbox, label, label !== NON_DEFECT, unknown, byYou,
        r.confidence.toFixed(4), r.distance.toFixed(4), r.neighbours[0]?.id];
      lines.push([...row, ...Object.values(meta)].map(csvField).join(','));
    });
  }
  return `${lines.join('\r\n')}\r\n`;
}
