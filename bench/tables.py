#!/usr/bin/env python3
"""Regenerates the tables of docs/results.md (and the headline table of README.md) from the
measurement files in bench/results/ and bundle/, so no figure there is copied by hand.

A table lives between two marker comments, on lines of their own:

    <!-- table:NAME -->
    ...generated lines, replaced on every run...
    <!-- /table:NAME -->

    python3 bench/tables.py              # rewrite every marked table in README.md and docs/results.md
    python3 bench/tables.py --check      # exit 1 (and name them) if any table is out of date
    python3 bench/tables.py --print NAME # print one table (no file is changed)
    python3 bench/tables.py --list       # the table names and the files each is made from

Python 3.8+, standard library only. A table whose input file is missing is left as it is, with
a warning (for instance bench/results/trays.json before `beanscan eval-trays` has been run).
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ['README.md', os.path.join('docs', 'results.md')]

# Yardsticks that no file in this repository measures: the supervised anchor, PyTorch
# EfficientNet-Lite0 fine-tuned end to end on greencoffee (../shared/notes/anchor/README.md).
ANCHOR = {'accuracy': 0.763, 'macro_f1': 0.692, 'nvd_f1': 0.971, 'balanced_accuracy': 0.945}
# The same anchor fine-tuned on 200 labelled beans only (softmax; same notes).
ANCHOR_200 = {'macro_f1': 0.460, 'balanced_accuracy': 0.835}
# Goals the figures are held against.
GOALS = {'macro_f1': '≥ 0.65', 'balanced_accuracy': '≥ 0.93', 'detection': '≥ 0.95',
         'count_error': '≤ 0.05', 'tray_accuracy_10': '≥ 0.50', 'macro_f1_200': '≥ 0.50'}

EVAL = 'bundle/default-eval-val.json'
# The greencoffee-only bundle shipped before (bench/pretrained.sh step 1a): the studies of views,
# k, seeds, cuts and trays start from it.
EVAL_BEFORE = 'bench/results/pretrained/greencoffee-only-eval-val.json'
SHIPPED_SEEDS = 'bench/results/pretrained/shipped{}-knn-val.json'
TRAYS_SHIPPED = 'bench/results/trays-shipped.json'
KNN = 'bench/results/pretrained/default-knn-val.json'
BEANS_200 = 'bench/results/pretrained'
VIEWS = 'bench/results/pretrained'
TRAYS = 'bench/results/trays.json'
TRAY_STUDY = 'bench/results/tray-study.json'
TRAY_SPLIT = 'bench/results/tray-split'
TRAY_MIXED = 'bench/results/tray-mixed'
TRAY_DATES = ['20190401', '20190403', '20210212']
TRAY_VOTERS = {('all', 5): TRAYS, ('all', 10): 'bench/results/trays-k10.json',
               ('added', 5): 'bench/results/trays-added-only-k5.json',
               ('added', 10): 'bench/results/trays-added-only-k10.json'}
BROWSER = 'bench/results/browser.json'
PEERS = 'bench/results/peers.json'
STUDY = 'bench/results/study-val.json'


class Missing(Exception):
    pass


def load(rel):
    path = os.path.join(ROOT, rel)
    if not os.path.exists(path):
        raise Missing(rel)
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def f3(x):
    return f'{x:.3f}'


def pct(x):
    return f'{100 * x:.1f} %' if x else '0 %'


def mean_sd(values):
    """`0.401 ± 0.018` over several values, the value alone for one."""
    if len(values) == 1:
        return f3(values[0])
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


def stored_mean_sd(m):
    """A {mean, sd, n} object as written by `beanscan study`."""
    return f3(m['mean']) if m['n'] <= 1 else f"{m['mean']:.3f} ± {m['sd']:.3f}"


def upper_median(values):
    """The median as bench/browser.mjs takes it (the upper middle value)."""
    s = sorted(values)
    return s[len(s) // 2]


def shipped_knn_row(rows):
    """The row of a `tune` kNN report in the bundle's setting: 32 references per class, k 5."""
    return next(r for r in rows if r['method'] == 'knn' and r['refs_per_class'] == 32 and r['k'] == 5)


def table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '| ' + ' | '.join('---' for _ in header) + ' |']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def always_normal(report):
    """What answering "Normal" for every photo scores on the photos of an eval report."""
    n = report['photos']
    normal = report['per_class'].get('Normal', {}).get('support', 0)
    precision = normal / n
    f1_normal = 2 * precision / (precision + 1) if normal else 0.0
    return {'accuracy': precision, 'macro_f1': f1_normal / len(report['per_class']),
            'nvd_f1': 0.0, 'balanced_accuracy': 0.5}


# ---------- the shipped bundle ----------

def t_headline():
    """README: the figures a user asks about first."""
    r = load(EVAL)
    t = load(TRAYS_SHIPPED)
    # The shipped recipe's own fold nets (bench/pretrained.sh step 3g), one per held-out date.
    folds = [fold_cells(f'{TRAY_MIXED}/tray-threshold-{date}')[::2] for date in TRAY_DATES]
    pooled, (normal, total) = pool_folds(folds)
    normal /= total
    base = always_normal(r)
    nvd = r['normal_vs_defect']
    d = t['detection']
    rows = [
        ['single beans: accuracy (the 11 classes of val)', f3(r['accuracy']), f3(base['accuracy']), f3(ANCHOR['accuracy'])],
        ['single beans: macro-F1', f3(r['macro_f1']), f3(base['macro_f1']), f3(ANCHOR['macro_f1'])],
        ['single beans: Normal vs defect, balanced accuracy', f3(nvd['balanced_accuracy']), '0.500',
         f3(ANCHOR['balanced_accuracy'])],
        ['trays: beans found (precision / recall)', f"{d['precision']:.3f} / {d['recall']:.3f}", '', ''],
        ['trays: count error per photo', f3(t['count_error']), '', ''],
        ['trays: bean accuracy on a session it never saw (alone / + 10 references per class)',
         f"{f3(pooled['alone'])} / {f3(pooled[('date', 'all')])}", f3(normal), 'not measured'],
    ]
    return table(['figure', 'beanscan', 'always "Normal"', 'supervised anchor'], rows)


