#!/usr/bin/env python3
"""Runs an exported ONNX classifier in ONNX Runtime on a labelled file and compares it with
EdgeDistill on the same token ids (developer-run; needs onnxruntime, no PyTorch).

    python3 scripts/onnx_check.py --model runs/x/student-int8 --onnx /tmp/x/int8.onnx \
        --data ../shared/data/sst2/dev.tsv [--binary .build/release/edgedistill] [--threads 1]

Prints argmax agreement, the largest probability difference, both accuracies and ONNX Runtime's
batch-1 p50 latency, as one JSON object.
"""
import argparse
import csv
import json
import statistics
import subprocess
import time

import numpy as np
import onnxruntime as ort

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--onnx", required=True)
p.add_argument("--data", required=True)
p.add_argument("--binary", default=".build/release/edgedistill")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--text-column", default="sentence")
p.add_argument("--label-column", default="label")
a = p.parse_args()

with open(a.data, newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t" if a.data.endswith(".tsv") else ","))
texts = [r[a.text_column] for r in rows]
config = json.load(open(a.model + "/config.json"))
names = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]

# Our answers and token ids, from `edgedistill predict --ids` on the same texts.
run = subprocess.run([a.binary, "predict", "--model", a.model, "--ids", "--threads", str(a.threads)],
                     input="\n".join(json.dumps({"text": t}) for t in texts) + "\n", capture_output=True, text=True)
ours = [json.loads(line) for line in run.stdout.splitlines()]
assert len(ours) == len(texts), run.stderr

options = ort.SessionOptions()
options.intra_op_num_threads = a.threads
session = ort.InferenceSession(a.onnx, options, providers=["CPUExecutionProvider"])
agree, worst, correct_ours, correct_onnx, times = 0, 0.0, 0, 0, []
for row, answer in zip(rows, ours):
    ids = np.array([answer["ids"]], dtype=np.int64)
    start = time.perf_counter()
    logits = session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
    times.append((time.perf_counter() - start) * 1000)
    probabilities = np.exp(logits - logits.max()); probabilities /= probabilities.sum()
    label = row[a.label_column]
    truth = names.index(label) if label in names else int(label)
    agree += int(probabilities.argmax() == answer["label_id"])
    worst = max(worst, max(abs(probabilities[i] - answer["probabilities"][n]) for i, n in enumerate(names)))
    correct_ours += int(answer["label_id"] == truth)
    correct_onnx += int(probabilities.argmax() == truth)
n = len(rows)
print(json.dumps({"examples": n, "argmax_agreement": agree / n, "max_probability_difference": float(worst),
                  "accuracy_edgedistill": correct_ours / n, "accuracy_onnxruntime": correct_onnx / n,
                  "onnxruntime_p50_ms": float(statistics.median(times)), "threads": a.threads, "onnxruntime": ort.__version__}))
