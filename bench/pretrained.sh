#!/usr/bin/env bash
# Reproduces the pretrained-encoder figures (docs/results.md): the shipped bundle (EfficientNet-
# Lite0 from ImageNet, fine-tuned on every labelled train face), its val report, the 200-bean
# runs (the seed's triplet method with gradual unfreezing vs plain cosine-softmax training on the
# same beans, 3 seeds), and the tray figures; then refreshes the tables of docs/results.md and
# README.md (bench/tables.py). Each `tune` resumes from its run folder's checkpoint.
#   bench/pretrained.sh [DATA_DIR]   (DATA_DIR holds greencoffee/ and trays/; default ../shared/data)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data}
BEANSCAN=${BEANSCAN:-${CARGO_TARGET_DIR:-target}/release/beanscan}
OUT=bench/results/pretrained
mkdir -p "$OUT"
./build.sh imagenet

# The trays of date HELD labelled by BUNDLE, alone and with 5 / 10 tray references per class from
# the other dates (date split) or the same date's other photos (photo split), 5 seeds; all
# references voting (OUT.json) and the added ones only (OUT-added-only.json).
hold_out_trays() { # BUNDLE HELD OUT
  "$BEANSCAN" eval-trays --bundle "$1" --data "$DATA/trays" --hold-out "$2" \
    --split date,photo --shots 0,5,10 --seeds 5 --json "$3.json"
  "$BEANSCAN" eval-trays --bundle "$1" --data "$DATA/trays" --hold-out "$2" \
    --split date,photo --shots 5,10 --seeds 5 --added-only --json "$3-added-only.json"
}

# 1. The shipped bundle, two runs. (a) 128 px, the network cut after block 14, blocks 1–5 frozen
#    (their maps of every photo's 8 views cached in runs/maps.bin), 1,200 steps × 32, cosine
#    softmax on the greencoffee train faces. (b) That net trained 400 more steps (Adam 5e-4) on
#    greencoffee plus every annotated tray bean (`beanscan tray-crops`; Parchment becomes a 13th
#    class), its 32 references per class drawn from the single-bean photos only (rounds r1, r2);
#    its unknown threshold for tray beans calibrated on the tray beans (step 3g).
"$BEANSCAN" tune --data "$DATA/greencoffee" --blocks 14 --map-cache runs/maps.bin --run runs/lite0-b14 \
  --eval-split val --out runs/lite0-b14.beanscan
"$BEANSCAN" tray-crops --data "$DATA/trays" --out runs/mix-none --with "$DATA/greencoffee"
"$BEANSCAN" tune --data runs/mix-none --start runs/lite0-b14 --blocks 14 --steps 400 --learning-rate 5e-4 \
  --map-cache runs/maps.bin --refs-rounds r1,r2 --run runs/default --eval-split val --out bundle/default.beanscan
cp runs/default/knn-val.json "$OUT/shipped-knn-val.json"
cp runs/default/tune-loss.png "$OUT/shipped-tune-loss.png"
cp runs/default/unknown-tray.json "$OUT/shipped-unknown-tray.json"
"$BEANSCAN" eval --bundle bundle/default.beanscan --data "$DATA/greencoffee" --split val --json bundle/default-eval-val.json
# Its detection figures on the trays (its bean accuracy there is on beans it trained on: the
# folds of step 3f measure that instead).
"$BEANSCAN" eval-trays --bundle bundle/default.beanscan --data "$DATA/trays" --json bench/results/trays-shipped.json --shots 0 --seeds 1
# The other seeds of (b), from the same (a).
for seed in 1 2; do
  "$BEANSCAN" tune --data runs/mix-none --start runs/lite0-b14 --blocks 14 --steps 400 --learning-rate 5e-4 --seed "$seed" \
    --map-cache runs/maps.bin --refs-rounds r1,r2 --run "runs/default-s$seed" --eval-split val --out "runs/default-s$seed.beanscan"
  cp "runs/default-s$seed/knn-val.json" "$OUT/shipped-s$seed-knn-val.json"
done

# 1a. The greencoffee-only bundle shipped before: 128 px, whole network (17 = with the head
#    conv), blocks 1–5 frozen, 1,200 steps × 32, cosine softmax, 32 references per class; the
#    studies below (views, seeds, k, cut, trays) start from it (runs/lite0.beanscan).
"$BEANSCAN" tune --data "$DATA/greencoffee" --run runs/lite0 --eval-split val --out runs/lite0.beanscan
cp runs/lite0/knn-val.json "$OUT/default-knn-val.json"
cp runs/lite0/tune-loss.png "$OUT/default-tune-loss.png"
"$BEANSCAN" eval --bundle runs/lite0.beanscan --data "$DATA/greencoffee" --split val --json "$OUT/greencoffee-only-eval-val.json"

