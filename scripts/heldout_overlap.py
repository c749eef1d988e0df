#!/usr/bin/env python3
"""How much of a validation set occurs verbatim inside the training rows (run by developers, not CI).

    python3 scripts/heldout_overlap.py --train ../shared/data/sst2/train.tsv [--eval ../shared/data/sst2/dev.tsv] \
        [--fraction 0.02] [--seed 0]

A held-out share of a phrase-level dataset such as SST-2 train (every sentence and its parse-tree
phrases are rows) is mostly phrases of sentences that stay in training, so held-out accuracy measures
memorisation as well as generalisation. This prints, for a seeded random held-out share of --train (about the
size of `edgedistill`'s, not the same rows) and for each --eval file, how many rows are exact
duplicates of a training row and how many occur inside one.
"""
import argparse
import random

from peer_data import read_tsv

p = argparse.ArgumentParser()
p.add_argument("--train", required=True)
p.add_argument("--eval", action="append", default=[])
p.add_argument("--fraction", type=float, default=0.02)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

rows = read_tsv(a.train)
random.Random(a.seed).shuffle(rows)
held = max(1, int(a.fraction * len(rows)))
held_out, train = rows[:held], rows[held:]
texts = [t.strip() for t, _ in train]
exact, joined = set(texts), "\n".join(texts)


def report(name, subset):
    duplicates = sum(t.strip() in exact for t, _ in subset)
    inside = sum(t.strip() in joined for t, _ in subset)
    words = sum(len(t.split()) for t, _ in subset) / len(subset)
    print(f"{name}: {len(subset)} rows, {duplicates} ({100 * duplicates / len(subset):.1f}%) exact duplicates of a "
          f"training row, {inside} ({100 * inside / len(subset):.1f}%) inside a training row, {words:.1f} words on average")


report(f"held-out {100 * a.fraction:g}% of {a.train}", held_out)
for path in a.eval:
    report(path, read_tsv(path))
