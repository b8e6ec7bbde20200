"""Mean ± sd over seeds of the 200-bean runs' val figures (bench/pretrained.sh writes the inputs):
kNN over the 200 beans' photos (k 1 / 5 / 10, every photo a reference) and the cosine-softmax
classifier itself, for each loss. Prints a markdown table.
    python3 bench/pretrained-table.py bench/results/pretrained
"""
import glob, json, os, re, statistics, sys

out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, '200-*-*-knn-val.json'))):
    loss, seed = re.match(r'200-(\w+)-(\d+)-knn-val\.json', os.path.basename(path)).groups()
    for r in json.load(open(path)):
        if r['method'] == 'knn' and r['refs_per_class'] != 0:
            continue
        name = 'softmax' if r['method'] == 'softmax' else f"kNN k {r['k']}"
        rows.setdefault((loss, name), []).append((r['macro_f1'], r['normal_vs_defect']['balanced_accuracy'], r['accuracy']))

def cell(values):
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'

print('| 200 beans, loss | labelled by | seeds | macro-F1 | N-vs-D balanced accuracy | accuracy |')
print('| --- | --- | --- | --- | --- | --- |')
for (loss, name), v in sorted(rows.items()):
    if loss == 'triplet' and name == 'softmax':
        continue  # the class directions are not trained by the triplet loss
    cols = list(zip(*v))
    print(f'| {loss} | {name} | {len(v)} | {cell(cols[0])} | {cell(cols[1])} | {cell(cols[2])} |')
