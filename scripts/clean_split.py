#!/usr/bin/env python3
"""A validation set of new sentences for a phrase-level dataset (run by developers, not CI).

    python3 scripts/clean_split.py --train ../shared/data/sst2/train.tsv --out runs/clean \
        [--sentences 1000] [--seed 1] [--min-words 4]

SST-2 train holds every sentence and the phrases of its parse tree as rows, so a random held-out share
is mostly phrases of sentences that stay in training (docs/experiments/heldout-overlap.md). This writes
OUT/validation.tsv: --sentences whole sentences (rows that occur inside no other row), drawn with
--seed; and OUT/train.tsv: every other row, less each row of at least --min-words words that occurs
inside one of those sentences (shorter phrases such as "good" leak little and are kept). Both files
are written under temporary names and renamed into place.
"""
import argparse
import os
import random

from peer_data import read_tsv

p = argparse.ArgumentParser()
p.add_argument("--train", required=True)
p.add_argument("--out", required=True)
p.add_argument("--sentences", type=int, default=1000)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--min-words", type=int, default=4)
a = p.parse_args()

rows = read_tsv(a.train)
texts = [" " + t.strip() + " " for t, _ in rows]
joined = "\n".join(texts)
order = list(range(len(rows)))
random.Random(a.seed).shuffle(order)
chosen = []
for i in order:
    if len(chosen) == a.sentences:
        break
    # A whole sentence: it occurs once in all rows (as itself), inside no other row.
    if len(texts[i].split()) >= a.min_words and joined.count(texts[i]) == 1:
        chosen.append(i)
if len(chosen) < a.sentences:
    raise SystemExit(f"{a.train}: only {len(chosen)} whole sentences of {a.min_words}+ words, asked for {a.sentences}")
picked = set(chosen)
validation = "\n".join(texts[i] for i in chosen)
train = [i for i in range(len(rows))
         if i not in picked and not (len(texts[i].split()) >= a.min_words and texts[i] in validation)]

os.makedirs(a.out, exist_ok=True)
for name, indices in (("validation", chosen), ("train", train)):
    path = os.path.join(a.out, name + ".tsv")
    with open(path + ".partial", "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for i in indices:
            f.write(f"{rows[i][0].strip()}\t{rows[i][1]}\n")
    os.replace(path + ".partial", path)
removed = len(rows) - len(train) - len(chosen)
print(f"{a.out}/validation.tsv: {len(chosen)} sentences; {a.out}/train.tsv: {len(train)} rows "
      f"({removed} phrases of {a.min_words}+ words of those sentences removed)")
