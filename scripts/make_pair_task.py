#!/usr/bin/env python3
"""Builds a sentence-pair task from SST-2, to exercise pair support on real text with no pair data
at hand: each row pairs two SST-2 rows and asks whether they carry the same sentiment.

    python3 scripts/make_pair_task.py --sst2 ../shared/data/sst2 --out /tmp/sst2-pairs

Writes OUT/train.tsv (pairs of training rows) and OUT/dev.tsv (each dev sentence paired with another
dev sentence), with the header sentence1<TAB>sentence2<TAB>label and labels "same" / "different".
Neither text alone says anything about the label. Nothing is tuned on it; it is for checking that
the pipeline reads, trains and evaluates pairs end to end.
"""

import argparse
import random
from pathlib import Path


def rows(path):
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    return [tuple(line.split("\t")) for line in lines[1:] if line.strip()]


def pairs(source, count, rng):
    out = []
    for _ in range(count):
        (a, la), (b, lb) = rng.sample(source, 2)
        out.append(f"{a}\t{b}\t{'same' if la == lb else 'different'}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sst2", default="../shared/data/sst2", help="folder with train.tsv and dev.tsv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train-pairs", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = "sentence1\tsentence2\tlabel"
    train = pairs(rows(Path(args.sst2) / "train.tsv"), args.train_pairs, rng)
    dev_rows = rows(Path(args.sst2) / "dev.tsv")
    partners = list(range(len(dev_rows)))
    rng.shuffle(partners)
    dev = [f"{a}\t{dev_rows[j][0]}\t{'same' if la == dev_rows[j][1] else 'different'}"
           for (a, la), j in zip(dev_rows, partners) if dev_rows[j][0] != a]
    (out / "train.tsv").write_text("\n".join([header] + train) + "\n", encoding="utf-8")
    (out / "dev.tsv").write_text("\n".join([header] + dev) + "\n", encoding="utf-8")
    print(f"wrote {len(train)} training and {len(dev)} dev pairs to {out}")


if __name__ == "__main__":
    main()
