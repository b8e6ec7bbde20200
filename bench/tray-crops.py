"""The annotated beans of the tray photos as single-bean photos with a manifest, for training an
encoder on tray beans of some sessions and labelling another (docs/results.md, "Why 10 tray
references per class stay far from 0.50"). Each bean is cut as the tray pipeline cuts a found
bean (`Found::square`: the square of its box's longer side plus 20 %, kept inside the photo),
from its annotated polygon, and saved losslessly (PNG). Beans of photos whose name starts with
HELD go to split "val", the rest to "train". Needs Pillow.

    python3 bench/tray-crops.py ../shared/data/trays OUT_DIR HELD    # HELD: a date, e.g. 20210212

then `beanscan tune --data OUT_DIR --eval-split val …` trains on the other dates' beans and labels
HELD's. The crops are derived photos: keep them out of the repository.

    python3 bench/tray-crops.py ../shared/data/trays OUT_DIR HELD --with ../shared/data/greencoffee

adds the single-bean photos of that data set (linked as OUT_DIR/greencoffee, its rows and splits
kept): one data set to train one encoder on both cameras. HELD's beans then go to split "held",
so `--eval-split val` is the single-bean val; HELD may be "none" (every tray bean trains).
"""
import glob
import json
import os
import sys

from PIL import Image


def square(points, width, height):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x, y = int(min(xs)), int(min(ys))
    w, h = int(max(xs)) - x + 1, int(max(ys)) - y + 1
    side = max(1, min(round(max(w, h) * 1.2), width, height))
    cx, cy = x + w / 2, y + h / 2
    left = int(min(max(round(cx - side / 2), 0), width - side))
    top = int(min(max(round(cy - side / 2), 0), height - side))
    return left, top, side


def main():
    if len(sys.argv) not in (4, 6) or (len(sys.argv) == 6 and sys.argv[4] != '--with'):
        sys.exit(__doc__)
    trays, out, held = sys.argv[1:4]
    single = sys.argv[5] if len(sys.argv) == 6 else None
    held_split = 'held' if single else 'val'
    rows = ['path,label,round,bean,face,label_applies,split']
    for photo in sorted(glob.glob(os.path.join(trays, '*', '*.jpg'))):
        folder, name = os.path.basename(os.path.dirname(photo)), os.path.basename(photo)[:-4]
        image = Image.open(photo).convert('RGB')
        with open(photo[:-4] + '.json', encoding='utf-8') as f:
            beans = json.load(f)
        for i, bean in enumerate(beans):
            left, top, side = square(bean['points'], *image.size)
            rel = f'{folder}/{name}_{i:03d}.png'
            os.makedirs(os.path.join(out, folder), exist_ok=True)
            image.crop((left, top, left + side, top + side)).save(os.path.join(out, rel))
            split = held_split if name.startswith(held) else 'train'
            rows.append(f'{rel},{bean["label"]},{name[:8]},{name}_{i:03d},U,1,{split}')
    # Counted before the single-bean rows join: beans.json is about the trays.
    tray_rows = rows[1:]
    if single:
        link = os.path.join(out, 'greencoffee')
        if not os.path.islink(link):
            os.symlink(os.path.abspath(single), link)
        with open(os.path.join(single, 'manifest.csv'), encoding='utf-8') as f:
            header, *lines = f.read().splitlines()
        columns = header.split(',')
        assert columns == rows[0].split(','), f'{single}/manifest.csv: columns {columns}'
        rows += [f'greencoffee/{line}' for line in lines if line.strip()]
    with open(os.path.join(out, 'manifest.csv'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(rows) + '\n')
    # Beans per date and class, for the tables (bench/tables.py pools the dates by bean).
    counts = {}
    for row in tray_rows:
        _, label, date, *_ = row.split(',')
        counts.setdefault(date, {}).setdefault(label, 0)
        counts[date][label] += 1
    with open(os.path.join(out, 'beans.json'), 'w', encoding='utf-8') as f:
        json.dump(counts, f, indent=1, sort_keys=True)
    print(f'{len(tray_rows)} tray beans, {len(rows) - 1 - len(tray_rows)} single-bean photos → {out}')


if __name__ == '__main__':
    main()
