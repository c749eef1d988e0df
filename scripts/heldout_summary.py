#!/usr/bin/env python3
"""Summarises the held-out (validation) evaluations of each phase of one or more run folders.

    python3 scripts/heldout_summary.py runs/full-4 runs/sched-linear

For every phase (the step count restarts when the student's phase begins) it prints the number of
evaluations, the best accuracy and its step, the last one, and the mean over the phase's last
epoch-sized third of evaluations: a steadier figure than the best of ~120 noisy evaluations, for
comparing two recipes without looking at the evaluation (dev) files. With `distill.average_last`
it also prints the held-out accuracy of the average of the last evaluations' weights.
"""
import json
import sys


def phases(path):
    """The evaluation records of metrics.jsonl, split where the step count restarts."""
    evaluations, averages = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not JSON ({e})")
            if record.get("kind") == "eval":
                evaluations.append(record)
            elif record.get("kind") == "average_eval":
                averages.append(record)
    split = [[]]
    for record in evaluations:
        if split[-1] and record["step"] < split[-1][-1]["step"]:
            split.append([])
        split[-1].append(record)
    return [p for p in split if p], averages


def main(folders):
    if not folders:
        sys.exit(__doc__)
    for folder in folders:
        found, averages = phases(f"{folder}/metrics.jsonl")
        for i, records in enumerate(found):
            # Records name their phase since the step traces came in; older runs are named by position
            # (a run given a fine-tuned teacher has only the student's phase).
            name = records[0].get("phase") or (["teacher", "student"][i] if len(found) == 2 else f"phase {i + 1}")
            accuracies = [r["accuracy"] for r in records]
            best = max(records, key=lambda r: r["accuracy"])
            tail = accuracies[-max(1, len(accuracies) // 3):]
            print(f"{folder} {name}: {len(records)} evaluations, best {100 * best['accuracy']:.2f}% at step "
                  f"{best['step']}, last {100 * accuracies[-1]:.2f}% at step {records[-1]['step']}, "
                  f"mean of the last third {100 * sum(tail) / len(tail):.2f}%")
        for a in averages:
            print(f"{folder} {a.get('phase', '?')}: average of the {a['averaged']} evaluations after step "
                  f"{a['after_step']}: {100 * a['accuracy']:.2f}%")


if __name__ == "__main__":
    main(sys.argv[1:])
