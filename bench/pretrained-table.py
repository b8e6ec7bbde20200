"""Mean ± sd over seeds of the 200-bean runs' val figures (bench/pretrained.sh writes the inputs):
kNN over the 200 beans' photos (k 1 / 5 / 10, every photo a reference) and the cosine-softmax
classifier itself, for each loss, with the yardsticks. Prints a markdown table.
    python3 bench/pretrained-table.py bench/results/pretrained
The table itself is made by bench/tables.py (table "200-beans"), which also keeps the copy in
docs/results.md up to date.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables  # noqa: E402  (bench/tables.py)

if __name__ == '__main__':
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tables.ROOT, tables.BEANS_200)
    try:
        print(tables.t_200_beans(os.path.abspath(folder)))
    except tables.Missing as e:
        sys.exit(f'no 200-bean results: {e} is missing')
