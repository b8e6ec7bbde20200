#!/usr/bin/env python3
"""How the Normal-vs-defect gate was chosen (`src/gate.rs`; docs/results.md, "Normal or defect:
a gate fitted on the device"): replays the page's vote on the embeddings that `beanscan
eval-camera --embeddings` wrote, with and without a gate, for several weights of a confirmed
bean in the gate's fit and penalties C, with N of the camera's beans per class (or N at random)
confirmed.

The gate is scikit-learn's LogisticRegression(C, class_weight="balanced") over the voting
references (the bundle's and the confirmed ones), every defect class pooled against Normal: it
decides Normal vs defect, and the vote of the k nearest defect references names a defect.
Unknown stays the vote's. Figures as eval-camera reports them: macro-F1 / balanced accuracy in
the camera's classes, unknown counted as wrong. Needs numpy and scikit-learn.

  beanscan eval-camera --camera usk --bundle B --shots 0,10 --seeds 1 --teach 100 --json usk.json --embeddings usk.jsonl
  bench/gate-weight.py usk.jsonl usk.json [DRAWS]
"""
import importlib.util
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression

_spec = importlib.util.spec_from_file_location("cw", os.path.join(os.path.dirname(__file__), "confirmed-weight.py"))
cw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cw)

CONFIRMED_NEARER = 0.75  # index::CONFIRMED_NEARER: a confirmed bean's distance counts this much


def knn(db, d_own, labels, threshold, bound_own, k):
    """The vote as the page casts it: its label, the vote of the k nearest defect references, unknown."""
    weighed = np.concatenate([db, d_own * CONFIRMED_NEARER], 1)
    raw = np.concatenate([db, d_own], 1)
    bounds = np.concatenate([np.full(db.shape[1], threshold), np.full(d_own.shape[1], bound_own)])
    order = np.argsort(weighed, 1)

    def vote(i, voters):
        tally = defaultdict(lambda: [0, 0.0])
        for j in voters:
            tally[labels[j]][0] += 1
            tally[labels[j]][1] += weighed[i, j]
        return max(tally.items(), key=lambda t: (t[1][0], -t[1][1]))[0]

    voted, defect, unknown = [], [], []
    for i in range(len(db)):
        near = order[i, :k]
        voted.append(vote(i, near))
        defect.append(vote(i, [j for j in order[i] if labels[j] != "Normal"][:k]))
        unknown.append(bool(np.all(raw[i, near] > bounds[near])))
    return np.array(voted), np.array(defect), np.array(unknown)


def camera_score(truth, lumped, predicted, unknown):
    """Macro-F1 and balanced accuracy (0 without Normal) in the camera's classes, as eval-camera
    scores: for USK every defect is Defect; unknown counts as wrong (USK: as a defect)."""
    p = np.array([("Normal" if x == "Normal" else "Defect") if lumped else x for x in predicted], dtype=object)
    p[unknown] = "Defect" if lumped else None
    f1, balanced = cw.score(truth, list(p))
    return f1, balanced or 0.0


def replay_inputs(argv):
    """What a replay reads from `DUMP REPORT [DRAWS]`: the report, the scored photos, the pool the
    confirmed beans are drawn from, the bundle's references and their distances to the photos."""
    rep, lumped, (queries, truth), (pool, pool_labels), (bundle, bundle_labels) = cw.load(argv[1], argv[2])
    draws = int(argv[3]) if len(argv) > 3 else 5
    return (rep, lumped, queries, truth, pool, pool_labels, np.array(pool_labels), bundle, bundle_labels,
            np.array(bundle_labels), cw.distances(queries, bundle), draws)


def main():
    (rep, lumped, queries, truth, pool, pool_labels, labels_pool, bundle, bundle_labels, labels_bundle, db,
     draws) = replay_inputs(sys.argv)
    threshold, k = rep["threshold"], rep["k"]

    def score(predicted, unknown):
        return camera_score(truth, lumped, predicted, unknown)

    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, k {k}, threshold {threshold:.2f}, {draws} draws")
    for n, per_class in [(5, True), (10, True), (20, False), (50, False), (100, False)]:
        rows = defaultdict(list)
        for seed in range(draws):
            picks = cw.draw(pool_labels, n, per_class, seed)
            own, own_labels = pool[picks], labels_pool[picks]
            if (own_labels == "Normal").all() or not (own_labels == "Normal").any():
                continue  # the page fits no gate before both sides are confirmed
            voted, defect, unknown = knn(db, cw.distances(queries, own), list(bundle_labels) + list(own_labels),
                                         threshold, max(threshold, cw.spread(own)), k)
            rows["vote alone"].append(score(voted, unknown))
            x = np.concatenate([bundle, own])
            normal = np.concatenate([labels_bundle, own_labels]) == "Normal"
            for c in (1, 10, 100):
                for weight in (1, 3, 10):
                    w = np.concatenate([np.ones(len(bundle)), np.full(len(own), float(weight))])
                    gate = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, normal, sample_weight=w)
                    rows[f"gate C {c}, confirmed × {weight}"].append(score(np.where(gate.predict(queries), "Normal", defect), unknown))
        what = f"+ {n} per class" if per_class else f"{n} at random"
        for name, figures in rows.items():
            m, s = np.mean(figures, 0), np.std(figures, 0)
            print(f"{what:>14}  {name:26}  macro-F1 {m[0]:.3f} ± {s[0]:.3f}  balanced {m[1]:.3f} ± {s[1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
