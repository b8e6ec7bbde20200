#!/usr/bin/env python3
"""Teaching in rounds, as the page asks (docs/results.md, "Teach your camera"): 12 beans proposed
at a time against the beans already confirmed, replayed on the embeddings (and traits) that
`beanscan eval-camera --embeddings` wrote, and scored as the page labels (vote, gate, defect
heads with the traits chosen on the grader's beans) after each budget. Proposals:

- spread × typical: `teach::propose` (the page);
- + uncertain first, A: each bean's score also × (1 - A + 2A × (1 - confidence)), its confidence
  the gate's probability of its side and, for a defect, the defect head's probability of its name,
  under the beans confirmed so far;
- typical²: typicality squared, so that tight clusters are asked more than once;
- random (seeds 0-2);
- every pool photo confirmed: the most the net lets a grader teach it.

Needs numpy, scikit-learn and the traits in the dump.

  beanscan eval-camera --camera thai --shots 0,10 --seeds 1 --teach 17 --json thai.json --embeddings thai.jsonl
  bench/teach-rounds.py thai.jsonl thai.json 36,84,168
"""
import importlib.util
import json
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

_spec = importlib.util.spec_from_file_location("tk", os.path.join(os.path.dirname(__file__), "traits-kinds.py"))
tk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tk)
gw, cw = tk.gw, tk.cw

NORMAL = "Normal"
ROUND = 12  # www/notice.js TEACH_ROUND
DENSITY_NEIGHBOURS = 7  # teach::DENSITY_NEIGHBOURS


class Camera:
    def __init__(self, dump, report):
        (self.rep, self.lumped, self.queries, self.truth, self.pool, pool_labels, self.labels, self.bundle,
         self.bundle_labels, self.labels_bundle, self.db, _) = gw.replay_inputs(["", dump, report])
        rows = [json.loads(line) for line in open(dump)]
        self.t_query, self.t_pool = (np.array([r["traits"] for r in rows if r["pool"] == p]) for p in ("eval", "reference"))
        self.db_pool = cw.distances(self.pool, self.bundle)
        defects = self.labels_bundle != NORMAL
        self.bx, self.by = self.bundle[defects], self.labels_bundle[defects]

    def label(self, picks, x, db_x, t_x, quick):
        """The page's labels of `x` with pool photos `picks` confirmed, which are unknown, and each
        one's confidence.
        `quick`: the first defect head alone (for proposing), else the heads as the page fits them."""
        own, own_labels, t_own = self.pool[picks], self.labels[picks], self.t_pool[picks]
        threshold, k = self.rep["threshold"], self.rep["k"]
        bound = max(threshold, cw.spread(own)) if len(own) > 1 else threshold
        voted, defect, unknown = gw.knn(db_x, cw.distances(x, own), list(self.bundle_labels) + list(own_labels),
                                        threshold, bound, k)
        is_normal, side = voted == NORMAL, np.ones(len(x))
        if (own_labels == NORMAL).any() and (own_labels != NORMAL).any():
            gate = LogisticRegression(C=10, max_iter=5000, class_weight="balanced").fit(
                np.concatenate([self.bundle, own]), np.concatenate([self.labels_bundle, own_labels]) == NORMAL,
                sample_weight=np.concatenate([np.ones(len(self.bundle)), np.full(len(own), 3.0)]))
            p = gate.predict_proba(x)[:, 1]
            is_normal, side = p > 0.5, np.maximum(p, 1 - p)
        named, sure = defect, np.ones(len(x))
        mine = own_labels != NORMAL
        ox, oy, ot = own[mine], own_labels[mine], t_own[mine]
        if len(np.unique(oy)) >= 2:
            if quick:
                head = LogisticRegression(C=30, max_iter=5000).fit(
                    np.vstack([self.bx, ox]), np.concatenate([self.by, oy]),
                    sample_weight=np.concatenate([np.ones(len(self.by)), np.full(len(oy), 3.0)]))
                p = head.predict_proba(x)
                named, sure = head.classes_[p.argmax(1)], p.max(1)
            else:
                fits = {"no": lambda a, b, c: tk.head(self.bx, self.by, a, b, c, 0),
                        "two": lambda a, b, c: tk.two_heads(self.bx, self.by, a, b, c, False)}
                right = {w: tk.held_right(f, ox, oy, ot) for w, f in fits.items()}
                named = fits["two" if right["two"] > right["no"] else "no"](ox, oy, ot)(x, t_x)
        return np.where(is_normal, NORMAL, named), unknown, np.where(is_normal, side, side * sure)

    def score(self, picks):
        named, unknown, _ = self.label(picks, self.queries, self.db, self.t_query, False)
        return gw.camera_score(self.truth, self.lumped, named, unknown)


