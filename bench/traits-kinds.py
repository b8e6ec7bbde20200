#!/usr/bin/env python3
"""Traits over the kinds the grader confirmed (docs/results.md, "Colour and size beside the
embedding"): replays the page's defect head on `beanscan eval-camera --embeddings` dumps, with
every class confirmed or only Normal and 2 or 4 kinds of defect, and compares

- no traits: one head over the embedding (C 30, bundle defect beans once, confirmed ones 3 times);
- one head weighing traits (0.1 × the standard scores on the confirmed beans; bundle rows 0);
- two heads: the first names the defect from the embedding; where it names a kind the grader
  confirmed, a second head over those kinds' rows (the bundle's and the confirmed ones), weighing
  traits, names it again;
- the same with the second head fitted on the confirmed beans alone (the page);

each fixed, and chosen per draw as the page chooses: by FOLDS-fold cross-validation on the confirmed
defect beans (in the order drawn), a tie keeping no traits. Normal vs defect is the page's gate
(or the vote's, with no Normal confirmed); unknown stays the vote's and counts as wrong. Traits
come from the dump (eval-camera writes them) or as bench/bean-traits.py reads them. Needs numpy,
scikit-learn and Pillow.

  beanscan eval-camera --camera r2 --shots 0,10 --seeds 1 --teach 12 --json r2.json --embeddings r2.jsonl
  bench/traits-kinds.py r2.jsonl r2.json [DRAWS] [FOLDS]
"""
import importlib.util
import json
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

_spec = importlib.util.spec_from_file_location("bt", os.path.join(os.path.dirname(__file__), "bean-traits.py"))
bt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bt)
gw, cw = bt.gw, bt.cw

NORMAL = "Normal"
WEIGHT = 0.1
FOLDS = 5  # defect_head::FOLDS; a fourth argument sets another


def head(bx, by, ox, oy, ot, alpha):
    """A head on the bundle's defect rows (bx, by; no traits: 0) and the confirmed ones."""
    scale = StandardScaler().fit(ot) if alpha else None

    def inputs(x, t):
        return np.hstack([x, alpha * scale.transform(t)]) if alpha else x

    bundle = np.hstack([bx, np.zeros((len(bx), ot.shape[1]))]) if alpha else bx
    fitted = LogisticRegression(C=30, max_iter=5000).fit(
        np.vstack([bundle, inputs(ox, ot)]), np.concatenate([by, oy]),
        sample_weight=np.concatenate([np.ones(len(by)), np.full(len(oy), 3.0)]))
    return lambda x, t: fitted.predict(inputs(x, t))


def two_heads(bx, by, ox, oy, ot, bundle_in_second=True):
    first = head(bx, by, ox, oy, ot, 0)
    kinds = np.unique(oy)
    mine = np.isin(by, kinds) & bundle_in_second
    second = head(bx[mine], by[mine], ox, oy, ot, WEIGHT)

    def name(x, t):
        named = first(x, t)
        again = np.isin(named, kinds)
        if again.any():
            named[again] = second(x[again], t[again])
        return named
    return name


def held_right(fit, ox, oy, ot):
    """How many confirmed beans the fit names right when each fifth of them is left out."""
    fold = np.arange(len(oy)) % FOLDS
    right = 0
    for f in range(FOLDS):
        keep, held = fold != f, fold == f
        if len(np.unique(oy[keep])) >= 2:
            right += int((fit(ox[keep], oy[keep], ot[keep])(ox[held], ot[held]) == oy[held]).sum())
    return right


def main():
    global FOLDS
    FOLDS = int(sys.argv[4]) if len(sys.argv) > 4 else FOLDS
    dump = sys.argv[1]
    (rep, lumped, queries, truth, pool, pool_labels, labels_pool, bundle, bundle_labels, labels_bundle, db,
     draws) = gw.replay_inputs(sys.argv)
    found = bt.traits_of(dump, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    rows = [json.loads(line) for line in open(dump)]
    t_query, t_pool = (np.array([found[r["path"]] for r in rows if r["pool"] == p]) for p in ("eval", "reference"))
    defects = labels_bundle != NORMAL
    bx, by = bundle[defects], labels_bundle[defects]
    fits = {
        "no traits": lambda ox, oy, ot: head(bx, by, ox, oy, ot, 0),
        "one head weighing traits": lambda ox, oy, ot: head(bx, by, ox, oy, ot, WEIGHT),
        "two heads": lambda ox, oy, ot: two_heads(bx, by, ox, oy, ot),
        "two heads, the second on mine only": lambda ox, oy, ot: two_heads(bx, by, ox, oy, ot, False),
    }
    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, {draws} draws")
    scenarios = ((5, None), (10, None)) if NORMAL not in pool_labels else ((5, None), (10, None), (10, 2), (10, 4))
    for n, kinds in scenarios:
        table = defaultdict(list)
        for seed in range(draws):
            picks = cw.draw(pool_labels, n, True, seed)
            if kinds:  # Normal and only `kinds` of the defects confirmed, drawn by seed
                chosen = set(np.random.default_rng(100 + seed).permutation(sorted(set(pool_labels) - {NORMAL}))[:kinds])
                picks = [i for i in picks if pool_labels[i] in chosen | {NORMAL}]
            own, own_labels, t_own = pool[picks], labels_pool[picks], t_pool[picks]
            voted, _, unknown = gw.knn(db, cw.distances(queries, own), list(bundle_labels) + list(own_labels),
                                       rep["threshold"], max(rep["threshold"], cw.spread(own)), rep["k"])
            is_normal = voted == NORMAL
            if (own_labels == NORMAL).any() and (own_labels != NORMAL).any():
                x = np.concatenate([bundle, own])
                w = np.concatenate([np.ones(len(bundle)), np.full(len(own), 3.0)])
                side = np.concatenate([labels_bundle, own_labels]) == NORMAL
                gate = LogisticRegression(C=10, max_iter=5000, class_weight="balanced")
                is_normal = gate.fit(x, side, sample_weight=w).predict(queries)
            mine = own_labels != NORMAL
            ox, oy, ot = own[mine], own_labels[mine], t_own[mine]

            def score(name):
                named = np.array(np.where(is_normal, NORMAL, name(queries, t_query)), dtype=object)
                named[unknown] = None
                return cw.score(truth, list(named))[0]

            scores = {what: score(fit(ox, oy, ot)) for what, fit in fits.items()}
            right = {what: held_right(fit, ox, oy, ot) for what, fit in fits.items()}
            for what, s in scores.items():
                table[what].append(s)
                if what != "no traits":
                    chosen = what if right[what] > right["no traits"] else "no traits"
                    table[f"{what}, chosen on mine"].append(scores[chosen])
        for what, figures in table.items():
            label = f"+ {n} per class" + (f", {kinds} kinds" if kinds else "")
            print(f"{label:>24}  {what:50}  macro-F1 {np.mean(figures):.3f} ± {np.std(figures):.3f}", flush=True)


if __name__ == "__main__":
    main()