def t_shipped_seeds():
    """The shipped recipe's second run (greencoffee + every tray bean, from the same first run)
    with seeds 0–2: kNN on val, 32 references per class, k 5, no unknown threshold."""
    got = []
    for seed, suffix in enumerate(['', '-s1', '-s2']):
        try:
            r = shipped_knn_row(load(SHIPPED_SEEDS.format(suffix)))
        except Missing:
            continue
        got.append((seed, r['macro_f1'], r['normal_vs_defect']['balanced_accuracy']))
    if not got:
        raise Missing(SHIPPED_SEEDS.format(''))
    out = [[f"{s}{' (shipped)' if s == 0 else ''}", f3(m), f3(b)] for s, m, b in got]
    if len(got) > 1:
        out.append(['mean ± sd', mean_sd([g[1] for g in got]), mean_sd([g[2] for g in got])])
    out.append(['goal', GOALS['macro_f1'], GOALS['balanced_accuracy']])
    out.append(['always "Normal" (yardstick)', '0.033', '0.500'])
    out.append(['supervised anchor (yardstick)', f3(ANCHOR['macro_f1']), f3(ANCHOR['balanced_accuracy'])])
    return table(['seed', 'macro-F1', 'N-vs-D balanced accuracy'], out)


def t_shipped(path=EVAL, name='shipped bundle'):
    r = load(path)
    base = always_normal(r)
    nvd = r['normal_vs_defect']
    rows = [
        ['accuracy', f3(r['accuracy']), '', f3(base['accuracy']), f3(ANCHOR['accuracy'])],
        ['macro-F1', f"**{f3(r['macro_f1'])}**", GOALS['macro_f1'], f3(base['macro_f1']), f3(ANCHOR['macro_f1'])],
        ['Normal-vs-defect F1 (P / R)', f"{f3(nvd['f1'])} ({f3(nvd['precision'])} / {f3(nvd['recall'])})", '',
         f3(base['nvd_f1']), f3(ANCHOR['nvd_f1'])],
        ['Normal-vs-defect balanced accuracy', f"**{f3(nvd['balanced_accuracy'])}**", GOALS['balanced_accuracy'],
         f3(base['balanced_accuracy']), f3(ANCHOR['balanced_accuracy'])],
        ['MAP@R of the embeddings', f3(r['map_at_r']) if r.get('map_at_r') is not None else '', '', '', ''],
        ['flagged unknown', pct(r['unknown_rate']), '', '', ''],
    ]
    u = r.get('unknown')
    if u:
        rows.append(['flagged unknown with their own class left out of the references (as if nobody '
                     'had labelled it)', f"{pct(u['held_out_flagged'])} (AUROC {f3(u['held_out_auroc'])})", '', '', ''])
    title = f"{r.get('split') or 'all'}, {r['photos']:,} photos, k {r['k']}, threshold {r['threshold']:g}"
    return table([title, name, 'goal', 'always "Normal"', 'supervised anchor'], rows)


def t_per_class():
    r = load(EVAL)
    rows = [[name, s['support'], f3(s['precision']), f3(s['recall']), f3(s['f1'])]
            for name, s in sorted(r['per_class'].items(), key=lambda kv: -kv[1]['f1'])]
    rows.append(['**macro-F1**', f"{r['photos']:,}", '', '',
                 f"**{f3(r['macro_f1'])}** (always \"Normal\" {f3(always_normal(r)['macro_f1'])}, "
                 f"anchor {f3(ANCHOR['macro_f1'])})"])
    return table(['class', 'photos', 'precision', 'recall', 'F1'], rows)


def t_views():
    """Flips/turns averaged per photo: the same net (shipped weights), references and photos
    embedded with 1–8 views each (`convert --views`, `eval --views`)."""
    out = []
    files = sorted(glob.glob(os.path.join(ROOT, VIEWS, 'views-refs*-q*-val.json')))
    if not files:
        raise Missing(VIEWS + '/views-refs*-q*-val.json')
    shipped_views = load(EVAL_BEFORE).get('views', 1)
    for path in sorted(files, key=lambda p: tuple(int(n) for n in re.findall(r'refs(\d+)-q(\d+)', p)[0])):
        refs, q = (int(n) for n in re.findall(r'refs(\d+)-q(\d+)', path)[0])
        with open(path, encoding='utf-8') as f:
            r = json.load(f)
        label = f'{refs} / {q}'
        cells = [f3(r['macro_f1']), f3(r['normal_vs_defect']['balanced_accuracy']), f3(r['accuracy']), f3(r['map_at_r'])]
        if refs == q == shipped_views:
            label, cells = f'**{label}, shipped before**', [f'**{c}**' for c in cells]
        out.append([label] + cells + [q])
    out.append(['always "Normal" (yardstick)', '0.033', '0.500', '0.220', '', ''])
    out.append(['supervised anchor (yardstick)', f3(ANCHOR['macro_f1']), f3(ANCHOR['balanced_accuracy']),
                f3(ANCHOR['accuracy']), '', ''])
    return table(['views: references / photo', 'macro-F1', 'N-vs-D balanced accuracy', 'accuracy', 'MAP@R',
                  'network passes per photo'], out)


