#!/usr/bin/env bash
# Reproduces the accuracy study (README, "Accuracy"): the default bundle, the supervised
# baseline, AE-only vs fine-tuned kNN over label budgets × seeds with the mining variants, and
# the r1 → r2 domain-shift run. Every step resumes from its checkpoint in runs/ if interrupted.
#   bench/accuracy.sh [DATA]   (DATA defaults to ../shared/data/greencoffee)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data/greencoffee}
BEANSCAN=${BEANSCAN:-target/release/beanscan}
OUT=bench/results
mkdir -p "$OUT"

# 1. Default pipeline → the shipped bundle (pretrain on every train face, 200 labelled beans).
"$BEANSCAN" train --data "$DATA" --run runs/default --out bundle/default.beanscan --f16
#    Shipped with 8-bit weights (README, "Default bundle": size vs accuracy of f32 / f16 / int8).
"$BEANSCAN" convert --bundle bundle/default.beanscan --weights int8 --out bundle/default.beanscan
"$BEANSCAN" eval --bundle bundle/default.beanscan --data "$DATA" --split val --json bundle/default-eval-val.json
# 2. Supervised baseline: same encoder architecture, cross-entropy on every train label.
"$BEANSCAN" supervised --data "$DATA" --run runs/default
# 3. AE-only vs fine-tuned kNN, 200/500/2000 labelled beans × 3 seeds, mining variants.
"$BEANSCAN" study --data "$DATA" --run runs/default --json "$OUT/study-val.json"
# 4. Domain shift: pretrain and fine-tune on round r1 only; evaluate on r2 (and on r1).
#    A shorter schedule than the default run (round r1 is about a third of the photos).
"$BEANSCAN" pretrain --data "$DATA" --round r1 --run runs/r1 --pretrain-steps 800
"$BEANSCAN" study --data "$DATA" --run runs/r1 --train-round r1 --eval-round r2 --labels 200 --minings hard-guarded --json "$OUT/study-r1-to-r2.json"
"$BEANSCAN" study --data "$DATA" --run runs/r1 --train-round r1 --eval-round r1 --labels 200 --minings hard-guarded --json "$OUT/study-r1-to-r1.json"
