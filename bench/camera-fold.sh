#!/usr/bin/env bash
# Leave USK out, train on every other camera (docs/results.md, "Training on more cameras"):
# greencoffee r1/r2, every annotated tray bean and Thai joined (`tray-crops --with`), fine-tuned
# from ImageNet with each cached view drawn as another camera would take it (`--camera-jitter`),
# then USK scored as bench/cameras.sh scores the shipped bundle. About 50 min (training, 2 cores,
# peak 3.4 GiB) + 9 min (USK).
#   bench/camera-fold.sh [DATA_ROOT]   (default ../shared/data; needs ./build.sh imagenet)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data}
BEANSCAN=${BEANSCAN:-target/release/beanscan}
OUT=bench/results/cameras
"$BEANSCAN" tray-crops --data "$DATA/trays" --out runs/mix-thai --with "$DATA/greencoffee" --with "$DATA/thai"
"$BEANSCAN" tune --data runs/mix-thai --blocks 14 --views 8 --camera-jitter --map-cache runs/maps-jitter.bin \
  --refs-rounds r1,r2,thai --run runs/fold-usk --eval-split val --out runs/fold-usk.beanscan
cp runs/fold-usk/knn-val.json "$OUT/fold-usk-knn-val.json"
"$BEANSCAN" eval-camera --camera usk --data-root "$DATA" --bundle runs/fold-usk.beanscan --shots 0,5,10 --seeds 3 \
  --teach 20,50,100 --json "$OUT/fold-usk-usk.json" | tee "$OUT/fold-usk-usk.txt"
