#!/usr/bin/env python3
"""Can the beans a grader has scanned but not confirmed teach the device's heads? (docs/results.md,
"Recipes measured and not shipped".) Replays the page on the embeddings `beanscan eval-camera
--embeddings` wrote, N of the camera's beans per class confirmed, the scored photos themselves
standing for the grader's unlabelled beans:

- "page": the gate (USK: logistic regression, C 10, confirmed × 3) or the defect head (Thai:
  multinomial, C 30, confirmed × 3), fitted on the references only;
- "self-trained P, × W": refitted twice with every scored bean it is at least P sure of, labelled
  as it says and counting W;
- "spread K" (Normal vs defect only): label spreading over the K nearest beans among the
  confirmed and the scored ones, alone and averaged with the gate.

Unknown stays the vote's. Figures as eval-camera reports them (unknown counted as wrong); the
Thai rows name defects by the first head alone (no traits). Needs numpy and scikit-learn.

  beanscan eval-camera --camera usk --data-root ../shared/data --shots 0,10 --seeds 1 --teach 100 --json usk.json --embeddings usk.jsonl
  bench/unlabelled-beans.py usk.jsonl usk.json [DRAWS]       # Thai: --camera thai --teach 17
"""
import importlib.util
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading

_spec = importlib.util.spec_from_file_location("dh", os.path.join(os.path.dirname(__file__), "defect-head.py"))
dh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dh)
gw, cw = dh.gw, dh.cw
NORMAL = "Normal"
CONFIRMED = 3.0


def self_trained(fit, model, x, y, w, unlabelled, sure, weight, rounds=2):
    """`model`, `fit(x, y, w)`, refitted with the unlabelled beans it is at least `sure` of, as it
    labels them."""
    for _ in range(rounds):
        p = model.predict_proba(unlabelled)
        taken = p.max(1) >= sure
        model = fit(np.concatenate([x, unlabelled[taken]]), np.concatenate([y, model.classes_[p.argmax(1)][taken]]),
                    np.concatenate([w, np.full(taken.sum(), weight)]))
    return model


def gate_fit(x, y, w):
    return LogisticRegression(C=10, max_iter=5000, class_weight="balanced").fit(x, y, sample_weight=w)


def head_fit(x, y, w):
    return LogisticRegression(C=30, max_iter=5000).fit(x, y, sample_weight=w)


def main():
    (rep, lumped, queries, truth, pool, pool_labels, labels_pool, bundle, bundle_labels, labels_bundle, db,
     draws) = gw.replay_inputs(sys.argv)
    threshold, k = rep["threshold"], rep["k"]
    has_normal = NORMAL in set(pool_labels)

    def score(predicted, unknown):
        return gw.camera_score(truth, lumped, predicted, unknown)

    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, k {k}, threshold {threshold:.2f}, {draws} draws")
    for n in (5, 10):
        rows = defaultdict(list)
        for seed in range(draws):
            picks = cw.draw(pool_labels, n, True, seed)
            own, own_labels = pool[picks], labels_pool[picks]
            _, defect, unknown = gw.knn(db, cw.distances(queries, own), list(bundle_labels) + list(own_labels),
                                        threshold, max(threshold, cw.spread(own)), k)
            if has_normal:  # Normal vs defect: the gate; the defect named by the vote
                x = np.concatenate([bundle, own])
                y = np.concatenate([labels_bundle, own_labels]) == NORMAL
                w = np.concatenate([np.ones(len(bundle)), np.full(len(own), CONFIRMED)])
                label = lambda model: np.where(model.predict(queries), NORMAL, defect)  # noqa: E731
                fit = gate_fit
                page = gate_fit(x, y, w)
                rows["page"].append(score(label(page), unknown))
                gate = page.predict_proba(queries)[:, 1]
                for neighbours in (10, 20):
                    spread = LabelSpreading(kernel="knn", n_neighbors=neighbours, alpha=0.5, max_iter=100)
                    spread.fit(np.concatenate([own, queries]),
                               np.concatenate([(own_labels == NORMAL).astype(int), -np.ones(len(queries), int)]))
                    normal = spread.label_distributions_[len(own):, 1]
                    rows[f"spread {neighbours}"].append(score(np.where(normal > 0.5, NORMAL, defect), unknown))
                    rows[f"spread {neighbours}, gate"].append(
                        score(np.where((normal + gate) / 2 > 0.5, NORMAL, defect), unknown))
            else:  # every bean a defect: the head names it
                defects = labels_bundle != NORMAL
                x = np.concatenate([bundle[defects], own])
                y = np.concatenate([labels_bundle[defects], own_labels])
                w = np.concatenate([np.ones(defects.sum()), np.full(len(own), CONFIRMED)])
                label = lambda model: model.predict(queries)  # noqa: E731
                fit = head_fit
                page = head_fit(x, y, w)
                rows["page"].append(score(label(page), unknown))
            for sure in (0.8, 0.95) if has_normal else (0.5, 0.9):
                for weight in (0.3, 1.0):
                    model = self_trained(fit, page, x, y, w, queries, sure, weight)
                    rows[f"self-trained {sure}, × {weight}"].append(score(label(model), unknown))
        for name, figures in rows.items():
            m, s = np.mean(figures, 0), np.std(figures, 0)
            tail = f"  balanced {m[1]:.3f} ± {s[1]:.3f}" if has_normal else ""
            print(f"+ {n:>2} per class  {name:24}  macro-F1 {m[0]:.3f} ± {s[0]:.3f}{tail}", flush=True)


if __name__ == "__main__":
    main()
