// One card per photo in a batch: pending, labelled (verdict, Unknown badge, confidence, nearest
// references, confirm/correct as a reference) or refused (its own message). Knows nothing about
// the worker: actions go through the callbacks it is given, so other views can reuse it.
import { el } from './dom.js';

/** Normal is the only class that is not a defect. */
export const NON_DEFECT = 'Normal';

/** A card for a photo waiting its turn. */
export function pendingCard(file) {
  const card = el('li', 'card pending');
  card.dataset.testid = 'result-pending';
  card.dataset.file = file.name;
  const img = el('img', 'thumb');
  img.alt = '';
  img.decoding = 'async';
  img.loading = 'lazy'; // a long batch of phone photos must not decode every thumbnail at once
  img.addEventListener('error', () => img.classList.add('broken'), { once: true });
  img.src = URL.createObjectURL(file);
  const body = el('div', 'body');
  body.append(el('p', 'file', file.name), el('p', 'wait', 'Waiting…'));
  card.append(img, body);
  return card;
}

function cardBody(card) {
  const body = card.querySelector('.body');
  body.replaceChildren(el('p', 'file', card.dataset.file));
  return body;
}

/**
 * Shows `entry.result` on `entry.card` (again, after a re-label).
 * @param entry {card, result, reference?: {id, label}}
 * @param ctx {classNames: string[], onSave(entry, label), onUndo(entry)}
 */
export function renderResult(entry, ctx) {
  const { card, result: r } = entry;
  card.className = `card ${r.unknown ? 'is-unknown' : r.label === NON_DEFECT ? 'is-normal' : 'is-defect'}`;
  Object.assign(card.dataset, {
    testid: 'result',
    label: r.label,
    confidence: String(r.confidence),
    distance: String(r.distance),
    unknown: String(r.unknown),
    decoder: r.decoder ?? '',
  });
  const body = cardBody(card);
  // Proposed by "Teach beanscan your camera" and not confirmed yet.
  if (entry.toConfirm && !entry.reference) {
    const ask = el('p', 'to-confirm', `Confirm or correct this bean (${entry.toConfirm} of ${entry.proposals})`);
    ask.dataset.testid = 'to-confirm';
    body.append(ask);
  }
  body.append(...verdict(r));
  if (r.neighbours.length) body.append(...neighbourList(r.neighbours));
  body.append(referenceControls(entry, ctx));
}

/** The label (with an Unknown badge when far from every reference), confidence and distance. */
export function verdict(r) {
  const head = el('p', 'verdict');
  const label = el('span', 'label', r.label);
  label.dataset.testid = 'label';
  head.append(label);
  if (r.unknown) {
    const badge = el('span', 'badge', 'Unknown');
    badge.dataset.testid = 'unknown-badge';
    badge.title = 'This bean is far from every reference bean; check it by eye.';
    head.append(badge);
  }
  const meta = el('p', 'meta');
  const conf = el('span', 'confidence', `${Math.round(r.confidence * 100)}%`);
  conf.dataset.testid = 'confidence';
  meta.append(conf, ` confidence · distance ${r.distance.toFixed(3)}`);
  if (typeof r.normal_probability === 'number') {
    // The Normal-vs-defect gate fitted on the grader's own confirmed beans decided the side.
    const gate = el('span', 'gate', ` · Normal or defect decided with your beans (${Math.round(r.normal_probability * 100)}% Normal)`);
    gate.dataset.testid = 'gate';
    meta.append(gate);
  }
  if (typeof r.defect_probability === 'number') {
    // The head fitted on the grader's own confirmed defects named this one.
    const head = el('span', 'defect-head', ` · defect named with your beans (${Math.round(r.defect_probability * 100)}% ${r.label})`);
    head.dataset.testid = 'defect-head';
    meta.append(head);
  }
  return [head, meta];
}

export function neighbourList(neighbours) {
  const list = el('ol', 'neighbours');
  list.setAttribute('aria-label', 'Nearest reference beans');
  for (const n of neighbours) {
    const li = el('li', n.added ? 'added' : null, `${n.label} `);
    li.dataset.testid = 'neighbour';
    li.dataset.added = String(n.added);
    li.dataset.shared = String(Boolean(n.shared));
    li.title = n.id;
    li.append(el('span', 'dist', n.distance.toFixed(3)));
    if (n.added) li.append(' ', el('span', 'mine', n.shared ? 'shared reference' : 'your reference'));
    list.append(li);
  }
  return [el('p', 'nn-title', 'Nearest reference beans'), list];
}

/** Confirm the label or pick the right one: the bean becomes a reference for later votes.
 * `entry`: {result, reference?: {id, label}}; `ctx`: {classNames, onSave(entry, label), onUndo(entry)}. */
export function referenceControls(entry, ctx) {
  const box = el('div', 'teach');
  if (entry.reference) {
    const note = el('span', 'saved', `Saved as a ${entry.reference.label} reference`);
    note.dataset.testid = 'saved-reference';
    const undo = el('button', 'link-button', 'Undo');
    undo.type = 'button';
    undo.dataset.testid = 'undo-reference';
    undo.addEventListener('click', () => ctx.onUndo(entry));
    box.append(note, undo);
    return box;
  }
  const select = el('select');
  select.dataset.testid = 'correct-label';
  select.setAttribute('aria-label', 'Right class for this bean');
  for (const name of ctx.classNames) {
    const option = el('option', null, name);
    option.value = name;
    select.append(option);
  }
  select.value = entry.result.label;
  const save = el('button', 'small-button');
  save.type = 'button';
  save.dataset.testid = 'save-reference';
  const caption = () => { save.textContent = select.value === entry.result.label ? 'Confirm' : 'Correct'; };
  caption();
  select.addEventListener('change', caption);
  save.addEventListener('click', () => {
    save.disabled = true;
    ctx.onSave(entry, select.value);
  });
  box.append(select, save);
  return box;
}

/** Shows why a file could not be labelled. */
export function renderError(card, message) {
  card.className = 'card is-error';
  card.dataset.testid = 'result-error';
  const msg = el('p', 'error-msg', message);
  msg.dataset.testid = 'error-message';
  cardBody(card).append(msg);
}
