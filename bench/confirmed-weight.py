#!/usr/bin/env python3
"""How much a confirmed bean should count for: the scan behind `index::CONFIRMED_NEARER` and the
unknown bound of confirmed beans (docs/results.md, "Confirmed beans count for more").

Replays the page's vote (k nearest, majority, ties by summed distance) on the embeddings that
`beanscan eval-camera --embeddings` wrote, with N of the camera's beans per class (or N drawn at
random from its pool) added, for several weights of a confirmed bean's distance, and three unknown
rules for confirmed voters: the bundle's threshold ("threshold"), the threshold on the weighed
distance ("weighed": the threshold / the weight), or at least the 95th percentile of their
distance to their nearest other ("spread", as the classifier does).
Needs numpy.

  beanscan eval-camera --camera usk --shots 0,10 --teach 100 --json usk.json --embeddings usk.jsonl
  bench/confirmed-weight.py usk.jsonl usk.json [DRAWS]
"""
import json
import sys
from collections import defaultdict

import numpy as np


def load(dump, report):
    rep = json.load(open(report))
    lumped = rep["camera"] == "usk"
    rows = [json.loads(line) for line in open(dump)]

    def pool(name):
        r = [x for x in rows if x["pool"] == name]
        return np.array([x["embedding"] for x in r], np.float32), [x["label"] for x in r]

    def camera_name(label):  # the bundle's label in the camera's classes, as eval-camera reads it
        if lumped:
            return "Normal" if label == "Normal" else "Defect"
        return rep["alias"].get(label, label)

    bundle, bundle_labels = pool("bundle")
    return rep, lumped, pool("eval"), pool("reference"), (bundle, [camera_name(l) for l in bundle_labels])


def distances(a, b):
    return np.sqrt(np.maximum(2 - 2 * a @ b.T, 0))


def spread(own):
    d = distances(own, own)
    np.fill_diagonal(d, np.inf)
    nearest = np.sort(d.min(1))
    return float(nearest[int(np.ceil(len(nearest) * 0.95)) - 1]) if len(own) > 1 else 0.0


def vote(d_bundle, d_own, labels, weight, bound_bundle, bound_own, k, lumped):
    weighed = np.concatenate([d_bundle, d_own * weight], 1)
    raw = np.concatenate([d_bundle, d_own], 1)
    bounds = np.concatenate([np.full(d_bundle.shape[1], bound_bundle), np.full(d_own.shape[1], bound_own)])
    out, flagged = [], 0
    for i, near in enumerate(np.argsort(weighed, 1)[:, :k]):
        tally = defaultdict(lambda: [0, 0.0])
        for j in near:
            tally[labels[j]][0] += 1
            tally[labels[j]][1] += weighed[i, j]
        label = max(tally.items(), key=lambda t: (t[1][0], -t[1][1]))[0]
        if np.all(raw[i, near] > bounds[near]):
            label, flagged = ("Defect" if lumped else None), flagged + 1
        out.append(label)
    return out, flagged / len(out)


def score(truth, predicted):
    f1 = []
    for c in sorted(set(truth)):
        tp = sum(t == c and p == c for t, p in zip(truth, predicted))
        fp = sum(t != c and p == c for t, p in zip(truth, predicted))
        fn = sum(t == c and p != c for t, p in zip(truth, predicted))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    if "Normal" not in truth or len(set(truth)) < 2:
        return float(np.mean(f1)), None
    normal = np.mean([p == "Normal" for t, p in zip(truth, predicted) if t == "Normal"])
    defect = np.mean([p != "Normal" for t, p in zip(truth, predicted) if t != "Normal"])
    return float(np.mean(f1)), float((normal + defect) / 2)


def draw(pool_labels, n, per_class, seed):
    rng = np.random.default_rng(seed)
    if not per_class:
        return list(rng.permutation(len(pool_labels))[:n])
    picks = []
    for c in sorted(set(pool_labels)):
        rows = [i for i, l in enumerate(pool_labels) if l == c]
        picks += list(rng.permutation(rows)[:n])
    return picks


def main():
    rep, lumped, (queries, truth), (pool, pool_labels), (bundle, bundle_labels) = load(sys.argv[1], sys.argv[2])
    draws = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    threshold, k = rep["threshold"], rep["k"]
    d_bundle = distances(queries, bundle)
    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, k {k}, threshold {threshold:.2f}, {draws} draws")
    for n, per_class in [(5, True), (10, True), (20, False), (100, False)]:
        for weight in (1.0, 0.9, 0.8, 0.75, 0.7, 0.6):
            for rule in ("threshold", "weighed", "spread"):
                figures = []
                for seed in range(draws):
                    picks = draw(pool_labels, n, per_class, seed)
                    own = pool[picks]
                    bound_own = {"threshold": threshold, "weighed": threshold / weight}.get(rule) or max(threshold, spread(own))
                    labels = bundle_labels + [pool_labels[i] for i in picks]
                    out, flagged = vote(d_bundle, distances(queries, own), labels, weight, threshold, bound_own, k, lumped)
                    figures.append((*score(truth, out), flagged))
                f1, bal, flagged = zip(*figures)
                bal_text = f"{np.mean(bal):.3f} ± {np.std(bal):.3f}" if bal[0] is not None else "-"
                what = f"+ {n} per class" if per_class else f"{n} at random"
                print(f"{what:>14}  weight {weight:<4}  {rule:9}  macro-F1 {np.mean(f1):.3f} ± {np.std(f1):.3f}  "
                      f"balanced {bal_text}  unknown {np.mean(flagged):.3f}", flush=True)


if __name__ == "__main__":
    main()
