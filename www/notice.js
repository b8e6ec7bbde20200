// "This camera or light is new to beanscan": the rule of the library's notice module
// (src/notice.rs), applied to what the page shows: the median of the beans' nearest-reference
// distances beyond the single-bean unknown threshold (for tray beans too). A bean the grader
// confirmed or corrected is a reference: distance 0. And its "Teach beanscan your camera"
// button, for single beans and trays alike.
import { el } from './dom.js';

export const NEW_CAMERA = 'This camera or light is new to beanscan: confirm a few beans of each kind before trusting the grade.';

/** The median of the finite values, or null for none. */
export function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Whether beans at these nearest distances look like a camera or light new to beanscan. */
export function unfamiliar(distances, bound) {
  const m = median(distances);
  return m !== null && Number.isFinite(bound) && m > bound;
}

/** Beans a grader is asked about per round of "Teach beanscan your camera": about two minutes. */
export const TEACH_ROUND = 12;

/** The notice and its "Show the beans to confirm" button, with their test ids. */
export function noticeElements({ noticeId, buttonId }, text, onTeach) {
  const notice = el('p', 'camera-notice', text);
  notice.dataset.testid = noticeId;
  const teach = el('button', 'small-button', 'Show the beans to confirm');
  teach.type = 'button';
  teach.dataset.testid = buttonId;
  teach.addEventListener('click', () => onTeach?.());
  return [notice, teach];
}

/** Indices into `embeddings` of the beans to ask about this round, best first (the worker's
 *  `propose`: teach::propose); throws the worker's message. */
export async function proposeBeans(client, embeddings) {
  const reply = await client.request('propose', embeddings, TEACH_ROUND);
  if (reply.error !== undefined) throw new Error(reply.error);
  return reply.result;
}
