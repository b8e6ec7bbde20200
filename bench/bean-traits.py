#!/usr/bin/env python3
"""What the crop hides (docs/results.md, "Colour and size beside the embedding"): the model sees
each bean in a square cropped around it and resized, so how large the bean is, and its colour
against the background the camera saw, reach the net only through a crop it was never asked to
measure. This replays the page's defect head (and, for a camera with Normal beans, the gate) on
the embeddings `beanscan eval-camera --embeddings` wrote, with and without a few measured traits
of each photo appended to the embedding, N of the camera's beans per class confirmed.

Traits of a photo (long side 128 px, aspect kept): the bean is every pixel farther than 0.12 (RGB
in 0..1) from the median colour of the outer 8-pixel ring; each pixel is divided by that ring
colour (the background as the white reference); of lightness (r+g+b)/3, red-green r-g and
yellow-blue (r+g)/2-b: mean, sd, 10th, 50th, 90th percentile (colour, 15); the bean's share of
the photo and the ratio of its short to its long axis (size, 2).

The head is the page's (multinomial logistic regression, C 30, the bundle's defect beans once and
the confirmed ones 3 times; where the camera has Normal beans, the page's gate, without traits,
decides Normal first); the traits are standardised on the confirmed beans and scaled by
ALPHA. "bundle 0": the bundle's references carry no traits (zeros), as a bundle made without them
would; "bundle own": they carry their own photos' traits, standardised on themselves. Unknown stays
the vote's and counts as wrong, as eval-camera counts it. Needs numpy, scikit-learn and Pillow.

  beanscan eval-camera --camera thai --data-root ../shared/data --shots 0,10 --seeds 1 --teach 17 \
      --json thai.json --embeddings thai.jsonl
  bench/bean-traits.py thai.jsonl thai.json [DRAWS]
"""
import importlib.util
import json
import os
import sys
from collections import defaultdict

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

_spec = importlib.util.spec_from_file_location("gw", os.path.join(os.path.dirname(__file__), "gate-weight.py"))
gw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gw)
cw = gw.cw

NORMAL = "Normal"
RING = 8
BEAN_FROM_BACKGROUND = 0.12
COLOUR = list(range(15))
SIZE = [15, 16]


def photo_path(dump_path, data_root):
    """The photo a dump row names: a file path, or a greencoffee reference `r1-Black-006/006D`."""
    if os.path.exists(dump_path):
        return dump_path
    round_, rest = dump_path.split("-", 1)
    folder, face = rest.rsplit("/", 1)
    return os.path.join(data_root, "greencoffee", round_, folder.rsplit("-", 1)[0], face + ".jpg")


def traits(path):
    image = Image.open(path).convert("RGB")
    image.thumbnail((128, 128))
    px = np.asarray(image, np.float32) / 255
    ring = np.concatenate([px[:RING].reshape(-1, 3), px[-RING:].reshape(-1, 3),
                           px[:, :RING].reshape(-1, 3), px[:, -RING:].reshape(-1, 3)])
    background = np.median(ring, 0)
    far = np.linalg.norm(px - background, axis=2)
    bean = far > BEAN_FROM_BACKGROUND
    if bean.sum() < 50:  # a bean the colour of its background: its farthest third
        bean = far > np.percentile(far, 67)
    p = np.clip(px[bean] / np.maximum(background, 1e-3), 0, 1.5)
    r, g, b = p[:, 0], p[:, 1], p[:, 2]
    out = []
    for channel in ((r + g + b) / 3, r - g, (r + g) / 2 - b):
        out += [channel.mean(), channel.std(), *np.percentile(channel, [10, 50, 90])]
    ys, xs = np.nonzero(bean)
    axes = np.sort(np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(float))))
    out += [bean.mean(), axes[0] / max(axes[1], 1e-6)]
    return [float(v) for v in out]


def traits_of(dump, data_root):
    """Each photo's traits: as eval-camera read them (the dump's `traits`) where it has them,
    else as `traits` reads them from the photo (cached beside the dump)."""
    rows = [json.loads(line) for line in open(dump)]
    if all(r.get("traits") for r in rows if r["pool"] != "bundle"):
        return {r["path"]: r.get("traits") or [0.0] * 17 for r in rows}
    cache = dump + ".traits.json"
    if os.path.exists(cache):
        return json.load(open(cache))
    found = {r["path"]: traits(photo_path(r["path"], data_root)) for r in rows}
    json.dump(found, open(cache, "w"))
    return found


