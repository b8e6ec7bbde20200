#!/usr/bin/env python3
"""Why tray labels stay low: how far the shipped embedding can carry tray beans across dates.

    beanscan eval-trays --data ../shared/data/trays --shots 0 --beans runs/tray-beans.json
    python3 bench/tray-study.py runs/tray-beans.json --trays ../shared/data/trays \
        --json bench/results/tray-study.json

Reads every matched tray bean's embedding (`eval-trays --beans`) and, over the same date split as
`eval-trays --shots` (each date held out in turn, N tray references per class drawn per seed from
the other dates), compares vote rules on identical draws:
  - the bundle's references plus the tray references, k-nearest vote (what the page does);
  - the tray references alone, k-nearest vote;
  - the tray references alone, nearest class mean.
The ceiling: a class-balanced logistic regression trained on *every* bean of the other dates,
per held-out date; no vote over a few references should beat it. Also the beans' median size in
pixels per date (from the polygons), the plainest difference between the dates.
Needs numpy and scikit-learn (`pip install numpy scikit-learn`). Accuracy is over the beans of
classes the bundle knows, as in `eval-trays`; the draws differ from beanscan's own, so compare
rows of this study with each other.
"""
import argparse
import glob
import json
import os
import statistics

import numpy as np
from sklearn.linear_model import LogisticRegression


def distances(queries, refs):
    # Euclidean distance between L2-normalised embeddings, as the index measures it.
    return np.sqrt(np.maximum(2.0 - 2.0 * queries @ refs.T, 0.0))


def knn_vote(queries, refs, labels, k):
    """Majority of the k nearest; ties go to the class with the smaller summed distance."""
    d = distances(queries, refs)
    nearest = np.argsort(d, axis=1)[:, :k]
    out = []
    for row, ids in zip(d, nearest):
        tally = {}
        for j in ids:
            n, s = tally.get(labels[j], (0, 0.0))
            tally[labels[j]] = (n + 1, s + row[j])
        out.append(max(tally.items(), key=lambda kv: (kv[1][0], -kv[1][1]))[0])
    return np.array(out)


def class_means(queries, refs, labels):
    classes = sorted(set(labels.tolist()))
    means = np.stack([refs[labels == c].mean(0) for c in classes])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return np.array(classes)[np.argmax(queries @ means.T, axis=1)]


RULES = {
    'bundle + tray references, k 5 (the page)': (True, lambda q, r, l: knn_vote(q, r, l, 5)),
    'tray references only, k 5': (False, lambda q, r, l: knn_vote(q, r, l, 5)),
    'tray references only, k 10': (False, lambda q, r, l: knn_vote(q, r, l, 10)),
    'tray references only, nearest class mean': (False, class_means),
}


def bean_sizes(trays_dir):
    """Median long side of the beans' polygon boxes, in pixels, per date."""
    sizes = {}
    for path in glob.glob(os.path.join(trays_dir, '**', '*.json'), recursive=True):
        date = os.path.basename(path)[:8]
        if not date.isdigit():
            continue
        with open(path) as f:
            for bean in json.load(f):
                xs = [p[0] for p in bean['points']]
                ys = [p[1] for p in bean['points']]
                sizes.setdefault(date, []).append(max(max(xs) - min(xs), max(ys) - min(ys)))
    return {d: round(statistics.median(v), 1) for d, v in sorted(sizes.items())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('beans', help='the file written by `beanscan eval-trays --beans`')
    ap.add_argument('--trays', help='the tray folder, for the beans\' sizes per date')
    ap.add_argument('--shots', default='5,10,20,50')
    ap.add_argument('--seeds', type=int, default=5)
    ap.add_argument('--json', help='write the figures here')
    args = ap.parse_args()

    with open(args.beans) as f:
        data = json.load(f)
    known = sorted({r['label'] for r in data['references']})
    classes = sorted(set(known) | {b['label'] for b in data['beans']})
    index = {c: i for i, c in enumerate(classes)}
    refs = np.array([r['embedding'] for r in data['references']], dtype=np.float32)
    ref_labels = np.array([index[r['label']] for r in data['references']])
    beans = np.array([b['embedding'] for b in data['beans']], dtype=np.float32)
    labels = np.array([index[b['label']] for b in data['beans']])
    dates = np.array([b['date'] for b in data['beans']])
    is_known = np.isin(labels, [index[c] for c in known])
    folds = sorted(set(dates.tolist()))

    rules = []
    for shots in [int(s) for s in args.shots.split(',')]:
        results = {name: {'per_seed': [], 'right': dict.fromkeys(folds, 0)} for name in RULES}
        totals = dict.fromkeys(folds, 0)
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            right = dict.fromkeys(RULES, 0)
            for fold in folds:
                pool = np.where(dates != fold)[0]
                test = np.where((dates == fold) & is_known)[0]
                added = np.concatenate([rng.permutation(pool[labels[pool] == c])[:shots]
                                        for c in sorted(set(labels[pool].tolist()))])
                totals[fold] += len(test)
                for name, (with_bundle, rule) in RULES.items():
                    r = np.concatenate([refs, beans[added]]) if with_bundle else beans[added]
                    l = np.concatenate([ref_labels, labels[added]]) if with_bundle else labels[added]
                    n = int((rule(beans[test], r, l) == labels[test]).sum())
                    right[name] += n
                    results[name]['right'][fold] += n
            for name in RULES:
                results[name]['per_seed'].append(right[name] / int(is_known.sum()))  # each date is held out once
        for name, r in results.items():
            rules.append({
                'rule': name, 'shots': shots,
                'mean': statistics.mean(r['per_seed']),
                'sd': statistics.stdev(r['per_seed']) if len(r['per_seed']) > 1 else 0.0,
                'per_date': {f: r['right'][f] / totals[f] for f in folds},
            })
            print(f"{shots:>3} per class  {name:<44} {rules[-1]['mean']:.3f} ± {rules[-1]['sd']:.3f}  "
                  + '  '.join(f'{f}: {v:.3f}' for f, v in rules[-1]['per_date'].items()))

    probe, right, total = {}, 0, 0
    for fold in folds:
        train, test = dates != fold, (dates == fold) & is_known
        model = LogisticRegression(max_iter=3000, class_weight='balanced').fit(beans[train], labels[train])
        n = int((model.predict(beans[test]) == labels[test]).sum())
        probe[fold] = n / int(test.sum())
        right, total = right + n, total + int(test.sum())
    print('ceiling: logistic regression on every bean of the other dates: '
          + '  '.join(f'{f}: {v:.3f}' for f, v in probe.items()) + f'  pooled {right / total:.3f}')
    beans_per_date = {f: {c: int(((dates == f) & (labels == index[c])).sum()) for c in classes} for f in folds}
    sizes = bean_sizes(args.trays) if args.trays else None
    if sizes:
        print('median bean size (px, long side of the polygon box) per date:', sizes)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'beans_file': os.path.basename(args.beans), 'bundle': data.get('bundle'),
                       'seeds': args.seeds, 'folds': folds, 'beans_per_date': beans_per_date,
                       'rules': rules, 'probe_per_date': probe, 'probe_pooled': right / total,
                       'bean_px_per_date': sizes}, f, indent=1)
            f.write('\n')


if __name__ == '__main__':
    main()
