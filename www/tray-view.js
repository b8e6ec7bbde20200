// The tray view: one panel per tray photo, newest on top. The photo is drawn with each bean's
// outline in its label's colour; tapping a bean opens its panel (label, Unknown badge, nearest
// references, confirm/correct); the count table and SCA grading follow every change of label.
// Beans keep their embeddings, so k, the threshold and new references re-label them without
// reading the photo again. Talks to the worker only through the client it is given.
import { el } from './dom.js';
import { neighbourList, referenceControls, verdict } from './results.js';
import { beanAt, beanThumb, canvasSize, drawTray, photoPoint } from './tray-canvas.js';
import { proposeBeans } from './notice.js';
import { countBeans, labelOf, renderCounts, renderLegend, trayCsv } from './tray-summary.js';

const NO_BEANS = 'No beans were found in this photo: it shows no clear beans against its background. '
  + 'A tray photo shows beans spread apart on a plain surface (paper, a towel, a card), seen from above; '
  + 'for one bean per photo, switch to Single beans.';

export class TrayView {
  /**
   * @param {{list: HTMLElement, client, classNames: () => string[], maxBytes: number,
   *          addReference: (bean, embedding, label) => Promise<void>,
   *          removeReference: (bean, embedding) => Promise<void>,
   *          vote: (embeddings, tray, ask) => Promise<{result}|{error}>,
   *          askServer: (embeddings) => Promise<Prediction[]|null>,
   *          message: (text: string) => void, onChange: () => void}} options
   *   addReference / removeReference: the page's one way to Confirm / Correct / Undo (kept,
   *   shared, every result re-labelled); vote: labels of tray beans' embeddings, as the page
   *   votes them; askServer: the same from a shared library too large to keep here, or null
   *   (kept here, or the server could not be asked: the tray's own labels stand).
   */
  constructor(options) {
    Object.assign(this, options);
    this.trays = []; // {file, blob, card, tray?, base?, count?, grading?, selected, error?}
    this.queue = Promise.resolve();
    this.pending = 0;
  }

  get busy() { return this.pending > 0; }

  /** The trays with beans, for the CSV. */
  get labelled() { return this.trays.filter((t) => t.tray); }

  add(files) {
    for (const blob of Array.from(files ?? [])) {
      const entry = { file: blob.name, blob, card: this.pendingCard(blob.name), selected: null };
      this.trays.push(entry);
      this.list.prepend(entry.card);
      this.pending += 1;
      this.onChange();
      this.queue = this.queue.then(() => this.process(entry)).catch((err) => this.fail(entry, err?.message || String(err)))
        .finally(() => { this.pending -= 1; this.onChange(); });
    }
  }

  pendingCard(name) {
    const card = el('article', 'tray-card pending');
    card.dataset.testid = 'tray';
    card.dataset.state = 'pending';
    card.dataset.file = name;
    const wait = el('p', 'wait', 'Finding and labelling the beans…');
    const bar = el('progress');
    bar.setAttribute('aria-label', 'Working on the tray photo');
    card.append(el('h2', 'file', name), wait, bar);
    return card;
  }

  async process(entry) {
    const { blob } = entry;
    if (blob.size === 0) return this.fail(entry, 'The file is empty (0 bytes); it may not have finished downloading or copying: try again.');
    if (blob.size > this.maxBytes) return this.fail(entry, `The file is too large (${(blob.size / 1048576).toFixed(1)} MB; limit ${(this.maxBytes / 1048576).toFixed(0)} MB).`);
    const t0 = performance.now();
    const reply = await this.client.classifyTray(blob);
    if (!this.trays.includes(entry)) return; // cleared meanwhile
    if (reply.notReady) return this.fail(entry, `The model is not available: ${reply.error}`);
    if (reply.fatal) return this.fail(entry, `The classifier crashed on this photo (${reply.error}) and was restarted.`);
    if (reply.error !== undefined) return this.fail(entry, `Could not read this tray photo: ${reply.error}`);
    const tray = reply.result;
    if (!tray.beans.length) return this.fail(entry, NO_BEANS);
    // A shared library too large to keep here: every bean asks the server, in one request.
    const asked = await this.askServer(tray.beans.map((b) => b.embedding));
    if (!this.trays.includes(entry)) return;
    if (asked) tray.beans.forEach((b, i) => { b.result = asked[i]; });
    entry.tray = tray;
    entry.count = countBeans(tray.beans, this.classNames(), this.noticeBound());
    entry.grading = tray.grading;
    if (asked) {
      const graded = await this.client.request('gradeCounts', entry.count.counts);
      if (graded.error === undefined) entry.grading = graded.result;
    }
    await this.build(entry);
    // Drop to drawn tray, as the grader waits for it.
    entry.seconds = (performance.now() - t0) / 1000;
    entry.card.dataset.seconds = entry.seconds.toFixed(2);
    entry.card.dataset.state = 'done';
    this.render(entry);
  }

