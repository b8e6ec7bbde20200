// A tray photo on a canvas with every bean's outline in its label's colour, and finding the bean
// under a finger. Bean coordinates are in the photo's (upright) pixels; the canvas holds a copy of
// the photo scaled to the screen, so a 12 MP photo never sits in memory at full size.
import { colour, css } from './palette.js';

/** The longest side of the photo copy drawn under the outlines (device pixels). */
const MAX_SIDE = 2048;

/** Canvas size for a photo of `width`×`height` shown `cssWidth` px wide. */
export function canvasSize(width, height, cssWidth) {
  const want = Math.max(1, Math.round(cssWidth * (globalThis.devicePixelRatio || 1)));
  const scale = Math.min(1, want / width, MAX_SIDE / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Draws the photo copy (`base`, an ImageBitmap or null when the browser cannot show the file)
 * and the outlines; `selected` (a bean index or null) gets a white halo.
 * `labelOf(bean)` → {label, unknown}: the bean's current label.
 */
export function drawTray(canvas, base, tray, classNames, labelOf, selected) {
  const ctx = canvas.getContext('2d');
  const sx = canvas.width / tray.width;
  const sy = canvas.height / tray.height;
  if (base) ctx.drawImage(base, 0, 0, canvas.width, canvas.height);
  else {
    ctx.fillStyle = '#f4f1ea';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  const line = Math.max(1.5, Math.max(canvas.width, canvas.height) / 400);
  ctx.lineJoin = 'round';
  const path = (bean) => {
    ctx.beginPath();
    bean.outline.forEach(([x, y], i) => (i ? ctx.lineTo(x * sx, y * sy) : ctx.moveTo(x * sx, y * sy)));
    ctx.closePath();
  };
  tray.beans.forEach((bean, i) => {
    if (i === selected) return; // drawn last, on top
    const { label, unknown } = labelOf(bean);
    path(bean);
    ctx.strokeStyle = css(colour(label, unknown, classNames));
    ctx.lineWidth = line;
    ctx.stroke();
  });
  if (selected !== null && tray.beans[selected]) {
    const bean = tray.beans[selected];
    const { label, unknown } = labelOf(bean);
    path(bean);
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = line * 4;
    ctx.stroke();
    ctx.strokeStyle = css(colour(label, unknown, classNames));
    ctx.lineWidth = line * 2;
    ctx.stroke();
  }
}

function inside([px, py], outline) {
  let hit = false;
  for (let i = 0, j = outline.length - 1; i < outline.length; j = i++) {
    const [xi, yi] = outline[i];
    const [xj, yj] = outline[j];
    if ((yi > py) !== (yj > py) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

/**
 * The bean at photo point `p`: the one whose outline holds it, else the one whose centre is
 * nearest within `reach` photo pixels (beans are small under a finger), else null.
 */
export function beanAt(tray, p, reach) {
  let best = null;
  let bestDistance = reach;
  for (let i = 0; i < tray.beans.length; i++) {
    const { outline, bbox: [x, y, w, h] } = tray.beans[i];
    if (inside(p, outline)) return i;
    const d = Math.hypot(p[0] - (x + w / 2), p[1] - (y + h / 2));
    if (d <= bestDistance) { best = i; bestDistance = d; }
  }
  return best;
}

/** A pointer event's position on the canvas in photo pixels, and a finger's reach there. */
export function photoPoint(canvas, tray, event, fingerCss = 22) {
  const rect = canvas.getBoundingClientRect();
  const scale = tray.width / rect.width;
  return {
    point: [(event.clientX - rect.left) * scale, (event.clientY - rect.top) * (tray.height / rect.height)],
    reach: fingerCss * scale,
  };
}

/** A bean's square cut from the photo copy, for the bean panel. */
export function beanThumb(base, tray, bean, size = 96) {
  const thumb = document.createElement('canvas');
  thumb.width = thumb.height = size;
  if (!base) return thumb;
  const [x, y, w, h] = bean.bbox;
  const side = Math.max(w, h) * 1.4;
  const cx = x + w / 2;
  const cy = y + h / 2;
  const sx = base.width / tray.width;
  const sy = base.height / tray.height;
  const ctx = thumb.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(base, (cx - side / 2) * sx, (cy - side / 2) * sy, side * sx, side * sy, 0, 0, size, size);
  return thumb;
}