# 1b. Views per photo: the greencoffee-only net of 1a with its references embedded with R views
#     (`convert --views R`) and the val photos with Q (`eval --views Q`).
for rq in 1:1 1:2 1:4 1:8 2:2 8:1 8:8; do
  r=${rq%:*} q=${rq#*:}
  "$BEANSCAN" convert --bundle runs/lite0.beanscan --views "$r" --data "$DATA/greencoffee" --out "runs/views-refs$r.beanscan"
  "$BEANSCAN" eval --bundle "runs/views-refs$r.beanscan" --views "$q" --data "$DATA/greencoffee" --split val \
    --json "$OUT/views-refs$r-q$q-val.json"
done

# 2. 200 labelled beans: triplet loss (guarded batch-hard) with gradual unfreezing (head alone,
#    then one stage more every 40 steps) vs cosine softmax on the same beans. SEEDS="0 1 2".
for seed in ${SEEDS:-0 1 2}; do
  for loss in triplet cosine; do
    unfreeze=$([[ $loss == triplet ]] && echo 40 || echo 0)
    "$BEANSCAN" tune --data "$DATA/greencoffee" --labels 200 --loss "$loss" --unfreeze-every "$unfreeze" \
      --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-$loss-$seed" --eval-split val \
      --out "runs/lite0-200-$loss-$seed/bundle.beanscan"
    cp "runs/lite0-200-$loss-$seed/knn-val.json" "$OUT/200-$loss-$seed-knn-val.json"
    # The same net, references and photos embedded with one view (no training: the run is done).
    "$BEANSCAN" tune --data "$DATA/greencoffee" --labels 200 --loss "$loss" --unfreeze-every "$unfreeze" \
      --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-$loss-$seed" --eval-split val \
      --embed-views 1 --out "runs/lite0-200-$loss-$seed/bundle-1view.beanscan"
    cp "runs/lite0-200-$loss-$seed/knn-val.json" "$OUT/200-$loss-e1-$seed-knn-val.json"
  done
  # The cosine net again, with up to 100 self-labelled train photos per class among the
  # references (no training: the run is done); its kNN rows also without them.
  "$BEANSCAN" tune --data "$DATA/greencoffee" --labels 200 --loss cosine --steps 300 --seed "$seed" \
    --refs-per-class 0 --run "runs/lite0-200-cosine-$seed" --eval-split val --self-label 100 \
    --out "runs/lite0-200-cosine-$seed/bundle-sl.beanscan"
  cp "runs/lite0-200-cosine-$seed/knn-val.json" "$OUT/200-cosine-sl-$seed-knn-val.json"
  # 2b. The 200 beans drawn class by class instead of at random: cosine (with and without
  #     self-labelled references) and triplet.
  "$BEANSCAN" tune --data "$DATA/greencoffee" --labels 200 --draw balanced --self-label 100 --loss cosine \
    --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-cosine-$seed" --eval-split val \
    --out "runs/lite0-200-bal-cosine-$seed/bundle.beanscan"
  cp "runs/lite0-200-bal-cosine-$seed/knn-val.json" "$OUT/200-cosine-bal-$seed-knn-val.json"
  "$BEANSCAN" tune --data "$DATA/greencoffee" --labels 200 --draw balanced --loss triplet --unfreeze-every 40 \
    --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-triplet-$seed" --eval-split val \
    --out "runs/lite0-200-bal-triplet-$seed/bundle.beanscan"
  cp "runs/lite0-200-bal-triplet-$seed/knn-val.json" "$OUT/200-triplet-bal-$seed-knn-val.json"
  # 2c. Balanced draws, cosine, more blocks kept at their ImageNet weights (the default is 5).
  for frozen in 8 11; do
    "$BEANSCAN" tune --data "$DATA/greencoffee" --labels 200 --draw balanced --loss cosine --frozen "$frozen" \
      --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-cosine-f$frozen-$seed" --eval-split val \
      --out "runs/lite0-200-bal-cosine-f$frozen-$seed/bundle.beanscan"
    cp "runs/lite0-200-bal-cosine-f$frozen-$seed/knn-val.json" "$OUT/200-cosine-bal-f$frozen-$seed-knn-val.json"
  done
done
# 2d. Label-free adaptation first (`--loss pairs`: every train photo, labels not read; 600 steps
#     × 32 pairs), then the balanced 200-bean cosine run started from it (`--start`).
"$BEANSCAN" tune --data "$DATA/greencoffee" --run runs/lite0-adapt --loss pairs --steps 600 --learning-rate 5e-4 \
  --scale 10 --map-cache runs/maps.bin --embed-views 1 --eval-split val --out runs/lite0-adapt/bundle.beanscan
cp runs/lite0-adapt/knn-val.json "$OUT/adapt-knn-val.json"
for seed in ${SEEDS:-0 1 2}; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt --labels 200 --draw balanced --loss cosine \
    --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-adapt-cosine-$seed" --eval-split val \
    --out "runs/lite0-200-bal-adapt-cosine-$seed/bundle.beanscan"
  cp "runs/lite0-200-bal-adapt-cosine-$seed/knn-val.json" "$OUT/200-cosine-bal-adapt-$seed-knn-val.json"
done
# 2e. The adaptation continued for 600 more steps (1,200 in all), then the first seed's 200-bean run.
"$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt --run runs/lite0-adapt2 --loss pairs --steps 600 \
  --learning-rate 5e-4 --scale 10 --map-cache runs/maps.bin --embed-views 1 --eval-split val --out runs/lite0-adapt2/bundle.beanscan
cp runs/lite0-adapt2/knn-val.json "$OUT/adapt2-knn-val.json"
seed=${SEEDS%% *}; seed=${seed:-0}
"$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt2 --labels 200 --draw balanced --loss cosine \
  --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-adapt2-cosine-$seed" --eval-split val \
  --out "runs/lite0-200-bal-adapt2-cosine-$seed/bundle.beanscan"
cp "runs/lite0-200-bal-adapt2-cosine-$seed/knn-val.json" "$OUT/200-cosine-bal-adapt2-$seed-knn-val.json"
# 2f. The same with the pair loss on every train photo beside the labels (their labels not read).
"$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt2 --labels 200 --draw balanced --loss cosine \
  --steps 300 --seed "$seed" --refs-per-class 0 --pairs-weight 1 --map-cache runs/maps.bin \
  --run "runs/lite0-200-bal-adapt2-aux-$seed" --eval-split val --out "runs/lite0-200-bal-adapt2-aux-$seed/bundle.beanscan"
cp "runs/lite0-200-bal-adapt2-aux-$seed/knn-val.json" "$OUT/200-cosine-bal-adapt2-aux-$seed-knn-val.json"
# 2h. Balanced draws, cosine, the network cut after block 14 (as "Where to cut the network").
for seed in ${SEEDS:-0 1 2}; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --blocks 14 --labels 200 --draw balanced --loss cosine \
    --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-cosine-b14-$seed" --eval-split val \
    --out "runs/lite0-200-bal-cosine-b14-$seed/bundle.beanscan"
  cp "runs/lite0-200-bal-cosine-b14-$seed/knn-val.json" "$OUT/200-cosine-bal-b14-$seed-knn-val.json"
done
# 2i. Both: the label-free adaptation of the net cut after block 14, then the 200-bean runs from it.
"$BEANSCAN" tune --data "$DATA/greencoffee" --blocks 14 --run runs/lite0-adapt-b14 --loss pairs --steps 600 \
  --learning-rate 5e-4 --scale 10 --map-cache runs/maps.bin --embed-views 1 --eval-split val --out runs/lite0-adapt-b14/bundle.beanscan
cp runs/lite0-adapt-b14/knn-val.json "$OUT/adapt-b14-knn-val.json"
for seed in ${SEEDS:-0 1 2}; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt-b14 --blocks 14 --labels 200 --draw balanced \
    --loss cosine --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-adapt-b14-cosine-$seed" \
    --eval-split val --out "runs/lite0-200-bal-adapt-b14-cosine-$seed/bundle.beanscan"
  cp "runs/lite0-200-bal-adapt-b14-cosine-$seed/knn-val.json" "$OUT/200-cosine-bal-b14-adapt-$seed-knn-val.json"
done
python3 bench/pretrained-table.py "$OUT" > "$OUT/200-beans.md"

# 2g. Where to cut the network: the greencoffee-only recipe of 1a cut after block 14 and after block 10 (the
#     frozen blocks' maps are the same, so runs/maps.bin serves both); bundle bytes and browser
#     CPU ms per photo of each beside the 1a bundle (needs ./build.sh build and
#     `(cd bench && npm install)`).
for blocks in 14 10; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --blocks "$blocks" --map-cache runs/maps.bin --run "runs/lite0-cut$blocks" \
    --eval-split val --out "runs/cut-$blocks.beanscan"
  cp "runs/lite0-cut$blocks/knn-val.json" "$OUT/cut-$blocks-knn-val.json"
done
for seed in 1 2; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --blocks 14 --seed "$seed" --map-cache runs/maps.bin --run "runs/lite0-cut14-s$seed" \
    --eval-split val --out "runs/cut-14-s$seed.beanscan"
  cp "runs/lite0-cut14-s$seed/knn-val.json" "$OUT/cut-14-s$seed-knn-val.json"
done
"$BEANSCAN" eval --bundle runs/cut-14.beanscan --data "$DATA/greencoffee" --split val --json "$OUT/cut-14-eval-val.json"
# The seed-0 cut run once more in a fresh run folder (two runs of one seed differ a little), and
# that bundle on val and on the trays beside the shipped one: the cut-14-rerun-* files.
"$BEANSCAN" tune --data "$DATA/greencoffee" --blocks 14 --map-cache runs/maps.bin --run runs/lite0-cut14-rerun \
  --eval-split val --out runs/cut-14-rerun.beanscan
cp runs/lite0-cut14-rerun/knn-val.json "$OUT/cut-14-rerun-knn.json"
"$BEANSCAN" eval --bundle runs/cut-14-rerun.beanscan --data "$DATA/greencoffee" --split val --json "$OUT/cut-14-rerun-eval-val.json"
"$BEANSCAN" eval-trays --bundle runs/cut-14-rerun.beanscan --data "$DATA/trays" --json "$OUT/cut-14-rerun-trays.json" \
  --shots 0,5,10 --seeds 5
for f in runs/lite0.beanscan runs/cut-14.beanscan runs/cut-10.beanscan; do
  echo "{\"file\": \"$(basename "$f")\", \"bytes\": $(stat -c %s "$f")}"
done > "$OUT/cut-bytes.jsonl"
node bench/bean-ms.mjs --photos 12 --reps 3 --views 1,8 runs/cut-14.beanscan runs/cut-10.beanscan > "$OUT/cut-bean-ms.jsonl"
# 2j. Input sizes 96 and 160 px on the block-14 net (each its own map cache), timed beside the
#     128 px one.
for size in 96 160; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --input-size "$size" --blocks 14 --map-cache "runs/maps-$size.bin" \
    --run "runs/lite0-$size" --eval-split val --out "runs/lite0-$size.beanscan"
  cp "runs/lite0-$size/knn-val.json" "$OUT/input$size-b14-knn-val.json"
done
node bench/bean-ms.mjs --photos 12 --reps 3 --views 1,8 runs/cut-14.beanscan runs/lite0-96.beanscan runs/lite0-160.beanscan \
  > "$OUT/input-bean-ms.jsonl"

# 2k. Self-training on the best 200-bean recipe (step 2i's adapted start), seed 0: the first run
#     self-labels up to 100 photos per class (RUN/self-labelled.json), the second trains again
#     from the same start on the 200 beans plus those photos.
"$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt-b14 --blocks 14 --labels 200 --draw balanced \
  --loss cosine --steps 300 --seed 0 --refs-per-class 0 --self-label 100 --run runs/lite0-200-bal-adapt-b14-sl-0 \
  --eval-split val --out runs/lite0-200-bal-adapt-b14-sl-0/bundle.beanscan
cp runs/lite0-200-bal-adapt-b14-sl-0/knn-val.json "$OUT/200-cosine-bal-b14-adapt-sl-0-knn-val.json"
"$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt-b14 --blocks 14 --labels 200 --draw balanced \
  --loss cosine --steps 300 --seed 0 --refs-per-class 0 --pseudo-labels runs/lite0-200-bal-adapt-b14-sl-0/self-labelled.json \
  --run runs/lite0-200-bal-adapt-b14-st-0 --eval-split val --out runs/lite0-200-bal-adapt-b14-st-0/bundle.beanscan
cp runs/lite0-200-bal-adapt-b14-st-0/knn-val.json "$OUT/200-cosine-bal-b14-adapt-st-0-knn-val.json"

# 2l. The best 200-bean recipe (step 2i: cut after block 14, adapted start, balanced draws) at
#     160 px input; the adaptation itself stays the 128 px one (its weights fit any input size).
for seed in ${SEEDS:-0 1 2}; do
  "$BEANSCAN" tune --data "$DATA/greencoffee" --start runs/lite0-adapt-b14 --blocks 14 --input-size 160 --labels 200 \
    --draw balanced --loss cosine --steps 300 --seed "$seed" --refs-per-class 0 --run "runs/lite0-200-bal-adapt-b14-160-$seed" \
    --eval-split val --out "runs/lite0-200-bal-adapt-b14-160-$seed/bundle.beanscan"
  cp "runs/lite0-200-bal-adapt-b14-160-$seed/knn-val.json" "$OUT/200-cosine-bal-b14-i160-adapt-$seed-knn-val.json"
done

# 2m. More frozen blocks with every label: the 1a recipe with blocks 1–8 kept (own map cache).
"$BEANSCAN" tune --data "$DATA/greencoffee" --frozen 8 --map-cache runs/maps-f8.bin --run runs/lite0-f8 \
  --eval-split val --out runs/lite0-f8.beanscan
cp runs/lite0-f8/knn-val.json "$OUT/frozen8-all-knn-val.json"

# 3. Trays: the greencoffee-only bundle of 1a alone and with 5 / 10 tray references per class (date split);
#    tray beans take one view, and eight for comparison.
"$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --json bench/results/trays.json --shots 0,5,10 --seeds 5
"$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --json "$OUT/views-trays-q8.json" --shots 0,5,10 --seeds 5 --views 8
# 3b. Who votes: all references with k 10, and only the added tray references (k 5 and 10), on the
#     same draws; then the embedding's reach across dates (bench/tray-study.py; numpy, scikit-learn).
"$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --json bench/results/trays-k10.json --shots 0,5,10 --seeds 5 --k 10
for k in 5 10; do
  "$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --json "bench/results/trays-added-only-k$k.json" --shots 0,5,10 --seeds 5 \
    --k "$k" --added-only
done
"$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --shots 0 --beans runs/tray-beans.json
python3 bench/tray-study.py runs/tray-beans.json --trays "$DATA/trays" --json bench/results/tray-study.json
# 3c. Paper white: the trays re-encoded as they are and with the paper scaled to one level
#     (bench/tray-paper.py; numpy, Pillow), then 3's and 3b's measures on both copies.
python3 bench/tray-paper.py "$DATA/trays" runs/tray-paper
for kind in ctrl paper; do
  "$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "runs/tray-paper/$kind" --json "bench/results/tray-paper/trays-$kind.json" --shots 0,5,10 --seeds 5
  "$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "runs/tray-paper/$kind" --json "bench/results/tray-paper/trays-$kind-added-only.json" \
    --shots 0,5,10 --seeds 5 --added-only
  "$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "runs/tray-paper/$kind" --shots 0 --beans "runs/tray-beans-$kind.json"
  python3 bench/tray-study.py "runs/tray-beans-$kind.json" --trays "runs/tray-paper/$kind" \
    --json "bench/results/tray-paper/study-$kind.json"
done

# 3d. An encoder trained on tray beans: for each date, the annotated beans of the other dates cut
#     out (`beanscan tray-crops`), the encoder fine-tuned on them from ImageNet (300 steps),
#     the held-out date's beans labelled by kNN over the trained-on beans.
for held in 20190401 20190403 20210212; do
  "$BEANSCAN" tray-crops --data "$DATA/trays" --out "runs/tray-crops-$held" --hold-out "$held"
  "$BEANSCAN" tune --data "runs/tray-crops-$held" --steps 300 --refs-per-class 0 --run "runs/tray-ft-$held" \
    --eval-split val --out "runs/tray-ft-$held/bundle.beanscan"
  mkdir -p bench/results/tray-trained
  cp "runs/tray-ft-$held/knn-val.json" "bench/results/tray-trained/held-$held-knn-val.json"
done
cp runs/tray-crops-20210212/beans.json bench/results/tray-trained/beans.json

# 3e. References from the same session: the 1a bundle with tray references drawn from other
#     sessions (date split) and from the same session's other photos (photo split), all
#     references voting and the added ones only.
mkdir -p bench/results/tray-split
"$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --split date,photo --shots 0,5,10 --seeds 5 \
  --json bench/results/tray-split/shipped.json
"$BEANSCAN" eval-trays --bundle runs/lite0.beanscan --data "$DATA/trays" --split date,photo --shots 5,10 --seeds 5 --added-only \
  --json bench/results/tray-split/shipped-added-only.json

# 3f. One encoder for both cameras: for each date, greencoffee plus the tray beans of the other
#     dates (`beanscan tray-crops --with`), the block-14 net of step 2g trained on them for
#     400 more steps, and the held-out date's trays labelled (eval-trays --hold-out).
mkdir -p bench/results/tray-mixed
for held in 20190401 20190403 20210212; do
  "$BEANSCAN" tray-crops --data "$DATA/trays" --out "runs/mix-$held" --hold-out "$held" --with "$DATA/greencoffee"
  "$BEANSCAN" tune --data "runs/mix-$held" --start runs/lite0-cut14-rerun --blocks 14 --steps 400 --learning-rate 5e-4 \
    --map-cache runs/maps.bin --run "runs/mix-ft-$held" --eval-split val --out "runs/mix-ft-$held/bundle.beanscan"
  cp "runs/mix-ft-$held/knn-val.json" "bench/results/tray-mixed/held-$held-knn-val.json"
  hold_out_trays "runs/mix-ft-$held/bundle.beanscan" "$held" "bench/results/tray-mixed/held-$held-trays"
done
# The same nets (and one trained on every tray bean: "none" held out) re-exported with references
# from the single-bean photos only (rounds r1, r2), and measured again.
cp runs/mix-none/beans.json bench/results/tray-mixed/beans.json
for held in 20190401 20190403 20210212 none; do
  "$BEANSCAN" tune --data "runs/mix-$held" --start runs/lite0-cut14-rerun --blocks 14 --steps 400 --learning-rate 5e-4 \
    --map-cache runs/maps.bin --run "runs/mix-ft-$held" --eval-split val --out "runs/mix-ft-$held/bundle.beanscan"
  [[ $held == none ]] && cp runs/mix-ft-none/knn-val.json bench/results/tray-mixed/all-dates-knn-val.json
  "$BEANSCAN" tune --data "runs/mix-$held" --start runs/lite0-cut14-rerun --blocks 14 --steps 400 --learning-rate 5e-4 \
    --run "runs/mix-ft-$held" --eval-split val --refs-rounds r1,r2 --out "runs/mix-ft-$held/bundle-gcrefs.beanscan"
  cp "runs/mix-ft-$held/knn-val.json" "bench/results/tray-mixed/gcrefs-$held-knn-val.json"
  [[ $held == none ]] && continue
  hold_out_trays "runs/mix-ft-$held/bundle-gcrefs.beanscan" "$held" "bench/results/tray-mixed/gcrefs-$held-trays"
done

# 3g. The unknown flag on tray beans. The shipped net with one threshold for both kinds of photo:
#     its single-bean one (0.42) and 0.5 / 0.6 / 0.7 on the trays, 0.55 on val. Then, per date,
#     the shipped recipe's run (b) on greencoffee plus the other dates' tray beans, whose tray
#     threshold is calibrated on those, labelling the unseen date (eval-trays --hold-out), alone
#     and with 5 / 10 tray references per class.
"$BEANSCAN" eval-trays --bundle bundle/default.beanscan --data "$DATA/trays" --shots 0 --threshold 0.42 \
  --json bench/results/tray-mixed/both-cameras-trays.json
for t in 0.5 0.6 0.7; do
  "$BEANSCAN" eval-trays --bundle bundle/default.beanscan --data "$DATA/trays" --shots 0 --threshold "$t" \
    --json "bench/results/tray-mixed/both-cameras-trays-t$t.json"
done
"$BEANSCAN" eval --bundle bundle/default.beanscan --data "$DATA/greencoffee" --split val --threshold 0.55 \
  --json bench/results/tray-mixed/both-cameras-eval-val-t055.json
for held in 20190401 20190403 20210212; do
  "$BEANSCAN" tune --data "runs/mix-$held" --start runs/lite0-b14 --blocks 14 --steps 400 --learning-rate 5e-4 \
    --map-cache runs/maps.bin --refs-rounds r1,r2 --run "runs/both-held-$held" --out "runs/both-held-$held.beanscan"
  cp "runs/both-held-$held/unknown-tray.json" "bench/results/tray-mixed/tray-threshold-$held-calibration.json"
  hold_out_trays "runs/both-held-$held.beanscan" "$held" "bench/results/tray-mixed/tray-threshold-$held"
done

# 4. The tables of docs/results.md and README.md, from the files written above.
python3 bench/tables.py