def t_seeds():
    """The shipped recipe with other seeds: 32 references per class, k 5, references and photos
    embedded with 1 or 8 views. Seed 0 is the shipped net (its `eval` reports); seeds 1 and 2
    are `tune --seed N` runs (their kNN reports, `--embed-views 1` and `8`)."""
    cells = {}
    for v in (1, 8):
        try:
            r = load(f'{VIEWS}/views-refs{v}-q{v}-val.json')
            cells[(0, v)] = (r['macro_f1'], r['normal_vs_defect']['balanced_accuracy'])
        except Missing:
            pass
    for path in glob.glob(os.path.join(ROOT, VIEWS, 'seed-*-e*-knn-val.json')):
        seed, v = (int(n) for n in re.findall(r'seed-(\d+)-e(\d+)-knn', path)[0])
        with open(path, encoding='utf-8') as f:
            r = shipped_knn_row(json.load(f))
            cells[(seed, v)] = (r['macro_f1'], r['normal_vs_defect']['balanced_accuracy'])
    if not cells:
        raise Missing(VIEWS + '/seed-*-e*-knn-val.json')
    seeds = sorted({s for s, _ in cells})
    fmt = lambda c: f'{f3(c[0])} / {f3(c[1])}' if c else ''
    out = [[f"{s}{' (shipped before)' if s == 0 else ''}", fmt(cells.get((s, 1))), fmt(cells.get((s, 8)))] for s in seeds]
    summary = ['mean ± sd']
    for v in (1, 8):
        got = [cells[(s, v)] for s in seeds if (s, v) in cells]
        summary.append(f'{mean_sd([g[0] for g in got])} / {mean_sd([g[1] for g in got])}' if len(got) > 1 else '')
    out.append(summary)
    out.append(['always "Normal" (yardstick)', '0.033 / 0.500', ''])
    out.append(['supervised anchor (yardstick)', f"{f3(ANCHOR['macro_f1'])} / {f3(ANCHOR['balanced_accuracy'])}", ''])
    return table(['seed', '1 view: macro-F1 / N-vs-D balanced accuracy', '8 views (shipped setting)'], out)


def t_knn():
    rows = load(KNN)
    cell = {}
    refs = {}
    softmax = None
    for r in rows:
        value = f"{f3(r['macro_f1'])} / {f3(r['normal_vs_defect']['balanced_accuracy'])}"
        if r['method'] == 'softmax':
            softmax = value
        else:
            cell[(r['refs_per_class'], r['k'])] = value
            refs[r['refs_per_class']] = r['references']
    ks = sorted({k for _, k in cell})
    order = sorted(refs, key=lambda n: (n == 0, n))  # 0 = every photo, last
    shipped = None
    try:
        ev = load(EVAL_BEFORE)
        m = re.search(r'(\d+) references', ev.get('bundle', ''))
        same_views = ev.get('views', 1) == (rows[0].get('views', 1) if rows else 1)
        shipped = (int(m.group(1)), ev['k']) if m and same_views else None
    except Missing:
        pass
    out = []
    for n in order:
        label = f"{'all' if n == 0 else n} ({refs[n]:,})"
        line = []
        for k in ks:
            v = cell.get((n, k), '')
            if shipped and refs[n] == shipped[0] and k == shipped[1]:
                v, label = f'**{v}**', f'**{label}, shipped before**'
            line.append(v)
        out.append([label] + line)
    if softmax:
        out.append(['the softmax itself (nearest class direction)'] + ['' if k != 5 else softmax for k in ks])
    out.append(['always "Normal" (yardstick)'] + ['' if k != 5 else '0.033 / 0.500' for k in ks])
    out.append(['supervised anchor (yardstick)'] + ['' if k != 5 else
                f"{f3(ANCHOR['macro_f1'])} / {f3(ANCHOR['balanced_accuracy'])}" for k in ks])
    return table(['references per class (photos)'] + [f'k {k}' for k in ks], out)


def t_200_beans(folder=None):
    """Mean ± sd over seeds of the 200-bean runs (bench/pretrained.sh step 2)."""
    folder = folder or os.path.join(ROOT, BEANS_200)
    paths = sorted(glob.glob(os.path.join(folder, '200-*-*-knn-val.json')))
    if not paths:
        raise Missing(os.path.join(BEANS_200, '200-*-*-knn-val.json'))
    runs = {}
    for path in paths:
        loss, draw, cut, size, adapted, aux, frozen, sl, st, variant, seed = re.match(
            r'200-(\w+?)(-bal)?(-b\d+)?(-i\d+)?(-adapt2?)?(-aux)?(-f\d+)?(-sl)?(-st)?(-v1|-e1)?-(\d+)-knn-val\.json', os.path.basename(path)).groups()
        # 200-LOSS-e1-SEED: references and photos embedded with one view (`--embed-views 1`);
        # 200-LOSS-v1-SEED: also trained on one cached view per photo (`--views 1`);
        # -bal: the beans drawn class by class (`--draw balanced`); -sl: a re-export of the
        # random-draw net with `--self-label` (its rows without them repeat 200-LOSS-SEED);
        # -fN: the first N blocks kept frozen (`--frozen N`; otherwise 5); -adapt: started from
        # the encoder adapted without labels (`--start`, bench/pretrained.sh step 2d); -adapt2:
        # from that adaptation continued for 600 more steps (step 2e); -aux: with the pair loss
        # on every train photo beside the labels (`--pairs-weight 1`); -bN: the network cut after
        # block N (`--blocks N`; otherwise 17); -st: trained again from the same start on the 200
        # beans plus the photos the -sl run self-labelled (`--pseudo-labels`, step 2k); -iN: input
        # N px (`--input-size N`; otherwise 128).
        note = {None: '', '-e1': ', `--embed-views 1`', '-v1': ', `--views 1 --embed-views 1`'}[variant]
        note += ', `--draw balanced`' if draw else ''
        note += f', `--blocks {cut[2:]}`' if cut else ''
        note += f', `--frozen {frozen[2:]}`' if frozen else ''
        note += f', `--input-size {size[2:]}`' if size else ''
        note += {None: '', '-adapt': ', adapted without labels first (`--start`)',
                 '-adapt2': ', adapted without labels first, 1,200 steps (`--start`)'}[adapted]
        note += ', + pair loss on every train photo (`--pairs-weight 1`)' if aux else ''
        note += ', self-trained: again on the 200 beans + 1,100 self-labelled photos (`--pseudo-labels`)' if st else ''
        with open(path, encoding='utf-8') as f:
            for r in json.load(f):
                if r['method'] == 'knn' and r['refs_per_class'] != 0:
                    continue  # every photo of the 200 beans is a reference
                if loss == 'triplet' and r['method'] == 'softmax':
                    continue  # the triplet loss trains no class directions
                added = r.get('self_labelled', 0)
                if sl and (r['method'] == 'softmax' or not added):
                    continue
                by = ('softmax', 0) if r['method'] == 'softmax' else ('kNN', r['k'])
                extra = ', + `--self-label 100`' if added else ''
                runs.setdefault((loss + note + extra, by), []).append(
                    (r['macro_f1'], r['normal_vs_defect']['balanced_accuracy'], r['accuracy']))
    rows = []
    for (loss, by), v in sorted(runs.items(), key=lambda kv: (kv[0][0].count('views'), kv[0][0], kv[0][1][0] == 'softmax', kv[0][1][1])):
        cols = list(zip(*v))
        name = 'softmax' if by[0] == 'softmax' else f'kNN k {by[1]}'
        rows.append([loss, name, len(v), mean_sd(cols[0]), mean_sd(cols[1]), mean_sd(cols[2])])
    rows.append(['always "Normal" (yardstick)', '', '', '0.033', '0.500', '0.220'])
    rows.append(['supervised anchor, 200 beans (yardstick)', 'softmax', 1, f3(ANCHOR_200['macro_f1']),
                 f3(ANCHOR_200['balanced_accuracy']), ''])
    rows.append(['supervised anchor, all labels (yardstick)', 'softmax', 1, f3(ANCHOR['macro_f1']),
                 f3(ANCHOR['balanced_accuracy']), f3(ANCHOR['accuracy'])])
    return table(['200 beans, loss', 'labelled by', 'seeds', 'macro-F1', 'N-vs-D balanced accuracy', 'accuracy'], rows)


