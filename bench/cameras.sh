#!/usr/bin/env bash
# Leave one camera out (docs/results.md, "Cameras it never saw"): the shipped bundle scored on
# USK and Thai photos, alone and with 5 / 10 of the camera's confirmed beans per class added as
# references (both votes), seeds 0-2, at the bundle's views. About 3 min (USK) and 1.5 min
# (Thai) on 2 cores.
#   bench/cameras.sh [DATA_ROOT] [BUNDLE]   (defaults: ../shared/data, the built-in bundle)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data}
BUNDLE=()
if [ -n "${2:-}" ]; then BUNDLE=(--bundle "$2"); fi
BEANSCAN=${BEANSCAN:-target/release/beanscan}
OUT=bench/results/cameras
mkdir -p "$OUT"
for camera in usk thai; do
  "$BEANSCAN" eval-camera --camera "$camera" --data-root "$DATA" "${BUNDLE[@]}" --shots 0,5,10 --seeds 3 \
    --json "$OUT/$camera.json" | tee "$OUT/$camera.txt"
done
