#!/usr/bin/env python3
"""Writes the distillation-trajectory fixture `TrajectoryTests` replays (run by developers, not CI).

    python3 scripts/make_trajectory_fixture.py      # PyTorch + transformers

The tiny random DistilBERT of Tests/Fixtures/models/distilbert is the teacher (frozen, eval mode);
the student is its embeddings, its layer 1 and its head. 600 distillation steps (T = 2, alpha = 0.5,
torch.optim.Adam at 1e-3), dropout off so both sides compute the same function, on batches of 4
random token sequences: ids 1-99 skewed towards frequent rows, and rows 100-119, each in about one
step of 200, that sit out hundreds of steps (past the lazy rows' horizon of 263). PyTorch runs it
twice, in float64 (the
trajectory without rounding, in practice) and in float32; the fixture keeps the batches, the
labels and both loss sequences, so the test can hold EdgeDistill's float32 run to PyTorch's own
float32 distance from float64. Output: Tests/Fixtures/models/distilbert/trajectory.json.
"""
import json, os, random
import torch
import torch.nn.functional as F
from transformers import DistilBertForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "Tests", "Fixtures", "models", "distilbert")
STEPS, BATCH, LR, T, ALPHA, LAYERS = 600, 4, 1e-3, 2.0, 0.5, [1]


def batches():
    rng = random.Random(5)
    out = []
    for _ in range(STEPS):
        sequences = []
        for _ in range(BATCH):
            n = rng.randint(3, 10)
            sequences.append([1 + int(99 * rng.random() ** 2) for _ in range(n)])  # ids 1-99, skewed low
        if rng.random() < 0.1:  # rows 100-119: each in about 1 step of 200, some gaps past 263 steps
            sequences[0][-1] = rng.randrange(100, 120)
        out.append({"ids": sequences, "labels": [rng.randrange(3) for _ in range(BATCH)]})
    return out


def run(dtype, data):
    teacher = DistilBertForSequenceClassification.from_pretrained(MODEL).eval().to(dtype)
    config = teacher.config
    config.n_layers = len(LAYERS)
    student = DistilBertForSequenceClassification(config).to(dtype)
    student.load_state_dict(teacher.state_dict(), strict=False)
    for i, t in enumerate(LAYERS):
        student.distilbert.transformer.layer[i].load_state_dict(teacher.distilbert.transformer.layer[t].state_dict())
    student.eval()  # no dropout; gradients still flow
    opt = torch.optim.Adam(student.parameters(), lr=LR)
    losses = []
    for step in data:
        width = max(len(s) for s in step["ids"])
        ids = torch.tensor([s + [0] * (width - len(s)) for s in step["ids"]])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in step["ids"]])
        labels = torch.tensor(step["labels"])
        with torch.no_grad():
            teacher_logits = teacher(input_ids=ids, attention_mask=mask).logits
        logits = student(input_ids=ids, attention_mask=mask).logits
        kl = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(teacher_logits / T, -1), reduction="batchmean")
        loss = ALPHA * F.cross_entropy(logits, labels) + (1 - ALPHA) * T * T * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def main():
    torch.set_num_threads(1)
    data = batches()
    exact, single = run(torch.float64, data), run(torch.float32, data)
    gap = max(abs(a - b) / abs(a) for a, b in zip(exact, single))
    last, gaps = {}, []
    for step, b in enumerate(data):
        for row in {i for s in b["ids"] for i in s}:
            if row in last:
                gaps.append(step - last[row])
            last[row] = step
    print(f"gaps between a row's uses longer than 263 steps: {sum(g > 263 for g in gaps)} (longest {max(gaps)})")
    print(f"PyTorch float32 against float64 over {STEPS} steps: largest relative loss gap {gap:.2e}")
    path = os.path.join(MODEL, "trajectory.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"layers": LAYERS, "learning_rate": LR, "temperature": T, "alpha": ALPHA, "batches": data,
                   "losses_float64": exact, "losses_float32": single}, f, separators=(",", ":"))
    os.replace(path + ".tmp", path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