def t_cut():
    """Where to cut the network: the shipped recipe (all labels) cut after block 14 (`tune
    --blocks 14`, bench/pretrained.sh step 2g; cut-14-knn-val.json is seed 0, cut-14-sN-… seed N)
    beside the shipped net (head conv kept; seed 0 from its eval, seeds 1–2 from their kNN
    reports): kNN k 5 over 32 references per class, 8 views; bundle bytes; browser CPU ms per
    photo."""
    accuracy = {17: [load(f'{VIEWS}/views-refs8-q8-val.json')]}
    for seed in (1, 2):
        try:
            accuracy[17].append(shipped_knn_row(load(f'{VIEWS}/seed-{seed}-e8-knn-val.json')))
        except Missing:
            pass
    for path in sorted(glob.glob(os.path.join(ROOT, VIEWS, 'cut-*-knn-val.json'))):
        blocks = int(re.findall(r'cut-(\d+)', os.path.basename(path))[0])
        with open(path, encoding='utf-8') as f:
            accuracy.setdefault(blocks, []).append(shipped_knn_row(json.load(f)))
    costs = {}
    for name in ('cut-bytes.jsonl', 'cut-bean-ms.jsonl'):
        path = os.path.join(ROOT, VIEWS, name)
        if not os.path.exists(path):
            raise Missing(f'{VIEWS}/{name}')
        with open(path, encoding='utf-8') as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    found = re.findall(r'cut-(\d+)', r['file'])
                    blocks = int(found[0]) if found else 17
                    costs.setdefault(blocks, {}).update(
                        {'bytes': r['bytes']} if 'bytes' in r else {f"ms{r['views']}": r['median_ms']})
    what = {17: 'block 16 + head conv (1280 ch), shipped before', 14: 'block 14 (192 ch), the shipped cut', 10: 'block 10 (112 ch)'}
    rows = []
    for blocks in sorted(accuracy, reverse=True):
        v, c = accuracy[blocks], costs.get(blocks, {})
        ms = lambda n: f"{c[f'ms{n}']:.1f}" if f'ms{n}' in c else ''
        rows.append([what[blocks], len(v), mean_sd([r['macro_f1'] for r in v]),
                     mean_sd([r['normal_vs_defect']['balanced_accuracy'] for r in v]),
                     f"{c['bytes']:,}" if 'bytes' in c else '', ms(1), ms(8)])
    rows.append(['always "Normal" (yardstick)', '', '0.033', '0.500', '', '', ''])
    rows.append(['supervised anchor (yardstick)', 1, f3(ANCHOR['macro_f1']), f3(ANCHOR['balanced_accuracy']), '', '', ''])
    return table(['network cut after', 'seeds', 'macro-F1', 'N-vs-D balanced accuracy', 'bundle bytes (int8)',
                  'ms per photo, browser CPU, 1 view', 'ms per photo, 8 views'], rows)


# ---------- trays ----------

def known_classes():
    try:
        return [c for c in load(EVAL_BEFORE)['confusion']['classes'] if c != 'unknown']
    except Missing:
        return None


