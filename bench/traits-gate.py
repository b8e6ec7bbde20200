#!/usr/bin/env python3
"""Could colour and size alone tell Normal from a defect on a camera beanscan never saw, before
any bean is confirmed? (docs/results.md, "Recipes measured and not shipped".) The traits of
`bench/bean-traits.py` (the bean's colour against the photo's background, its size and shape)
are read from every greencoffee, USK and Thai photo; a logistic regression (classes weighed
alike) is fitted on the `train` photos of every camera but one and scored on the `val` photos of
the one left out, as Normal-vs-defect balanced accuracy. Thai has no Normal beans: it only adds
defects. "In its own camera" fits on the left-out camera's own `train` photos: what the traits
carry where they need not travel. Each camera's traits standardised on its own photos
(unlabelled) is the second table. Needs numpy, scikit-learn and Pillow.

  bench/traits-gate.py [DATA_ROOT]     # default ../shared/data; traits cached in /tmp per root
"""
import csv
import importlib.util
import json
import os
import sys
import zlib
from multiprocessing import Pool

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

_spec = importlib.util.spec_from_file_location("bt", os.path.join(os.path.dirname(__file__), "bean-traits.py"))
bt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bt)

KINDS = {"colour and size": bt.COLOUR + bt.SIZE, "colour": bt.COLOUR, "lightness": list(range(5)), "size": bt.SIZE}
SCORED = ("usk", "r1", "r2")
CAMERAS = ("r1", "r2", "usk", "thai")


def photos(root):
    """(camera, split, label, path) of every labelled photo."""
    out = []
    for r in csv.DictReader(open(f"{root}/greencoffee/manifest.csv")):
        if r["label"] == "Normal" or r["label_applies"] == "1":
            out.append((r["round"], r["split"], r["label"], f"{root}/greencoffee/{r['path']}"))
    for camera in ("usk", "thai"):
        for r in csv.DictReader(open(f"{root}/{camera}/manifest.csv")):
            out.append((camera, r["split"], r["label"], f"{root}/{camera}/{r['path']}"))
    return out


def read_traits(path):  # a function of this module, so the pool's workers can be handed it
    return bt.traits(path)


def traits_of(rows, root):
    """Every photo's traits, cached in /tmp per data root."""
    cache = f"/tmp/beanscan-traits-gate-{zlib.crc32(os.path.abspath(root).encode()):08x}.json"
    if os.path.exists(cache):
        return np.array(json.load(open(cache)))
    with Pool(os.cpu_count()) as pool:
        found = pool.map(read_traits, [r[3] for r in rows], chunksize=64)
    json.dump(found, open(cache, "w"))
    return np.array(found)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    rows = photos(root)
    x = traits_of(rows, root)
    camera = np.array([r[0] for r in rows])
    split = np.array([r[1] for r in rows])
    defect = np.array([r[2] != "Normal" for r in rows])

    def balanced(fit_on, left_out, columns, xs):
        fit = np.isin(camera, fit_on) & (split == "train")
        test = (camera == left_out) & (split == "val")
        scaler = StandardScaler().fit(xs[fit][:, columns])
        model = LogisticRegression(C=1, max_iter=5000, class_weight="balanced")
        model.fit(scaler.transform(xs[fit][:, columns]), defect[fit])
        return balanced_accuracy_score(defect[test], model.predict(scaler.transform(xs[test][:, columns])))

    centred = x.copy()
    for c in CAMERAS:
        mine = camera == c
        centred[mine] = (x[mine] - x[mine].mean(0)) / (x[mine].std(0) + 1e-9)
    print(f"{len(rows)} photos; Normal-vs-defect balanced accuracy on the left-out camera's val photos")
    for title, xs in (("traits as read", x), ("each camera standardised on itself", centred)):
        print(f"\n{title}")
        print("| left out | " + " | ".join(KINDS) + " | in its own camera (colour and size) |")
        print("| --- " * (len(KINDS) + 2) + "|")
        for left_out in SCORED:
            others = [c for c in CAMERAS if c != left_out]
            figures = [balanced(others, left_out, columns, xs) for columns in KINDS.values()]
            own = balanced([left_out], left_out, KINDS["colour and size"], xs)
            print(f"| {left_out} | " + " | ".join(f"{f:.3f}" for f in figures) + f" | {own:.3f} |")


if __name__ == "__main__":
    main()
