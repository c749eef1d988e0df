#!/usr/bin/env python3
"""The PyTorch + transformers reference for teacher fine-tuning (run by developers, not CI).

    python3 scripts/peer_finetune.py --model models/all-MiniLM-L6-v2 --train ../shared/data/sst2/train.tsv \
        --eval ../shared/data/sst2/dev.tsv [--max-train-examples 10000] [--epochs 1] [--threads 2] \
        [--length-bucketed]

The same recipe as `edgedistill finetune`: BertForSequenceClassification with a new 2-way head,
AdamW (lr 5e-5, weight decay 0.01), linear warm-up over 10% of the steps then linear decay, batch 32,
dynamic padding, max length 128, shuffled with a fixed seed; a seeded sample of the training file
when --max-train-examples is given; 2% held out. With --length-bucketed, batches are formed as
`edgedistill` forms them (configs/sst2.yaml: `length_bucketed: true`): the shuffled order is cut
into buckets of 50 batches, each bucket sorted by token count, cut into batches, and the batches
shuffled. Reports accuracy on the evaluation file at the end
(the model with the best held-out accuracy, checked every --eval-every steps and at the end).
"""
import argparse, copy, json, random, time
import torch
from transformers import BertForSequenceClassification, BertTokenizerFast, get_linear_schedule_with_warmup
from peer_data import epoch_order, read_tsv, split

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--train", required=True)
p.add_argument("--eval", required=True)
p.add_argument("--max-train-examples", type=int)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--eval-every", type=int, default=500)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=42)
p.add_argument("--length-bucketed", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
rng = random.Random(a.seed)
valid, train = split(read_tsv(a.train), rng, a.max_train_examples)
dev = read_tsv(a.eval)
tok = BertTokenizerFast.from_pretrained(a.model)
model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2)
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
steps = a.epochs * ((len(train) + 31) // 32)
sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)


def accuracy(data):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data), 64):
            chunk = data[i:i + 64]
            enc = tok([t for t, _ in chunk], padding=True, truncation=True, max_length=128, return_tensors="pt")
            correct += (model(**enc).logits.argmax(-1) == torch.tensor([l for _, l in chunk])).sum().item()
    model.train()
    return correct / len(data)


lengths = [len(ids) for ids in tok([t for t, _ in train], truncation=True, max_length=128)["input_ids"]]


def epoch_batches():
    return [[train[i] for i in b] for b in epoch_order(lengths, 32, rng, a.length_bucketed)]


best, best_state, step, start = -1.0, None, 0, time.time()
model.train()
for epoch in range(a.epochs):
    for chunk in epoch_batches():
        enc = tok([t for t, _ in chunk], padding=True, truncation=True, max_length=128, return_tensors="pt")
        loss = model(**enc, labels=torch.tensor([l for _, l in chunk])).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if step % a.eval_every == 0 or step == steps:
            acc = accuracy(valid)
            if acc > best:
                best, best_state = acc, copy.deepcopy(model.state_dict())
            print(f"step {step}/{steps}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}, {time.time() - start:.0f} s", flush=True)
model.load_state_dict(best_state)
print(json.dumps({"benchmark": "peer-finetune", "train_examples": len(train), "epochs": a.epochs,
                  "length_bucketed": a.length_bucketed,
                  "held_out_accuracy": best, "eval_accuracy": accuracy(dev), "seconds": time.time() - start}))