def t_trays():
    t = load(TRAYS)
    d = t['detection']
    lab = t['labelling']
    known = known_classes()
    found = d['true_positives'] + d['false_positives']
    annotated = d['true_positives'] + d['false_negatives']
    worst = max((p['count_error'] for p in t['photos']), default=0.0)
    shots = {s['shots']: s for s in t['date_split']}
    rows = [
        ['detection precision @ IoU ' + f"{d['iou_threshold']:g}",
         f"**{f3(d['precision'])}** ({d['true_positives']:,} of {found:,} found)", GOALS['detection']],
        ['detection recall @ IoU ' + f"{d['iou_threshold']:g}",
         f"**{f3(d['recall'])}** ({d['true_positives']:,} of {annotated:,} annotated)", GOALS['detection']],
        ['mean IoU of matches', f3(d['mean_iou']), ''],
        ['count error (mean over photos)', f"**{f3(t['count_error'])}** (worst photo {f3(worst)})", GOALS['count_error']],
        ['bean accuracy, bundle only', f"**{f3(t['bean_accuracy'])}** ({pct(lab['unknown_rate'])} flagged unknown)", ''],
    ]
    for n in sorted(s for s in shots if s > 0):
        s = shots[n]
        value = s.get('not_run') or (f"{f3(s['accuracy_mean'])} ± {f3(s['accuracy_sd'])}")
        goal = GOALS['tray_accuracy_10'] if n == max(shots) else ''
        rows.append([f"bean accuracy, + {n} tray references per class (date split, {s['seeds']} seeds)", value, goal])
    if known is not None:
        new = [c for c in lab['per_class'] if c not in known]
        if new:
            beans = sum(lab['per_class'][c]['beans'] for c in new)
            unknown = sum(lab['per_class'][c]['unknown'] for c in new)
            rows.append([f"{', '.join(new)} (not in the bundle): flagged unknown, bundle only",
                         pct(unknown / beans if beans else 0), ''])
            recall = [f"{f3(shots[n]['new_class_recall_mean'])} ± {f3(shots[n]['new_class_recall_sd'])}"
                      for n in sorted(shots) if n > 0 and shots[n].get('new_class_recall_mean') is not None]
            if recall:
                rows.append([f"{', '.join(new)} recall, + " + ' / + '.join(str(n) for n in sorted(shots) if n > 0)
                             + ' references', ' / '.join(recall), ''])
    normal = lab['per_class'].get('Normal', {}).get('beans', 0)
    rows.append(['always "Normal" on these beans (yardstick)', f3(normal / lab['beans']) if lab['beans'] else '', ''])
    rows.append(['supervised anchor (yardstick)', 'not measured on trays (val: '
                 f"{f3(ANCHOR['accuracy'])})", ''])
    return table(['figure', 'measured', 'goal'], rows)


def t_tray_classes():
    t = load(TRAYS)
    known = known_classes() or []
    rows = []
    for name, c in sorted(t['labelling']['per_class'].items(), key=lambda kv: -kv[1]['beans']):
        top = sorted(c['labelled_as'].items(), key=lambda kv: -kv[1])[:3]
        right = f"{c['correct']} ({c['correct'] / c['beans']:.0%})" if c['beans'] else '0'
        rows.append([name + ('' if not known or name in known else ' (not in the bundle)'), c['beans'], right,
                     ', '.join(f'{label} {n}' for label, n in top), c['unknown']])
    return table(['true class', 'beans found', 'labelled right', 'most often labelled as', 'unknown'], rows)


def t_tray_study():
    t = load(TRAY_STUDY)
    shots = sorted({r['shots'] for r in t['rules']})
    rows = []
    for rule in dict.fromkeys(r['rule'] for r in t['rules']):
        by = {r['shots']: r for r in t['rules'] if r['rule'] == rule}
        rows.append([rule] + [f"{f3(by[n]['mean'])} ± {f3(by[n]['sd'])}" if n in by else '' for n in shots])
    return table(['vote rule (date split, %d seeds)' % t['seeds']] + [f'+ {n} per class' for n in shots], rows)


def t_tray_dates():
    t = load(TRAY_STUDY)
    at = 10 if any(r['shots'] == 10 for r in t['rules']) else max(r['shots'] for r in t['rules'])
    rules = [r for r in t['rules'] if r['shots'] == at]
    rows = []
    for date in t['folds']:
        per_class = t['beans_per_date'][date]
        known = sum(n for c, n in per_class.items() if c != 'Parchment')
        normal = per_class.get('Normal', 0)
        rows.append([date, known, f3(normal / known) if known else '']
                    + [f3(r['per_date'][date]) for r in rules]
                    + [f3(t['probe_per_date'][date]), (t.get('bean_px_per_date') or {}).get(date, '')])
    counts = [t['beans_per_date'][d] for d in t['folds']]
    known = sum(n for c in counts for k, n in c.items() if k != 'Parchment')
    normal = sum(c.get('Normal', 0) for c in counts)
    rows.append(['all dates', known, f3(normal / known)] + [f"{f3(r['mean'])} ± {f3(r['sd'])}" for r in rules]
                + [f3(t['probe_pooled']), ''])
    return table(['held-out date', 'beans', 'always "Normal"'] + [f'{r["rule"]}, + {at}' for r in rules]
                 + ['ceiling (logistic regression)', 'median bean px'], rows)


TRAY_TRAINED = 'bench/results/tray-trained'


