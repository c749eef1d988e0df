#!/usr/bin/env python3
"""The PyTorch + transformers peer of `edgedistill bench train-step` (run by developers, not CI).

    python3 scripts/peer_train_step.py --model models/all-MiniLM-L6-v2 --data ../shared/data/sst2/train.tsv \
        --batch-size 32 --steps 20 --threads 2

Loads the teacher as BertForSequenceClassification (new 2-way head), AdamW at 5e-5, dynamic padding
(BertTokenizerFast, padding=True, truncation=True, max_length=128), 3 warm-up steps, then timed full
training steps (forward, backward, AdamW step) on shuffled SST-2 batches. Prints one JSON line.
"""
import argparse, json, random, resource, time
import torch
from transformers import BertForSequenceClassification, BertTokenizerFast


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rows = [l.rstrip("\n").split("\t") for l in open(a.data, encoding="utf-8")][1:]
    random.Random(a.seed).shuffle(rows)
    tok = BertTokenizerFast.from_pretrained(a.model)
    model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    total = a.warmup + a.steps
    batches = []
    for s in range(total):
        chunk = [rows[(s * a.batch_size + i) % len(rows)] for i in range(a.batch_size)]
        enc = tok([r[0] for r in chunk], padding=True, truncation=True, max_length=a.max_length, return_tensors="pt")
        batches.append((enc, torch.tensor([int(r[1]) for r in chunk])))
    timed, tokens = 0.0, 0
    for s, (enc, labels) in enumerate(batches):
        t0 = time.perf_counter()
        out = model(**enc, labels=labels)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            timed += dt
            tokens += int(enc["attention_mask"].sum())
    print(json.dumps({"benchmark": "peer-train-step", "torch": torch.__version__, "threads": a.threads,
                      "batch_size": a.batch_size, "steps": a.steps,
                      "examples_per_s": a.steps * a.batch_size / timed, "tokens_per_s": tokens / timed,
                      "step_ms": timed / a.steps * 1000,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