def choose_alpha(own, own_labels, t_own, bundle, bundle_labels, alphas=(0.0, 0.1), folds=5):
    """The trait weight as the page chooses it (`DefectHead::fit_with_traits`): the one whose head
    names the confirmed defect beans best when every fifth of them, in the order confirmed, is
    left out of the fit (ties: no traits); traits standardised on all confirmed defect beans."""
    defects = own_labels != NORMAL
    own, own_labels, t_own = own[defects], own_labels[defects], t_own[defects]
    fold = np.arange(len(own)) % folds
    scaler = StandardScaler().fit(t_own[:, COLOUR + SIZE])
    right = defaultdict(int)
    for f in range(folds):
        fit, held = fold != f, fold == f
        for alpha in alphas:
            xf = np.vstack([np.hstack([bundle, np.zeros((len(bundle), len(COLOUR + SIZE)))]),
                            np.hstack([own[fit], alpha * scaler.transform(t_own[fit][:, COLOUR + SIZE])])])
            yf = np.concatenate([bundle_labels, own_labels[fit]])
            wf = np.concatenate([np.ones(len(bundle)), np.full(fit.sum(), 3.0)])
            head = LogisticRegression(C=30, max_iter=5000).fit(xf, yf, sample_weight=wf)
            xq = np.hstack([own[held], alpha * scaler.transform(t_own[held][:, COLOUR + SIZE])])
            right[alpha] += int((head.predict(xq) == own_labels[held]).sum())
    return max(alphas, key=lambda a: (right[a], -a))


def main():
    dump, report = sys.argv[1], sys.argv[2]
    (rep, lumped, queries, truth, pool, pool_labels, labels_pool, bundle, bundle_labels, labels_bundle, db,
     draws) = gw.replay_inputs(sys.argv)
    found = traits_of(dump, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    rows = [json.loads(line) for line in open(dump)]

    def of(pool_name):
        return np.array([found[r["path"]] for r in rows if r["pool"] == pool_name])

    t_query, t_pool, t_bundle = of("eval"), of("reference"), of("bundle")
    threshold, k = rep["threshold"], rep["k"]
    kinds = {"colour and size": COLOUR + SIZE, "colour": COLOUR, "size": SIZE}
    print(f"{rep['camera']}: {len(queries)} photos, pool {len(pool)}, k {k}, threshold {threshold:.2f}, {draws} draws")
    for n in (5, 10):
        table = defaultdict(list)
        for seed in range(draws):
            picks = cw.draw(pool_labels, n, True, seed)
            own, own_labels, t_own = pool[picks], labels_pool[picks], t_pool[picks]
            _, _, unknown = gw.knn(db, cw.distances(queries, own), list(bundle_labels) + list(own_labels),
                                   threshold, max(threshold, cw.spread(own)), k)
            x = np.concatenate([bundle, own])
            y = np.concatenate([labels_bundle, own_labels])
            w = np.concatenate([np.ones(len(bundle)), np.full(len(own), 3.0)])
            t_fit = np.concatenate([t_bundle, t_own])
            from_bundle = np.arange(len(x)) < len(bundle)
            is_normal = None
            if not lumped and (own_labels == NORMAL).any():  # the page's gate decides Normal first
                gate = LogisticRegression(C=10, max_iter=5000, class_weight="balanced")
                is_normal = gate.fit(x, y == NORMAL, sample_weight=w).predict(queries)

            def fit_and_label(columns, alpha, bundle_traits):
                xq, xf = queries, x
                if columns:
                    mine = StandardScaler().fit(t_own[:, columns])
                    theirs = StandardScaler().fit(t_bundle[:, columns])
                    scaled = mine.transform(t_fit[:, columns])
                    scaled[from_bundle] = theirs.transform(t_bundle[:, columns]) if bundle_traits else 0.0
                    xf = np.hstack([x, alpha * scaled])
                    xq = np.hstack([queries, alpha * mine.transform(t_query[:, columns])])
                if lumped:
                    gate = LogisticRegression(C=10, max_iter=5000, class_weight="balanced")
                    gate.fit(xf, y == NORMAL, sample_weight=w)
                    named = np.where(gate.predict(xq), NORMAL, "Defect")
                else:
                    defects = y != NORMAL
                    head = LogisticRegression(C=30, max_iter=5000)
                    head.fit(xf[defects], y[defects], sample_weight=w[defects])
                    named = head.predict(xq)
                    if is_normal is not None:
                        named = np.where(is_normal, NORMAL, named)
                named = np.array(named, dtype=object)
                named[unknown] = "Defect" if lumped else None
                f1, balanced = cw.score(truth, list(named))
                return f1, balanced or 0.0

            table["no traits (the page)"].append(fit_and_label([], 0, False))
            if not lumped:  # one kind of defect: no head to choose for
                chosen = choose_alpha(own, own_labels, t_own, bundle[labels_bundle != NORMAL],
                                      labels_bundle[labels_bundle != NORMAL])
                table["colour and size, a chosen on mine"].append(
                    fit_and_label(COLOUR + SIZE, chosen, False) if chosen else fit_and_label([], 0, False))
            for name, columns in kinds.items():
                for alpha in (0.1, 0.2):
                    table[f"{name}, bundle 0, a {alpha}"].append(fit_and_label(columns, alpha, False))
            for alpha in (0.1, 0.2):
                table[f"colour and size, bundle own, a {alpha}"].append(fit_and_label(COLOUR + SIZE, alpha, True))
        for name, figures in table.items():
            m, s = np.mean(figures, 0), np.std(figures, 0)
            print(f"+ {n:2} per class  {name:38}  macro-F1 {m[0]:.3f} ± {s[0]:.3f}  balanced {m[1]:.3f} ± {s[1]:.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