def t_tray_trained():
    """An encoder trained on the tray beans of the other dates (bench/pretrained.sh step 3d), per
    held-out date: bean accuracy of kNN over the trained-on beans (8 views), beside the shipped
    net's tray study (1 view, found beans, Parchment left out) on the same date."""
    beans = load(f'{TRAY_TRAINED}/beans.json')
    study = load(TRAY_STUDY)
    ref_rule = 'tray references only, k 10'
    ref = next((r for r in study['rules'] if r['rule'] == ref_rule and r['shots'] == 10), None)
    picks = [('knn', 8, 5), ('knn', 8, 10), ('knn', 16, 5), ('knn', 0, 5), ('softmax', None, None)]

    def pick(rows, method, refs, k):
        for r in rows:
            if r['method'] == method and (method == 'softmax' or (r['refs_per_class'] == refs and r['k'] == k)):
                return r
        return None

    out, pooled = [], {i: [0.0, 0] for i in range(len(picks))}
    normal_all = total_all = 0
    for date in sorted(beans):
        rows = load(f'{TRAY_TRAINED}/held-{date}-knn-val.json')
        n = sum(beans[date].values())
        normal = beans[date].get('Normal', 0)
        normal_all, total_all = normal_all + normal, total_all + n
        cells = []
        for i, p in enumerate(picks):
            r = pick(rows, *p)
            cells.append(f3(r['accuracy']) if r else '')
            if r:
                pooled[i][0] += r['accuracy'] * n
                pooled[i][1] += n
        first = pick(rows, *picks[0])
        out.append([date, n, f3(normal / n)] + cells + [f3(first['normal_vs_defect']['balanced_accuracy']),
                    f3(ref['per_date'][date]) if ref else '', f3(study['probe_per_date'][date])])
    out.append(['all dates (by bean)', total_all, f3(normal_all / total_all)]
               + [f3(a / n) if n == total_all else '' for a, n in pooled.values()]
               + ['', f3(ref['mean']) if ref else '', f3(study['probe_pooled'])])
    names = ['8 per class, k 5', '8 per class, k 10', '16 per class, k 5', 'all, k 5', 'its softmax']
    return table(['held-out date', 'beans', 'always "Normal"'] + [f'trained on the other dates: {m}' for m in names]
                 + ['N-vs-D balanced accuracy (8 per class, k 5)', f'greencoffee-only net: {ref_rule}, + 10',
                    'greencoffee-only net: ceiling (logistic regression)'], out)


def split_line(report, split, shots):
    return next((s for s in report['date_split'] if s.get('split', 'date') == split and s['shots'] == shots), None)


def per_date(line):
    """{date: (beans, accuracy)} of a study line, its folds pooled by date (a photo fold's path
    holds its file name, which starts with the date)."""
    out = {}
    for fold, n, acc in zip(line['folds'], line['fold_beans'], line['fold_accuracy']):
        date = re.search(r'(\d{8})[^/\\]*$', fold).group(1) if not re.fullmatch(r'\d{8}', fold) else fold
        beans, right = out.get(date, (0, 0.0))
        out[date] = (beans + n, right + acc * n)
    return {d: (n, right / n if n else 0.0) for d, (n, right) in out.items()}


def t_tray_split():
    """The shipped bundle with 10 tray references per class, drawn from other sessions (date split)
    or from the same session's other photos (photo split), per date and pooled."""
    runs = {'all': load(f'{TRAY_SPLIT}/shipped.json'), 'added': load(f'{TRAY_SPLIT}/shipped-added-only.json')}
    names = {('date', 'all'): "other sessions' beans (date split), all references vote (the page's default)",
             ('date', 'added'): "other sessions' beans (date split), my references only",
             ('photo', 'all'): "the same session's other photos (photo split), all references vote",
             ('photo', 'added'): "the same session's other photos (photo split), my references only"}
    dates = None
    rows = []
    for (split, who), name in names.items():
        line = split_line(runs[who], split, 10)
        by = per_date(line)
        dates = dates or sorted(by)
        rows.append([name] + [f3(by[d][1]) for d in dates]
                    + [f"**{f3(line['accuracy_mean'])} ± {f3(line['accuracy_sd'])}**" if split == 'photo'
                       else f"{f3(line['accuracy_mean'])} ± {f3(line['accuracy_sd'])}"])
    # Annotated beans per date and class; the matched beans of the bundle's classes are a few fewer.
    beans = load(f'{TRAY_MIXED}/beans.json')
    known = set(known_classes() or [])
    share = {d: (beans[d].get('Normal', 0), sum(n for c, n in beans[d].items() if not known or c in known)) for d in dates}
    rows.append(['always "Normal" (yardstick, annotated beans)'] + [f3(a / n) for a, n in share.values()]
                + [f3(sum(a for a, _ in share.values()) / sum(n for _, n in share.values()))])
    return table(['+ 10 tray references per class, 5 seeds'] + dates + ['all dates (goal ≥ 0.50)'], rows)


def mixed_rows(prefix):
    """Per held-out date of bench/pretrained.sh step 3f (`prefix` 'held': references drawn from
    the mix, 'gcrefs': from the single-bean photos only): (rows, pooled by bean, always-"Normal"
    share of the pooled beans). Pooled keys: 'shipped' (the greencoffee-only bundle by the date
    split, + 10), 'alone' (the fold's bundle alone) and (split, voters) with + 10 references."""
    before = {'all': load(f'{TRAY_SPLIT}/shipped.json'), 'added': load(f'{TRAY_SPLIT}/shipped-added-only.json')}
    pattern = os.path.join(ROOT, TRAY_MIXED, f'{prefix}-????????-trays.json')
    held = sorted(os.path.basename(p)[len(prefix) + 1:len(prefix) + 9] for p in glob.glob(pattern))
    if not held:
        raise Missing(f'{TRAY_MIXED}/{prefix}-*-trays.json')
    out, folds = [], []
    for date in held:
        val = shipped_knn_row(load(f'{TRAY_MIXED}/{prefix}-{date}-knn-val.json'))
        cells, n, normal = fold_cells(f'{TRAY_MIXED}/{prefix}-{date}-trays')
        # The greencoffee-only bundle lacks Parchment: its beans of a date are fewer.
        cells = {'shipped': per_date(split_line(before['all'], 'date', 10))[date][::-1], **cells}
        folds.append((cells, normal))
        out.append([date, n, f3(normal / n)] + [f3(cells[k][0]) for k in ['shipped', 'alone'] + MIXED_COLUMNS]
                   + [f"{f3(val['macro_f1'])} / {f3(val['normal_vs_defect']['balanced_accuracy'])}"])
    return (out,) + pool_folds(folds)


