#!/usr/bin/env bash
# Bean finding off white paper: scenes of real USK and Thai beans laid on real texture photos
# (beanscan scenes), scored per surface by eval-trays, figures into bench/results/backgrounds/.
#   bench/backgrounds.sh [BEANSCAN_BINARY]
# Env: SCENES (scratch folder, default /tmp/beanscan-scenes), PHOTOS (per surface, default 60).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/beanscan}
SCENES=${SCENES:-/tmp/beanscan-scenes}
OUT=bench/results/backgrounds
PHOTOS=${PHOTOS:-60}
rm -rf "$SCENES"
"$BIN" scenes --beans ../shared/data/usk --beans ../shared/data/thai --out "$SCENES" --photos "$PHOTOS" --seed 1
mkdir -p "$OUT"
for dir in "$SCENES"/*/; do
  surface=$(basename "$dir")
  echo "== $surface"
  "$BIN" eval-trays --data "$dir" --shots 0 --json "$OUT/$surface.json" > "$SCENES/$surface.txt"
  head -n 1 "$SCENES/$surface.txt"
done
python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = []
for f in sorted(out.glob('*.json')):
    d = json.load(open(f))
    photos = d['photos']
    worst = max(p['found'] / max(p['true_beans'], 1) for p in photos)
    exact = sum(p['found'] == p['true_beans'] for p in photos)
    det = d['detection']
    rows.append(f"| {f.stem} | {len(photos)} | {det['true_positives'] + det['false_negatives']} | "
                f"{det['precision']:.3f} | {det['recall']:.3f} | {d['count_error']:.3f} | {exact} | {worst:.2f} |")
print('| surface | photos | beans | precision | recall | count error | exact counts | worst found/true |')
print('| --- | --- | --- | --- | --- | --- | --- | --- |')
print('\n'.join(rows))
PY
