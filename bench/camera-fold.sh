#!/usr/bin/env bash
# Leave cameras out, train on every other one (docs/results.md, "Training on more cameras"):
# greencoffee r1/r2 and every annotated tray bean (`tray-crops --with`), plus Thai unless it is
# left out too, fine-tuned from ImageNet with each cached view drawn as another camera would take
# it (`--camera-jitter`); then each camera left out is scored as bench/cameras.sh scores the
# shipped bundle.
#   bench/camera-fold.sh [DATA_ROOT] [usk | usk,thai] [imagenet | two-stage]
#   (default ../shared/data, usk, imagenet; needs ./build.sh imagenet)
# two-stage (usk,thai only): the shipped recipe's second run with the jitter instead, 400 steps
# (Adam 5e-4) from its first run (runs/lite0-b14, bench/pretrained.sh step 1), the unknown
# threshold calibrated on the photos as other cameras take them (`--calibrate-jittered`).
# usk: about 50 min of training (2 cores, peak 3.4 GiB) + 9 min (USK). usk,thai: the same net
# without Thai's photos, so the jitter's share and Thai's are told apart; + 2 min (Thai).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data}
LEFT_OUT=${2:-usk}
START=${3:-imagenet}
BEANSCAN=${BEANSCAN:-target/release/beanscan}
OUT=bench/results/cameras
case "$LEFT_OUT" in
  usk) FOLD=fold-usk; MIX=runs/mix-thai; WITH=(--with "$DATA/greencoffee" --with "$DATA/thai"); ROUNDS=r1,r2,thai ;;
  usk,thai) FOLD=fold-usk-thai; MIX=runs/mix-none; WITH=(--with "$DATA/greencoffee"); ROUNDS=r1,r2 ;;
  *) echo "left out: usk or usk,thai" >&2; exit 2 ;;
esac
STAGE=()
case "$START" in
  imagenet) ;;
  two-stage)
    [[ $LEFT_OUT == usk,thai ]] || { echo "two-stage starts from a net that saw no Thai: leave out usk,thai" >&2; exit 2; }
    [[ -f runs/lite0-b14/tune.ckpt ]] || { echo "runs/lite0-b14 first (bench/pretrained.sh step 1)" >&2; exit 2; }
    FOLD=$FOLD-two-stage
    STAGE=(--start runs/lite0-b14 --steps 400 --learning-rate 5e-4 --calibrate-jittered) ;;
  *) echo "start: imagenet or two-stage" >&2; exit 2 ;;
esac
"$BEANSCAN" tray-crops --data "$DATA/trays" --out "$MIX" "${WITH[@]}"
"$BEANSCAN" tune --data "$MIX" --blocks 14 --views 8 --camera-jitter --map-cache runs/maps-jitter.bin "${STAGE[@]}" \
  --refs-rounds "$ROUNDS" --run "runs/$FOLD" --eval-split val --out "runs/$FOLD.beanscan"
cp "runs/$FOLD/knn-val.json" "$OUT/$FOLD-knn-val.json"
declare -A TEACH=([usk]=20,50,100 [thai]=17,34,85,170)
for camera in ${LEFT_OUT//,/ }; do
  "$BEANSCAN" eval-camera --camera "$camera" --data-root "$DATA" --bundle "runs/$FOLD.beanscan" --shots 0,5,10 --seeds 3 \
    --teach "${TEACH[$camera]}" --json "$OUT/$FOLD-$camera.json" | tee "$OUT/$FOLD-$camera.txt"
done
