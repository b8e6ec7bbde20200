"""Copies of the tray photos for the paper-white study (docs/results.md, "Why 10 tray references
per class stay far from 0.50"): every photo re-encoded as JPEG q95, once as it is (the control)
and once with each channel scaled so that the paper (the median of the brightest 40 % of the
pixels) reads TARGET. The 2021 session's paper is ≈ 220 against 176–212 in 2019: does evening
that out carry the embedding across sessions? Needs numpy and Pillow.

    python3 bench/tray-paper.py ../shared/data/trays OUT_DIR [--target 200]

writes OUT_DIR/ctrl and OUT_DIR/paper, each a tray folder (photos and their polygon files).
"""
import argparse
import glob
import os
import shutil

import numpy as np
from PIL import Image


def paper_level(rgb):
    grey = rgb.mean(axis=2)
    return np.median(rgb[grey > np.percentile(grey, 60)], axis=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('trays')
    ap.add_argument('out')
    ap.add_argument('--target', type=float, default=200.0)
    args = ap.parse_args()
    for path in sorted(glob.glob(os.path.join(args.trays, '*', '*.jpg'))):
        rel = os.path.relpath(path, args.trays)
        rgb = np.asarray(Image.open(path).convert('RGB')).astype(np.float64)
        scaled = np.clip(rgb * (args.target / paper_level(rgb)), 0, 255).round().astype(np.uint8)
        for kind, pixels in (('ctrl', rgb.astype(np.uint8)), ('paper', scaled)):
            dest = os.path.join(args.out, kind, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            Image.fromarray(pixels).save(dest, quality=95)
            shutil.copy(path[:-4] + '.json', dest[:-4] + '.json')


if __name__ == '__main__':
    main()
