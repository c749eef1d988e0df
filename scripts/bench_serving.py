#!/usr/bin/env python3
"""Batch-1 serving latency of a student, ours against the peers, in one run on the same sentences
(developer-run; needs PyTorch, transformers and onnxruntime):

    python3 scripts/bench_serving.py --student runs/x/student --int8 runs/x/student-int8 --data $DATA/dev.tsv

For 1 and 2 threads, interleaved over --rounds rounds, p50 and p95 in ms of one sentence at a time
(tokenization outside the timer):
  - ours: `edgedistill bench latency` on the int8 folder and on the fp32 student (the kernel path it
    prints is the one the CPU picked, or EDGEDISTILL_ISA's);
  - torch: `torch.ao.quantization.quantize_dynamic` of the transformers model (Linear layers, qint8);
  - ORT plain: `torch.onnx.export` (eager attention) + onnxruntime `quantize_dynamic` (QInt8);
  - ORT fused: the same export through onnxruntime.transformers' `optimize_model` (BERT fusions:
    attention, SkipLayerNorm, BiasGelu), then `quantize_dynamic`: ONNX Runtime's strongest recipe.
Prints one JSON object.
"""
import argparse, csv, json, os, platform, statistics, subprocess, tempfile, time

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("--student", required=True, help="the fp32 student folder")
p.add_argument("--int8", required=True, help="our int8 folder of it (edgedistill quantize --int8)")
p.add_argument("--data", required=True)
p.add_argument("--binary", default=".build/release/edgedistill")
p.add_argument("--sentences", type=int, default=200)
p.add_argument("--rounds", type=int, default=3)
a = p.parse_args()

with open(a.data, newline="") as f:
    texts = [r["sentence"] for r in csv.DictReader(f, delimiter="\t")][: a.sentences]
tokenizer = AutoTokenizer.from_pretrained(a.student)
inputs = [tokenizer([t], return_tensors="pt") for t in texts]
model = AutoModelForSequenceClassification.from_pretrained(a.student, attn_implementation="eager").eval()
config = model.config
folder = tempfile.mkdtemp()
fp32, plain, optimized, fused = (os.path.join(folder, n) for n in ["fp32.onnx", "plain-int8.onnx", "opt.onnx", "fused-int8.onnx"])
example = tokenizer(["a sentence"], return_tensors="pt")
torch.onnx.export(model, (example["input_ids"], example["attention_mask"]), fp32, input_names=["input_ids", "attention_mask"],
                  output_names=["logits"], dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                                         "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
                  opset_version=17, dynamo=False)
quantize_dynamic(fp32, plain, weight_type=QuantType.QInt8)
heads = getattr(config, "num_attention_heads", getattr(config, "n_heads", 12))
hidden = getattr(config, "hidden_size", getattr(config, "dim", 384))
opt = optimize_model(fp32, model_type="bert", num_heads=heads, hidden_size=hidden)
fusions = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
opt.save_model_to_file(optimized)
import onnx
quantize_dynamic(optimized, fused, weight_type=QuantType.QInt8,
                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fused ops lack shape inference
torch_int8 = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def stats(times):
    times = sorted(times)
    return [round(statistics.median(times), 4), round(times[int(0.95 * (len(times) - 1))], 4)]


def onnx(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = [{"input_ids": x["input_ids"].numpy().astype(np.int64), "attention_mask": x["attention_mask"].numpy().astype(np.int64)}
             for x in inputs]
    for f in feeds[:10]: session.run(["logits"], f)
    times = []
    for f in feeds:
        start = time.perf_counter(); session.run(["logits"], f); times.append((time.perf_counter() - start) * 1000)
    return stats(times)


def torch_latency(threads):
    torch.set_num_threads(threads)
    times = []
    with torch.inference_mode():
        for x in inputs[:10]: torch_int8(**x)
        for x in inputs:
            start = time.perf_counter(); torch_int8(**x); times.append((time.perf_counter() - start) * 1000)
    return stats(times)


def ours(folder, threads):
    out = subprocess.run([a.binary, "bench", "latency", "--model", folder, "--data", a.data, "--threads", str(threads),
                          "--sentences", str(a.sentences), "--json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return [round(result["p50_ms"], 4), round(result["p95_ms"], 4)]


version = subprocess.run([a.binary, "--version"], capture_output=True, text=True).stdout.strip()
rows = {}
for r in range(a.rounds):
    for threads in [1, 2]:
        for name, run in [("ours int8", lambda t: ours(a.int8, t)), ("ours fp32", lambda t: ours(a.student, t)),
                          ("torch quantize_dynamic", torch_latency), ("ORT int8 plain", lambda t: onnx(plain, t)),
                          ("ORT int8 fused", lambda t: onnx(fused, t))]:
            rows.setdefault(f"{name}, {threads} thread(s)", []).append(run(threads))
print(json.dumps({"edgedistill": version, "cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__,
                  "torch": torch.__version__, "sentences": len(texts), "fusions": fusions,
                  "p50_p95_ms_per_round": rows}, indent=1))