  fail(entry, message) {
    entry.error = message;
    const { card } = entry;
    card.className = 'tray-card is-error';
    card.dataset.state = 'error';
    const msg = el('p', 'error-msg', message);
    msg.dataset.testid = 'error-message';
    card.replaceChildren(el('h2', 'file', entry.file), msg);
  }

  /** The tray's panel: photo with outlines, legend, bean panel, counts and grading. */
  async build(entry) {
    const { card, tray } = entry;
    card.className = 'tray-card';
    const head = el('p', 'tray-head');
    const wrap = el('div', 'tray-photo');
    const canvas = el('canvas', 'tray-canvas');
    canvas.dataset.testid = 'tray-canvas';
    canvas.dataset.photoWidth = String(tray.width);
    canvas.dataset.photoHeight = String(tray.height);
    canvas.tabIndex = 0;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `Tray photo with ${tray.beans.length} beans outlined by label; tap a bean (or use the arrow keys) to see it`);
    wrap.append(canvas);
    const legend = el('ul', 'legend');
    legend.setAttribute('aria-label', 'Outline colours');
    const hint = el('p', 'panel-note', 'Tap a bean to see why it got its label, and to confirm or correct it.');
    const panel = el('section', 'bean-panel');
    panel.dataset.testid = 'bean-panel';
    panel.hidden = true;
    panel.setAttribute('aria-live', 'polite');
    const counts = el('section', 'tray-summary');
    counts.setAttribute('aria-label', 'Counts and grading');
    card.replaceChildren(el('h2', 'file', entry.file), head, wrap, legend, hint, panel, counts);
    Object.assign(entry, { head, canvas, legend, panel, counts });

