#!/usr/bin/env python3
"""How a defect is named once the grader has confirmed beans (docs/results.md, "Naming the
defect"): replays the page's vote on the embeddings that `beanscan eval-camera --embeddings`
wrote, with N of the camera's beans per class confirmed (of every class, or of Normal and only 2 or
4 kinds of defect), and compares ways of naming a bean's
defect once Normal vs defect is decided (by the gate when the confirmed beans hold both sides,
else by the vote):

- "vote": the k nearest defect references vote (the page without a head);
- "prototype": the nearest class mean of the confirmed defect beans (cosine);
- "LR mine C": a multinomial logistic regression on the confirmed defect beans;
- "LR all C ×W": the same on the confirmed (each counting W times) and the bundle's defect beans.

Unknown stays the vote's. Figures as eval-camera reports them: macro-F1 / balanced accuracy in
the camera's classes, unknown counted as wrong. Needs numpy and scikit-learn.

  beanscan eval-camera --camera thai --shots 0,10 --seeds 1 --json thai.json --embeddings thai.jsonl
  bench/defect-head.py thai.jsonl thai.json [DRAWS]
"""
import importlib.util
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression


def _module(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cw = _module("cw", "confirmed-weight.py")
gw = _module("gw", "gate-weight.py")
NORMAL = "Normal"


def prototypes(own, own_labels):
    classes = sorted(set(own_labels))
    means = np.stack([own[own_labels == c].mean(0) for c in classes])
    return np.array(classes), means / np.linalg.norm(means, axis=1, keepdims=True)


def logistic(x, y, w, c):
    if len(set(y)) < 2:
        only = y[0]
        return lambda q: np.full(len(q), only, dtype=object)
    model = LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=w)
    return model.predict


def main():
    (rep, lumped, queries, truth, pool, pool_labels, labels_pool, bundle, bundle_labels, labels_bundle, db,
     draws) = gw.replay_inputs(sys.argv)
    threshold, k = rep["threshold"], rep["k"]
    bundle_defects = labels_bundle != NORMAL

    def score(predicted, unknown):
        p = np.array(predicted, dtype=object)
        p[unknown] = "Defect" if lumped else None
        f1, balanced = cw.score(truth, list(p))
        return f1, balanced or 0.0

    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, k {k}, threshold {threshold:.2f}, {draws} draws")
    for n, kinds in ((5, None), (10, None), (10, 2), (10, 4)):
        rows = defaultdict(list)
        for seed in range(draws):
            picks = cw.draw(pool_labels, n, True, seed)
            if kinds:  # Normal and only `kinds` of the defects confirmed, drawn by seed
                defects = sorted(set(pool_labels) - {NORMAL})
                chosen = set(np.random.default_rng(100 + seed).permutation(defects)[:kinds]) | {NORMAL}
                picks = [i for i in picks if pool_labels[i] in chosen]
            own, own_labels = pool[picks], labels_pool[picks]
            voted, defect, unknown = gw.knn(db, cw.distances(queries, own), list(bundle_labels) + list(own_labels),
                                            threshold, max(threshold, cw.spread(own)), k)
            if (own_labels == NORMAL).any() and (own_labels != NORMAL).any():
                x = np.concatenate([bundle, own])
                normal_side = np.concatenate([labels_bundle, own_labels]) == NORMAL
                w = np.concatenate([np.ones(len(bundle)), np.full(len(own), 3.0)])
                gate = LogisticRegression(C=10, max_iter=5000, class_weight="balanced").fit(x, normal_side, sample_weight=w)
                is_normal = gate.predict(queries)
            else:
                is_normal = voted == NORMAL
            page = np.where(is_normal, NORMAL, defect if (own_labels == NORMAL).any() else voted)
            rows["vote (the page)"].append(score(page, unknown))

            def named(names):
                return np.where(is_normal, NORMAL, names)

            mine = own_labels != NORMAL
            classes, means = prototypes(own[mine], own_labels[mine])
            rows["prototype"].append(score(named(classes[np.argmax(queries @ means.T, 1)]), unknown))
            for c in (10, 30, 100):
                rows[f"LR mine C {c}"].append(score(named(logistic(own[mine], own_labels[mine], None, c)(queries)), unknown))
                for weight in (3, 10):
                    x = np.concatenate([bundle[bundle_defects], own[mine]])
                    y = np.concatenate([labels_bundle[bundle_defects], own_labels[mine]])
                    w = np.concatenate([np.ones(bundle_defects.sum()), np.full(mine.sum(), float(weight))])
                    rows[f"LR all C {c} ×{weight}"].append(score(named(logistic(x, y, w, c)(queries)), unknown))
        for name, figures in rows.items():
            m, s = np.mean(figures, 0), np.std(figures, 0)
            what = f"+ {n} per class" + (f", {kinds} defects" if kinds else "")
            print(f"{what:>25}  {name:22}  macro-F1 {m[0]:.3f} ± {s[0]:.3f}  balanced {m[1]:.3f} ± {s[1]:.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
