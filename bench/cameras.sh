#!/usr/bin/env bash
# Leave one camera out (docs/results.md, "Cameras it never saw"): the shipped bundle scored on
# USK and Thai photos, alone and with 5 / 10 of the camera's confirmed beans per class added as
# references (both votes), seeds 0-2, at the bundle's views; the new-camera notice per batch of
# 10; and "teach your camera": beans confirmed as the page proposes them against random ones
# (USK: 4-100, Thai: 17-170, one to ten per class). About 5 min (USK) and 2 min (Thai) on 2 cores.
#   bench/cameras.sh [DATA_ROOT] [BUNDLE]   (defaults: ../shared/data, the built-in bundle)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data}
BUNDLE=()
if [ -n "${2:-}" ]; then BUNDLE=(--bundle "$2"); fi
BEANSCAN=${BEANSCAN:-target/release/beanscan}
OUT=bench/results/cameras
mkdir -p "$OUT"
declare -A TEACH=([usk]=4,10,20,50,100 [thai]=17,34,85,170)
for camera in usk thai; do
  "$BEANSCAN" eval-camera --camera "$camera" --data-root "$DATA" "${BUNDLE[@]}" --shots 0,5,10 --seeds 3 \
    --teach "${TEACH[$camera]}" --json "$OUT/$camera.json" | tee "$OUT/$camera.txt"
done
