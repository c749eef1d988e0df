"""Data handling shared by the PyTorch + transformers reference scripts (peer_finetune.py,
peer_distill.py): reading, the held-out split and the batch order, as `edgedistill` does them."""
import sys


def read_tsv(path):
    """The (sentence, label) rows of a GLUE-style `sentence<TAB>label` file with a header line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].strip().isdigit():
            sys.exit(f"{path}:{number}: expected 'sentence<TAB>label', got {line[:80]!r}")
        rows.append((fields[0], int(fields[1])))
    return rows


def split(rows, rng, max_examples=None, held_fraction=0.02):
    """Shuffles `rows` with `rng`, keeps the first `max_examples`, and returns (held_out, train)."""
    rng.shuffle(rows)
    if max_examples:
        rows = rows[:max_examples]
    held = max(1, int(held_fraction * len(rows)))
    return rows[:held], rows[held:]


def epoch_order(lengths, batch_size, rng, bucketed=True):
    """One epoch's batches of example indices. Bucketed: the shuffled order cut into buckets of 50
    batches, each sorted by token count (stable, so ties keep their order), cut into batches, and
    the batches shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if bucketed:
        bucket = 50 * batch_size
        for s in range(0, len(order), bucket):
            order[s:s + bucket] = sorted(order[s:s + bucket], key=lambda i: lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if bucketed:
        rng.shuffle(batches)
    return batches