def typicality(x, power):
    d = cw.distances(x, x)
    np.fill_diagonal(d, np.inf)
    near = np.sort(d, 1)[:, :max(1, min(DENSITY_NEIGHBOURS, (len(x) - 1) // 3))].mean(1)
    closeness = 1 / (near + 1e-3)
    return (0.5 + closeness / closeness.max()) ** power


def propose(pool, candidates, confirmed, n, weight, power):
    """`teach::propose` over `candidates` (pool rows), each score also × `weight`."""
    x = pool[candidates]
    typical = typicality(x, power) * weight
    gap = np.minimum(cw.distances(x, pool[confirmed]).min(1), 2.0) if confirmed else np.full(len(x), 2.0)
    picked = []
    for _ in range(min(n, len(x))):
        score = gap * typical
        score[picked] = -1
        best = int(np.argmax(score))
        picked.append(best)
        gap = np.minimum(gap, cw.distances(x, x[best:best + 1])[:, 0])
    return [candidates[i] for i in picked]


def teach(cam, budgets, uncertain=0.0, power=1.0, seed=None):
    """Scores after each budget, confirming ROUND beans a round."""
    confirmed, scores = [], {}
    order = list(np.random.default_rng(seed).permutation(len(cam.pool))) if seed is not None else None
    while len(confirmed) < max(budgets):
        taken = set(confirmed)
        candidates = [i for i in range(len(cam.pool)) if i not in taken]
        if order is not None:
            new = [i for i in order if i not in taken][:ROUND]
        else:
            weight = np.ones(len(candidates))
            if uncertain and confirmed:
                _, _, sure = cam.label(confirmed, cam.pool[candidates], cam.db_pool[candidates], cam.t_pool[candidates], True)
                weight = 1 - uncertain + 2 * uncertain * (1 - sure)
            new = propose(cam.pool, candidates, confirmed, ROUND, weight, power)
        confirmed += new
        for b in budgets:
            if len(confirmed) - len(new) < b <= len(confirmed):
                scores[b] = cam.score(confirmed[:b])
    return scores


def main():
    cam = Camera(sys.argv[1], sys.argv[2])
    budgets = [int(b) for b in sys.argv[3].split(",")]
    print(f"{cam.rep['camera']}: {len(cam.queries)} photos scored, pool {len(cam.pool)}, rounds of {ROUND}")
    runs = [("spread × typical (the page)", [{}]), ("+ uncertain first, 0.5", [{"uncertain": 0.5}]),
            ("+ uncertain first, 1.0", [{"uncertain": 1.0}]), ("typical²", [{"power": 2.0}]),
            ("random", [{"seed": s} for s in range(3)])]
    for name, settings in runs:
        results = [teach(cam, budgets, **s) for s in settings]
        for b in budgets:
            f = np.array([r[b] for r in results], dtype=float)
            balanced = f"  balanced {f[:, 1].mean():.3f} ± {f[:, 1].std():.3f}" if cam.lumped else ""
            print(f"{name:28} {b:4}  macro-F1 {f[:, 0].mean():.3f} ± {f[:, 0].std():.3f}{balanced}", flush=True)
    f = cam.score(list(range(len(cam.pool))))
    print(f"{'every pool photo confirmed':28} {len(cam.pool):4}  macro-F1 {f[0]:.3f}" + (f"  balanced {f[1]:.3f}" if cam.lumped else ""))


if __name__ == "__main__":
    main()
