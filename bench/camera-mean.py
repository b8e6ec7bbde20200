#!/usr/bin/env python3
"""Centring a new camera's beans on their own mean before the vote (docs/results.md, "Recipes
measured and not shipped"): a camera shifts every embedding alike, so moving its beans' mean onto
the bundle's references' mean, with no label, might bring them near the right references.

Replays the page's vote (and, with Normal and a defect confirmed, the gate) on the embeddings that
`beanscan eval-camera --embeddings` wrote: the bundle alone and + 5 / + 10 of the camera's beans
per class, with the camera's mean taken over N of its pool photos (unlabelled), as

- none: the embeddings as the net gives them (the page);
- shift: each of the camera's beans (scored and confirmed) moved by bundle mean - camera mean;
- both: the camera's beans less their mean, the bundle's less theirs;
- per dimension: the camera's beans standardised to the bundle's mean and sd per dimension;

each renormalised to unit length. Figures as eval-camera reports them (unknown counted as wrong;
for USK, as a defect). Needs numpy and scikit-learn.

  beanscan eval-camera --camera usk --shots 0,10 --seeds 1 --teach 100 --json usk.json --embeddings usk.jsonl
  bench/camera-mean.py usk.jsonl usk.json [DRAWS]
"""
import importlib.util
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression

_spec = importlib.util.spec_from_file_location("gw", os.path.join(os.path.dirname(__file__), "gate-weight.py"))
gw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gw)
cw = gw.cw


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def centrings(sample, bundle):
    """(name, camera beans → moved, bundle references → moved) for the camera's `sample`."""
    mu_c, mu_b = sample.mean(0), bundle.mean(0)
    sd_c, sd_b = sample.std(0) + 1e-6, bundle.std(0) + 1e-6
    same = lambda x: x  # noqa: E731
    return [
        ("none", same, same),
        ("shift", lambda x: unit(x - mu_c + mu_b), same),
        ("both", lambda x: unit(x - mu_c), lambda x: unit(x - mu_b)),
        ("per dimension", lambda x: unit((x - mu_c) / sd_c * sd_b + mu_b), same),
    ]


def main():
    (rep, lumped, queries, truth, pool, pool_labels, labels_pool, bundle, bundle_labels, labels_bundle, _,
     draws) = gw.replay_inputs(sys.argv)
    threshold, k = rep["threshold"], rep["k"]

    def score(predicted, unknown):
        return gw.camera_score(truth, lumped, predicted, unknown)

    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, k {k}, threshold {threshold:.2f}, {draws} draws")
    for unlabelled in (50, len(pool)):
        for n in (0, 5, 10):
            rows = defaultdict(list)
            for seed in range(draws if n else 1):
                sample = pool[np.random.default_rng(100 + seed).permutation(len(pool))[:unlabelled]]
                picks = cw.draw(pool_labels, n, True, seed) if n else []
                own_labels = labels_pool[picks]
                for name, camera, bundled in centrings(sample, bundle):
                    q, b, own = camera(queries), bundled(bundle), camera(pool[picks]) if n else pool[:0]
                    bound = max(threshold, cw.spread(own)) if n else threshold
                    voted, defect, unknown = gw.knn(cw.distances(q, b), cw.distances(q, own),
                                                    list(bundle_labels) + list(own_labels), threshold, bound, k)
                    rows[f"{name}: vote"].append(score(voted, unknown))
                    rows[f"{name}: flagged"].append((unknown.mean(), 0.0))
                    if n and lumped:
                        w = np.concatenate([np.ones(len(b)), np.full(len(own), 3.0)])
                        normal = np.concatenate([labels_bundle, own_labels]) == "Normal"
                        gate = LogisticRegression(C=10, max_iter=5000, class_weight="balanced")
                        gate.fit(np.concatenate([b, own]), normal, sample_weight=w)
                        rows[f"{name}: gate"].append(score(np.where(gate.predict(q), "Normal", defect), unknown))
            what = f"+ {n} per class" if n else "bundle alone"
            for name, figures in rows.items():
                m, s = np.mean(figures, 0), np.std(figures, 0)
                figure = (f"{m[0]:.3f}" if "flagged" in name else
                          f"macro-F1 {m[0]:.3f} ± {s[0]:.3f}" + (f"  balanced {m[1]:.3f} ± {s[1]:.3f}" if lumped else ""))
                print(f"mean of {unlabelled:3} photos  {what:>15}  {name:22}  {figure}", flush=True)


if __name__ == "__main__":
    main()
