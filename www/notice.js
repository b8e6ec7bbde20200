// "This camera or light is new to beanscan": the rule of the library's notice module
// (src/notice.rs), applied to what the page shows: the median of the beans' nearest-reference
// distances beyond the single-bean unknown threshold (for tray beans too). A bean the grader
// confirmed or corrected is a reference: distance 0.

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
