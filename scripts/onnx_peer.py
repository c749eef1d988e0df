#!/usr/bin/env python3
"""The ONNX Runtime peer of `edgedistill export` (developer-run; needs PyTorch + transformers):
exports the same student folder with torch.onnx.export, applies onnxruntime's quantize_dynamic,
and times batch-1 p50 in ONNX Runtime on the same sentences as scripts/onnx_check.py, beside
the file `edgedistill export` wrote.

    python3 scripts/onnx_peer.py --model runs/x/student --ours /tmp/x/student-int8.onnx --data $DATA/dev.tsv
"""
import argparse, csv, json, os, statistics, tempfile, time

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModelForSequenceClassification, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--ours", required=True)
p.add_argument("--data", required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--sentences", type=int, default=200)
p.add_argument("--rounds", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(a.threads)
with open(a.data, newline="") as f:
    texts = [r["sentence"] for r in csv.DictReader(f, delimiter="\t")][: a.sentences]
tokenizer = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForSequenceClassification.from_pretrained(a.model).eval()
folder = tempfile.mkdtemp()
fp32, int8 = os.path.join(folder, "peer.onnx"), os.path.join(folder, "peer-int8.onnx")
example = tokenizer(["a sentence"], return_tensors="pt")
torch.onnx.export(model, (example["input_ids"], example["attention_mask"]), fp32, input_names=["input_ids", "attention_mask"],
                  output_names=["logits"], dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                                         "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
                  opset_version=17, dynamo=False)
quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
inputs = [tokenizer([t], return_tensors="np") for t in texts]

def p50(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = [{"input_ids": x["input_ids"].astype(np.int64), "attention_mask": x["attention_mask"].astype(np.int64)} for x in inputs]
    for f in feeds[:10]: session.run(["logits"], f)
    times = []
    for f in feeds:
        start = time.perf_counter(); session.run(["logits"], f); times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)

rounds = [(p50(a.ours), p50(int8)) for _ in range(a.rounds)]
print(json.dumps({"threads": a.threads, "sentences": len(texts), "onnxruntime": ort.__version__,
                  "ours_p50_ms": [r[0] for r in rounds], "peer_quantize_dynamic_p50_ms": [r[1] for r in rounds],
                  "peer_size_bytes": os.path.getsize(int8), "ours_size_bytes": os.path.getsize(a.ours)}))
