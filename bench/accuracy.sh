#!/usr/bin/env bash
# Reproduces the previous (from-scratch) encoder's accuracy study (docs/results.md, "Previous
# encoder"): its bundle, the supervised baseline, AE-only vs fine-tuned kNN over label budgets ×
# seeds with the mining variants, and the r1 → r2 domain-shift run. Every step resumes from its
# checkpoint in runs/ if interrupted.
#   bench/accuracy.sh [DATA]   (DATA defaults to ../shared/data/greencoffee)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-../shared/data/greencoffee}
BEANSCAN=${BEANSCAN:-target/release/beanscan}
OUT=bench/results
mkdir -p "$OUT"

# 1. The from-scratch pipeline (pretrain on every train face, 200 labelled beans); no longer the
#    shipped bundle (bench/pretrained.sh makes that one).
"$BEANSCAN" train --data "$DATA" --run runs/default --out runs/default/bundle.beanscan --f16
"$BEANSCAN" convert --bundle runs/default/bundle.beanscan --weights int8 --out runs/default/bundle.beanscan
"$BEANSCAN" eval --bundle runs/default/bundle.beanscan --data "$DATA" --split val --json "$OUT/resnet-ae-eval-val.json"
# 2. Supervised baseline: same encoder architecture, cross-entropy on every train label.
"$BEANSCAN" supervised --data "$DATA" --run runs/default
# 3. AE-only vs fine-tuned kNN, 200/500/2000 labelled beans × 3 seeds, mining variants.
"$BEANSCAN" study --data "$DATA" --run runs/default --json "$OUT/study-val.json"
# 4. Domain shift: pretrain and fine-tune on round r1 only; evaluate on r2 (and on r1).
#    A shorter schedule than the default run (round r1 is about a third of the photos).
"$BEANSCAN" pretrain --data "$DATA" --round r1 --run runs/r1 --pretrain-steps 800
"$BEANSCAN" study --data "$DATA" --run runs/r1 --train-round r1 --eval-round r2 --labels 200 --minings hard-guarded --json "$OUT/study-r1-to-r2.json"
"$BEANSCAN" study --data "$DATA" --run runs/r1 --train-round r1 --eval-round r1 --labels 200 --minings hard-guarded --json "$OUT/study-r1-to-r1.json"