def fold_cells(stem):
    """One held-out date's eval-trays reports (STEM.json, all references voting, and
    STEM-added-only.json): ({'alone' or (split, voters): (accuracy, beans)}, beans, Normal beans),
    with + 10 references."""
    runs = {'all': load(f'{stem}.json'), 'added': load(f'{stem}-added-only.json')}
    lab = runs['all']['labelling']
    n = lab['beans']
    cells = {'alone': (runs['all']['bean_accuracy'], n)}
    for split, who in MIXED_COLUMNS:
        cells[(split, who)] = (split_line(runs[who], split, 10)['accuracy_mean'], n)
    return cells, n, lab['per_class'].get('Normal', {}).get('beans', 0)


def pool_folds(folds):
    """[(cells, Normal beans)] of fold_cells → (each cell pooled by bean, (Normal beans, beans))."""
    pooled = {}
    for cells, _ in folds:
        for key, (v, beans) in cells.items():
            right, total = pooled.get(key, (0.0, 0))
            pooled[key] = (right + v * beans, total + beans)
    total = sum(cells['alone'][1] for cells, _ in folds)
    return {k: a / n for k, (a, n) in pooled.items()}, (sum(normal for _, normal in folds), total)


MIXED_COLUMNS = [('date', 'all'), ('date', 'added'), ('photo', 'all'), ('photo', 'added')]


def t_tray_mixed(prefix='held'):
    """An encoder trained on greencoffee and the tray beans of two dates (bench/pretrained.sh step
    3f), per held-out date, beside the greencoffee-only bundle on the same date. `prefix` 'gcrefs':
    the same nets with references from the single-bean photos only (`tune --refs-rounds r1,r2`;
    the shipped recipe)."""
    out, pooled, (normal_all, total_all) = mixed_rows(prefix)
    out.append(['all dates (by bean)', total_all, f3(normal_all / total_all)]
               + [f"**{f3(v)}**" if k == ('date', 'all') else f3(v) for k, v in pooled.items()] + [''])
    return table(['held-out date', 'beans', 'always "Normal"', 'greencoffee-only bundle: date split, + 10 (the page)',
                  'trained with the other dates: bundle alone', '+ 10, date split (the page)',
                  '+ 10, date split, my references only', '+ 10, photo split (the page)',
                  '+ 10, photo split, my references only', 'val macro-F1 / N-vs-D balanced accuracy (k 5)'], out)


def t_tray_voters():
    runs = {key: load(path) for key, path in TRAY_VOTERS.items()}
    shots = sorted({s['shots'] for t in runs.values() for s in t['date_split'] if s['shots'] > 0})
    rows = []
    for (who, k), t in runs.items():
        by = {s['shots']: s for s in t['date_split']}
        name = ('all references' if who == 'all' else 'my references only') + f', k {k}'
        if (who, k) == ('all', 5):
            name += ' (the default)'
        cells = []
        for n in shots:
            s = by.get(n)
            cells.append(f"{f3(s['accuracy_mean'])} ± {f3(s['accuracy_sd'])}" if s and s.get('accuracy_mean') is not None else '')
        s = by.get(max(shots))
        cells.append(f"{f3(s['new_class_recall_mean'])} ± {f3(s['new_class_recall_sd'])}"
                     if s and s.get('new_class_recall_mean') is not None else '')
        rows.append([name] + cells)
    return table(['who votes'] + [f'+ {n} tray references per class' for n in shots]
                 + [f'Parchment recall, + {max(shots)}'], rows)


# ---------- the previous encoder ----------

def t_previous_study():
    s = load(STUDY)
    rows = []
    for g in s['summary']:
        method = g['method']
        if '8-view' in method or ('fine-tuned' in method and 'guard' not in method):
            continue  # test-time averaging and the other mining variants: see the study's own files
        rows.append([method, 'all' if g['labels'] is None else f"{g['labels']:,}", g['macro_f1']['n'],
                     stored_mean_sd(g['macro_f1']), stored_mean_sd(g['accuracy']),
                     stored_mean_sd(g['normal_vs_defect_f1'])])
    rows.append(['always "Normal" (yardstick)', '', '', '0.033', '0.220', '0.000'])
    rows.append(['supervised anchor, pretrained Lite0 (yardstick)', 'all', 1, f3(ANCHOR['macro_f1']),
                 f3(ANCHOR['accuracy']), f3(ANCHOR['nvd_f1'])])
    return table(['method (64 px from-scratch encoder)', 'labelled beans', 'seeds', 'macro-F1', 'accuracy',
                  'Normal-vs-defect F1'], rows)


def t_previous_browser():
    b = load(BROWSER)
    res = b['inPage']['results']

    def cell(engine, key, unit=''):
        v = res.get(engine, {}).get(key)
        if not v:
            return ['—', '']
        return [f'{upper_median(v):,.1f}{unit}', f'{min(v):,.1f}–{max(v):,.1f}']

    n1 = b['native']['threads1']
    n2 = b['native']['threads2']
    ratios = [w / n['embed_photo_ms'] for w, n in zip(res['beanscan cpu']['photo'], n1)]
    loads = b['loads']
    rows = [
        ['beanscan CPU, embed(photo): decode + preprocess + model'] + cell('beanscan cpu', 'photo'),
        ['beanscan CPU, embed(64 px PNG): the model alone'] + cell('beanscan cpu', 'small'),
        ['beanscan WebGPU (SwiftShader), embed(photo)'] + cell('beanscan webgpu', 'photo'),
        [f"onnxruntime-web {b.get('onnxruntimeWeb', '')} wasm EP (1 thread), on beanscan's input tensor"]
        + cell('ort wasm', 'small'),
        ['onnxruntime-web wasm EP (1 thread), canvas decode + resize + run'] + cell('ort wasm', 'photo'),
        ['onnxruntime-web webgpu EP (SwiftShader), canvas decode + resize + run'] + cell('ort webgpu', 'photo'),
        ['native CPU, 1 thread, embed(photo)', f"{upper_median([n['embed_photo_ms'] for n in n1]):.2f}", ''],
        ['native CPU, 2 threads, embed(photo)', f"{upper_median([n['embed_photo_ms'] for n in n2]):.2f}", ''],
        ['wasm ÷ native (1 thread), median of per-photo ratios', f'{upper_median(ratios):.1f}×', ''],
        ['page: navigation → status "ready"', f"{upper_median([l['ready'] for l in loads]):,}", ''],
        ['page: navigation → first label shown', f"{upper_median([l['label'] for l in loads]):,}", ''],
    ]
    return table([f"previous encoder, {len(b['photos'])} val photos (`node bench/browser.mjs`)", 'ms (median)',
                  'per-photo range'], rows)


