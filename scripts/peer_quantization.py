#!/usr/bin/env python3
"""Peer comparison for issue 5: the same fp32 student quantized with PyTorch's quantize_dynamic and
with ONNX Runtime's dynamic quantization, measured like `edgedistill bench latency`.

For each engine and thread count: accuracy and macro-F1 on the whole file, then batch-1 latency
(p50/p95/p99, nearest rank, ms) over the first N sentences after W untimed calls, timing the model
call only (tokenization outside the timer, as EdgeDistill does). Prints one JSON object per line.

    python3 scripts/peer_quantization.py --model runs/full/student --data dev.tsv \
        [--sentences 200] [--warmup 20] [--threads 1,2] [--engines torch-fp32,torch-int8,ort-fp32,ort-int8]
    python3 scripts/peer_quantization.py --model runs/full/student --data dev.tsv --compare ours.jsonl

The second form is the reference check of EdgeDistill's int8 model: `ours.jsonl` is
`edgedistill predict --model student-int8 --max-length 128` on the file's sentences as JSON lines;
it prints the largest probability difference and the argmax agreement against torch's
quantize_dynamic model and against the fp32 model.

Needs torch and transformers (and onnx + onnxruntime for the ort engines); developers run it,
CI does not.
"""
import argparse, csv, json, math, os, sys, tempfile, time


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


def percentile(values, p):
    s = sorted(values)
    rank = math.ceil(p / 100 * len(s))
    return s[max(0, min(len(s) - 1, rank - 1))]


def macro_f1(pred, gold, k):
    f1s = []
    for c in range(k):
        tp = sum(1 for p, g in zip(pred, gold) if p == c and g == c)
        fp = sum(1 for p, g in zip(pred, gold) if p == c and g != c)
        fn = sum(1 for p, g in zip(pred, gold) if p != c and g == c)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default="torch-fp32,torch-int8,ort-int8")
    ap.add_argument("--compare", help="JSON lines from `edgedistill predict` on the file's sentences "
                    "(same order): prints how far they are from torch's quantize_dynamic probabilities")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer, AutoModelForSequenceClassification

    texts, labels = read_tsv(args.data)
    tok = AutoTokenizer.from_pretrained(args.model)
    enc = [tok(t, truncation=True, max_length=args.max_length, return_tensors="pt") for t in texts]
    timed = [enc[i % len(enc)] for i in range(args.sentences)]
    fp32 = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    k = fp32.config.num_labels

    def run_engine(name, call, size):
        preds = None  # accuracy does not depend on the thread count: computed once per engine
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            set_threads(threads)
            if preds is None:
                preds = [int(call(e).argmax()) for e in enc]
            acc = sum(int(p == g) for p, g in zip(preds, labels)) / len(labels)
            for e in timed[: args.warmup]:
                call(e)
            times = []
            for e in timed:
                t0 = time.perf_counter()
                call(e)
                times.append((time.perf_counter() - t0) * 1000)
            print(json.dumps({
                "engine": name, "threads": threads, "accuracy": acc, "macro_f1": macro_f1(preds, labels, k),
                "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "p99_ms": percentile(times, 99),
                "examples_per_s": len(times) / (sum(times) / 1000), "sentences": len(times), "size_bytes": size,
            }), flush=True)

    set_threads = lambda n: None
    engines = args.engines.split(",")
    tmp = tempfile.mkdtemp(prefix="peer-quant-")

    def state_size(model):
        path = os.path.join(tmp, "state.pt")
        torch.save(model.state_dict(), path)
        return os.path.getsize(path)

    if args.compare:
        ours = [json.loads(l) for l in open(args.compare, encoding="utf-8") if l.strip()]
        assert len(ours) == len(enc), f"{len(ours)} predictions for {len(enc)} sentences"
        names = [fp32.config.id2label[i] for i in range(k)]
        q = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8)
        worst_int8 = worst_fp32 = 0.0
        agree_int8 = agree_fp32 = 0
        with torch.inference_mode():
            for e, o in zip(enc, ours):
                mine = torch.tensor([o["probabilities"][n] for n in names])
                for model, kind in [(q, "int8"), (fp32, "fp32")]:
                    ref = torch.softmax(model(**e).logits[0], -1)
                    diff = float((mine - ref).abs().max())
                    same = int(int(mine.argmax()) == int(ref.argmax()))
                    if kind == "int8":
                        worst_int8, agree_int8 = max(worst_int8, diff), agree_int8 + same
                    else:
                        worst_fp32, agree_fp32 = max(worst_fp32, diff), agree_fp32 + same
        print(json.dumps({"compare": args.compare, "sentences": len(ours),
                          "max_prob_diff_vs_torch_int8": worst_int8, "argmax_agreement_vs_torch_int8": agree_int8 / len(ours),
                          "max_prob_diff_vs_torch_fp32": worst_fp32, "argmax_agreement_vs_torch_fp32": agree_fp32 / len(ours)}),
              flush=True)
        return

    if "torch-fp32" in engines:
        with torch.inference_mode():
            run_engine("torch fp32", lambda e: fp32(**e).logits[0], state_size(fp32))
    if "torch-int8" in engines:
        q = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8)
        with torch.inference_mode():
            run_engine("torch quantize_dynamic int8", lambda e: q(**e).logits[0], state_size(q))
    if any(e.startswith("ort") for e in engines):
        import numpy as np
        import onnxruntime as ort
        from onnxruntime.quantization import quantize_dynamic, QuantType
        onnx_path = os.path.join(tmp, "student.onnx")
        sample = tok("a sample sentence", return_tensors="pt")
        torch.onnx.export(fp32, (sample["input_ids"], sample["attention_mask"]), onnx_path,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
                          opset_version=17, dynamo=False)
        int8_path = os.path.join(tmp, "student-int8.onnx")
        quantize_dynamic(onnx_path, int8_path, weight_type=QuantType.QInt8)
        for name, path in [("ort fp32", onnx_path), ("ort dynamic int8", int8_path)]:
            if {"ort fp32": "ort-fp32", "ort dynamic int8": "ort-int8"}[name] not in engines:
                continue
            sessions = {}

            def make(n, path=path):
                o = ort.SessionOptions()
                o.intra_op_num_threads = n
                o.inter_op_num_threads = 1
                o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                sessions["s"] = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])

            def call(e):
                return sessions["s"].run(["logits"], {"input_ids": e["input_ids"].numpy(),
                                                      "attention_mask": e["attention_mask"].numpy()})[0][0]
            set_threads = make
            run_engine(name, call, os.path.getsize(path))


if __name__ == "__main__":
    main()
