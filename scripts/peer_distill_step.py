#!/usr/bin/env python3
"""The PyTorch + transformers peer of `edgedistill bench distill-step` (run by developers, not CI).

    python3 scripts/peer_distill_step.py --teacher models/all-MiniLM-L6-v2 --data ../shared/data/sst2/train.tsv \
        --batch-size 16 --steps 30 --threads 2 [--pad-to-max]

Teacher: the model as BertForSequenceClassification (eval mode, no grad); student: the same config
with 2 layers taken from the teacher (layers 0 and 3, as EdgeDistill's default); Adam at 5e-5; loss
0.5 * CE + 0.5 * 4 * KL(softmax(t/2) || softmax(s/2)); dynamic padding (or padding to 128 with
--pad-to-max); 3 warm-up steps, then timed steps. Prints one JSON line.
"""
import argparse, copy, json, random, time
import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification, BertTokenizerFast

p = argparse.ArgumentParser()
p.add_argument("--teacher", required=True)
p.add_argument("--data", required=True)
p.add_argument("--batch-size", type=int, default=16)
p.add_argument("--steps", type=int, default=30)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--pad-to-max", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
rows = [l.rstrip("\n").split("\t") for l in open(a.data, encoding="utf-8")][1:]
random.Random(0).shuffle(rows)
tok = BertTokenizerFast.from_pretrained(a.teacher)
teacher = BertForSequenceClassification.from_pretrained(a.teacher, num_labels=2).eval()
config = copy.deepcopy(teacher.config)
config.num_hidden_layers = 2
student = BertForSequenceClassification(config)
student.load_state_dict(teacher.state_dict(), strict=False)
for i, t in enumerate([0, 3]):
    student.bert.encoder.layer[i].load_state_dict(teacher.bert.encoder.layer[t].state_dict())
student.train()
opt = torch.optim.Adam(student.parameters(), lr=5e-5)
timed, tokens = 0.0, 0
for s in range(a.warmup + a.steps):
    chunk = [rows[(s * a.batch_size + i) % len(rows)] for i in range(a.batch_size)]
    enc = tok([r[0] for r in chunk], padding="max_length" if a.pad_to_max else True, truncation=True,
              max_length=128, return_tensors="pt")
    labels = torch.tensor([int(r[1]) for r in chunk])
    t0 = time.perf_counter()
    with torch.no_grad():
        t_logits = teacher(**enc).logits
    s_logits = student(**enc).logits
    loss = 0.5 * F.cross_entropy(s_logits, labels) + 0.5 * 4 * F.kl_div(
        F.log_softmax(s_logits / 2, -1), F.softmax(t_logits / 2, -1), reduction="batchmean")
    opt.zero_grad()
    loss.backward()
    opt.step()
    dt = time.perf_counter() - t0
    if s >= a.warmup:
        timed += dt
        tokens += int(enc["attention_mask"].sum())
print(json.dumps({"benchmark": "peer-distill-step", "torch": torch.__version__, "threads": a.threads,
                  "batch_size": a.batch_size, "steps": a.steps, "padding": "max_length" if a.pad_to_max else "longest",
                  "examples_per_s": a.steps * a.batch_size / timed, "tokens_per_s": tokens / timed,
                  "step_ms": timed / a.steps * 1000}))