def t_previous_peers():
    p = load(PEERS)
    m = p['median']
    s = p['settings']
    rows = [
        [f"autoencoder training step, batch {s['batch']}", f"{m['burn_train_ms']:.1f} ms",
         f"PyTorch: {m['torch_train_ms']:.1f} ms", f"{p['ratio_train']:.1f}×"],
        ["one photo's embedding (batch 1)", f"{m['burn_embed_ms']:.2f} ms", f"onnxruntime: {m['ort_embed_ms']:.2f} ms",
         f"{p['ratio_embed']:.1f}×"],
    ]
    return table([f"previous encoder ({s['size']} px, width {s['width']}), {p['threads']} threads, "
                  f"{s['rounds']} rounds", 'burn (flex CPU)', 'peer', 'burn ÷ peer'], rows)


TABLES = {
    'headline': (t_headline, [EVAL, TRAYS_SHIPPED, TRAY_MIXED + '/tray-threshold-*[-added-only].json']),
    'shipped': (t_shipped, [EVAL]),
    'shipped-before': (lambda: t_shipped(EVAL_BEFORE, 'greencoffee-only bundle, shipped before'), [EVAL_BEFORE]),
    'shipped-seeds': (t_shipped_seeds, [SHIPPED_SEEDS.format('[-sN]')]),
    'per-class': (t_per_class, [EVAL]),
    'knn': (t_knn, [KNN, EVAL_BEFORE]),
    'views': (t_views, [VIEWS + '/views-refs*-q*-val.json', EVAL_BEFORE]),
    'seeds': (t_seeds, [VIEWS + '/views-refs*-q*-val.json', VIEWS + '/seed-*-e*-knn-val.json']),
    '200-beans': (t_200_beans, [BEANS_200 + '/200-*-*-knn-val.json']),
    'cut': (t_cut, [VIEWS + '/cut-*-knn-val.json', VIEWS + '/cut-bytes.jsonl', VIEWS + '/cut-bean-ms.jsonl']),
    'trays': (t_trays, [TRAYS, EVAL_BEFORE]),
    'tray-classes': (t_tray_classes, [TRAYS, EVAL_BEFORE]),
    'tray-study': (t_tray_study, [TRAY_STUDY]),
    'tray-voters': (t_tray_voters, list(TRAY_VOTERS.values())),
    'tray-mixed-refs': (lambda: t_tray_mixed('gcrefs'), [TRAY_MIXED + '/gcrefs-*-trays[-added-only].json',
                                                         TRAY_MIXED + '/gcrefs-*-knn-val.json', TRAY_SPLIT + '/shipped.json']),
    'tray-split': (t_tray_split, [TRAY_SPLIT + '/shipped.json', TRAY_SPLIT + '/shipped-added-only.json',
                                  TRAY_MIXED + '/beans.json', EVAL_BEFORE]),
    'tray-mixed': (t_tray_mixed, [TRAY_MIXED + '/held-*-trays[-added-only].json', TRAY_MIXED + '/held-*-knn-val.json',
                                  TRAY_SPLIT + '/shipped.json']),
    'tray-dates': (t_tray_dates, [TRAY_STUDY]),
    'tray-trained': (t_tray_trained, [TRAY_TRAINED + '/held-*-knn-val.json', TRAY_TRAINED + '/beans.json', TRAY_STUDY]),
    'previous-study': (t_previous_study, [STUDY]),
    'previous-browser': (t_previous_browser, [BROWSER]),
    'previous-peers': (t_previous_peers, [PEERS]),
}

MARKED = re.compile(r'(<!-- table:([\w-]+) -->\n)(.*?)(<!-- /table:\2 -->)', re.S)


def render(text, where):
    """`text` with every marked table regenerated; the names of the tables that changed."""
    changed = []

    def one(m):
        name = m.group(2)
        if name not in TABLES:
            sys.exit(f'{where}: unknown table "{name}" (known: {", ".join(TABLES)})')
        try:
            body = TABLES[name][0]() + '\n'
        except Missing as e:
            print(f'warning: {where}: table "{name}" left as it is: {e} is missing', file=sys.stderr)
            return m.group(0)
        if body != m.group(3):
            changed.append(name)
        return m.group(1) + body + m.group(4)

    return MARKED.sub(one, text), changed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', action='store_true', help='change nothing; exit 1 if a table is out of date')
    ap.add_argument('--print', metavar='NAME', help='print one table')
    ap.add_argument('--list', action='store_true', help='list the tables and their input files')
    args = ap.parse_args()
    if args.list:
        for name, (_, inputs) in TABLES.items():
            print(f"{name:18} {', '.join(inputs)}")
        return 0
    if args.print:
        if args.print not in TABLES:
            sys.exit(f'unknown table "{args.print}" (known: {", ".join(TABLES)})')
        print(TABLES[args.print][0]())
        return 0
    stale = []
    for rel in DOCS:
        path = os.path.join(ROOT, rel)
        if not os.path.exists(path):
            continue
        with open(path, encoding='utf-8') as f:
            text = f.read()
        new, changed = render(text, rel)
        if changed:
            stale.append(f"{rel}: {', '.join(changed)}")
            if not args.check:
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(new)
    for line in stale:
        print(('out of date: ' if args.check else 'updated: ') + line)
    return 1 if args.check and stale else 0


if __name__ == '__main__':
    sys.exit(main())
