// Label colours of tray outlines: the same as the annotated PNG of `beanscan classify --tray
// --annotate` (src/tray/annotate.rs), so a photo looks the same on the phone and on the desk.
// A class's colour is its position among the model's classes; unknown beans are grey.

export const PALETTE = [
  [0, 158, 115], // Normal: green
  [213, 94, 0], // vermilion
  [0, 114, 178], // blue
  [230, 159, 0], // orange
  [204, 121, 167], // purple
  [86, 180, 233], // sky
  [240, 228, 66], // yellow
  [150, 0, 90], // wine
  [0, 0, 0], // black
  [120, 70, 20], // brown
  [255, 0, 255], // magenta
  [0, 200, 200], // cyan
];
export const UNKNOWN_COLOUR = [128, 128, 128];

/** [r, g, b] of a label among `classNames` (a label the model does not know takes the next slot). */
export function colour(label, unknown, classNames) {
  if (unknown) return UNKNOWN_COLOUR;
  const i = classNames.indexOf(label);
  return PALETTE[(i < 0 ? classNames.length : i) % PALETTE.length];
}

export const css = ([r, g, b]) => `rgb(${r}, ${g}, ${b})`;