    const size = canvasSize(tray.width, tray.height, wrap.clientWidth || card.clientWidth || 360);
    canvas.width = size.width;
    canvas.height = size.height;
    entry.base = await photoCopy(entry.blob, size);
    canvas.addEventListener('click', (e) => {
      const { point, reach } = photoPoint(canvas, tray, e);
      const i = beanAt(tray, point, reach);
      if (i !== null) this.select(entry, i);
    });
    canvas.addEventListener('keydown', (e) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (!step) return;
      e.preventDefault();
      this.step(entry, step);
    });
    card.dataset.decoder = tray.decoder;
  }

  step(entry, by) {
    const n = entry.tray.beans.length;
    this.select(entry, entry.selected === null ? (by > 0 ? 0 : n - 1) : (entry.selected + by + n) % n);
  }

  select(entry, i) {
    entry.selected = i;
    this.render(entry);
  }

  /** Draws everything that depends on labels (after a tap, a re-label or a correction). */
  render(entry) {
    const { card, tray, count, canvas } = entry;
    const classNames = this.classNames();
    card.dataset.beans = String(tray.beans.length);
    entry.head.textContent = `${tray.beans.length} beans found · ${count.defectPercent.toFixed(1)}% defective`
      + (count.unknown ? ` · ${count.unknown} unknown` : '') + (entry.seconds ? ` · labelled in ${entry.seconds.toFixed(1)} s` : '');
    entry.head.dataset.testid = 'tray-bean-count';
    drawTray(canvas, entry.base, tray, classNames, labelOf, entry.selected);
    renderLegend(entry.legend, count, classNames);
    renderCounts(entry.counts, count, entry.grading, classNames, () => this.teach(entry));
    this.renderPanel(entry);
  }

  /** "Teach beanscan your camera": the tray's beans whose confirmation teaches most (up to 12,
   *  best first; none already confirmed), opened one after the other from the bean panel. */
  async teach(entry) {
    const open = entry.tray.beans.map((b, i) => [b, i]).filter(([b]) => !b.reference);
    if (!open.length) return;
    let picks;
    try {
      picks = await proposeBeans(this.client, open.map(([b]) => b.embedding));
    } catch (err) {
      this.message(`No beans could be proposed: ${err.message}`);
      return;
    }
    entry.toConfirm = picks.map((i) => open[i][1]);
    if (entry.toConfirm.length) this.select(entry, entry.toConfirm[0]);
  }

  /** The next proposed bean not yet confirmed, after the selected one (wrapping), or null. */
  nextToConfirm(entry) {
    const left = (entry.toConfirm ?? []).filter((i) => !entry.tray.beans[i].reference);
    return left.find((i) => i > (entry.selected ?? -1)) ?? left[0] ?? null;
  }

  renderPanel(entry) {
    const { panel, tray, selected } = entry;
    if (selected === null) { panel.hidden = true; return; }
    const bean = tray.beans[selected];
    const shown = labelOf(bean);
    Object.assign(panel.dataset, { index: String(selected), label: shown.label, unknown: String(shown.unknown), byYou: String(shown.byYou) });
    panel.className = `bean-panel ${shown.unknown ? 'is-unknown' : shown.label === 'Normal' ? 'is-normal' : 'is-defect'}`;
    const nav = el('div', 'bean-nav');
    const button = (text, label, testid, by) => {
      const b = el('button', 'small-button', text);
      b.type = 'button';
      b.setAttribute('aria-label', label);
      b.dataset.testid = testid;
      b.addEventListener('click', () => (by ? this.step(entry, by) : this.select(entry, null)));
      return b;
    };
    nav.append(button('‹', 'Previous bean', 'bean-previous', -1), el('span', 'bean-title', `Bean ${selected + 1} of ${tray.beans.length}`),
      button('›', 'Next bean', 'bean-next', 1), button('×', 'Close', 'bean-close', 0));
    const asked = (entry.toConfirm ?? []).filter((i) => !tray.beans[i].reference);
    if (asked.length) {
      const next = this.nextToConfirm(entry);
      const go = el('button', 'small-button', `Next bean to confirm (${asked.length} left)`);
      go.type = 'button';
      go.dataset.testid = 'next-to-confirm';
      go.addEventListener('click', () => this.select(entry, next));
      nav.append(go);
    }
    const thumb = beanThumb(entry.base, tray, bean);
    thumb.className = 'bean-thumb';
    const body = el('div', 'body');
    const r = bean.result;
    const [head, meta] = verdict({ ...r, label: shown.label, unknown: shown.unknown });
    if (shown.byYou) {
      // The grader's word counts; the vote's confidence is not about this label.
      meta.replaceChildren(`Counted as ${shown.label}, as you said. The reference beans vote ${r.label}`
        + ` (${Math.round(r.confidence * 100)}%${r.unknown ? ', unknown' : ''}).`);
    }
    body.append(head, meta);
    if (r.neighbours.length) body.append(...neighbourList(r.neighbours));
    body.append(referenceControls(bean, {
      classNames: this.classNames(),
      onSave: (b, label) => this.save(entry, b, label),
      onUndo: (b) => this.undo(entry, b),
    }));
    const row = el('div', 'bean-row');
    row.append(thumb, body);
    panel.replaceChildren(nav, row);
    panel.hidden = false;
  }

  async save(entry, bean, label) {
    try {
      await this.addReference(bean, bean.embedding, label);
    } catch (err) {
      this.message(`The bean could not be added as a reference: ${err.message}`);
      this.render(entry);
    }
  }

  async undo(entry, bean) {
    try {
      await this.removeReference(bean, bean.embedding);
    } catch (err) {
      this.message(`The reference could not be removed: ${err.message}`);
    }
  }

  /** Re-labels every tray bean from its embedding, then recounts and regrades. */
  async relabel(send) {
    const trays = this.labelled;
    const beans = trays.flatMap((t) => t.tray.beans);
    if (!beans.length) return;
    const reply = await this.vote(beans.map((b) => b.embedding), true, send);
    if (reply.error !== undefined) { this.message(`Tray beans could not be re-labelled: ${reply.error}`); return; }
    beans.forEach((b, i) => { b.result = reply.result[i]; });
    for (const entry of trays) {
      entry.count = countBeans(entry.tray.beans, this.classNames(), this.noticeBound());
      const graded = await send('gradeCounts', entry.count.counts);
      if (graded.error !== undefined) this.message(`The tray could not be graded: ${graded.error}`);
      else entry.grading = graded.result;
      this.render(entry);
    }
  }

  /** Removes every tray (e.g. after another model: their embeddings mean nothing to it). */
  clear() {
    const n = this.trays.length;
    for (const entry of this.trays) entry.card.remove();
    this.trays = [];
    this.onChange();
    return n;
  }

  csv(meta) { return trayCsv(this.labelled, meta); }
}

/** The photo scaled to the canvas, upright, or null when the browser cannot show this file. */
async function photoCopy(blob, { width, height }) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch {
    return null;
  }
  try {
    const copy = document.createElement('canvas');
    copy.width = width;
    copy.height = height;
    const ctx = copy.getContext('2d');
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, 0, 0, width, height);
    return copy;
  } finally {
    bitmap.close();
  }
}
