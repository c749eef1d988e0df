#!/usr/bin/env python3
"""The PyTorch + transformers reference for the distillation stage (run by developers, not CI).

    python3 scripts/peer_distill.py --teacher runs/full-4/teacher --train ../shared/data/sst2/train.tsv \
        --eval ../shared/data/sst2/dev.tsv [--layers 0,3] [--epochs 3] [--seed 42] [--threads 2] \
        [--max-train-examples N]

The same recipe as `edgedistill distill` with configs/sst2.yaml, from the same fine-tuned teacher
folder (the `teacher/` that `edgedistill run` exports, which transformers loads as
DistilBertForSequenceClassification): a 2-layer student made of the teacher's embeddings, its layers
--layers and its classification head; loss alpha * CE + (1 - alpha) * T^2 * KL(softmax(t/T) ||
softmax(s/T)) with T = 2, alpha = 0.5 (batch mean); Adam at 5e-5 throughout; batch 16; dynamic
padding, max length 128; length-bucketed batches as `edgedistill` forms them (the shuffled order cut
into buckets of 50 batches, each sorted by token count, cut into batches, the batches shuffled); 2%
of the training file held out, evaluated every 100 steps and at the end, keeping the best student.
The teacher is frozen and in eval mode, so its logits are computed once per training sentence
before training (the same numbers each epoch would recompute). Prints progress lines and, at the
end, one JSON line with the dev accuracy of teacher and student.
"""
import argparse, copy, json, random, time
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from peer_data import epoch_order, read_tsv, split

p = argparse.ArgumentParser()
p.add_argument("--teacher", required=True)
p.add_argument("--train", required=True)
p.add_argument("--eval", required=True)
p.add_argument("--layers", default="0,3")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch-size", type=int, default=16)
p.add_argument("--learning-rate", type=float, default=5e-5)
p.add_argument("--temperature", type=float, default=2.0)
p.add_argument("--alpha", type=float, default=0.5)
p.add_argument("--eval-every", type=int, default=100)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=42)
p.add_argument("--max-train-examples", type=int)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


rng = random.Random(a.seed)
valid, train = split(read_tsv(a.train), rng, a.max_train_examples)
dev = read_tsv(a.eval)
tok = AutoTokenizer.from_pretrained(a.teacher)
teacher = AutoModelForSequenceClassification.from_pretrained(a.teacher).eval()
layers = [int(x) for x in a.layers.split(",")]
config = copy.deepcopy(teacher.config)
config.n_layers = len(layers)
student = type(teacher)(config)
missing = student.load_state_dict(teacher.state_dict(), strict=False)
assert not missing.missing_keys, missing.missing_keys  # embeddings and head come from the teacher
for i, t in enumerate(layers):
    student.distilbert.transformer.layer[i].load_state_dict(teacher.distilbert.transformer.layer[t].state_dict())


def encode(texts):
    return tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")


def accuracy(model, data):
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data), 64):
            chunk = data[i:i + 64]
            logits = model(**encode([t for t, _ in chunk])).logits
            correct += (logits.argmax(-1) == torch.tensor([l for _, l in chunk])).sum().item()
    model.train(was_training)
    return correct / len(data)


start = time.time()
lengths = [len(ids) for ids in tok([t for t, _ in train], truncation=True, max_length=128)["input_ids"]]
# The frozen teacher's logits, once per training sentence (in length order, so batches pad little).
teacher_logits = torch.zeros(len(train), teacher.config.num_labels)
order = sorted(range(len(train)), key=lambda i: lengths[i])
with torch.no_grad():
    for s in range(0, len(order), 64):
        ids = order[s:s + 64]
        teacher_logits[ids] = teacher(**encode([train[i][0] for i in ids])).logits
print(f"teacher logits for {len(train)} sentences in {time.time() - start:.0f} s", flush=True)


def epoch_batches():
    return epoch_order(lengths, a.batch_size, rng)


opt = torch.optim.Adam(student.parameters(), lr=a.learning_rate)
steps = a.epochs * ((len(train) + a.batch_size - 1) // a.batch_size)
T = a.temperature
best, best_state, best_step, step = -1.0, None, 0, 0
student.train()
for epoch in range(a.epochs):
    for batch in epoch_batches():
        enc = encode([train[i][0] for i in batch])
        labels = torch.tensor([train[i][1] for i in batch])
        logits = student(**enc).logits
        kl = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(teacher_logits[batch] / T, -1), reduction="batchmean")
        loss = a.alpha * F.cross_entropy(logits, labels) + (1 - a.alpha) * T * T * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % a.eval_every == 0 or step == steps:
            acc = accuracy(student, valid)
            if acc > best:
                best, best_state, best_step = acc, copy.deepcopy(student.state_dict()), step
            if step % (10 * a.eval_every) == 0 or step == steps:
                print(f"step {step}/{steps}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}, "
                      f"{time.time() - start:.0f} s", flush=True)
student.load_state_dict(best_state)
t_acc, s_acc = accuracy(teacher, dev), accuracy(student, dev)
print(json.dumps({"benchmark": "peer-distill", "train_examples": len(train), "epochs": a.epochs, "layers": layers,
                  "seed": a.seed, "held_out_accuracy": best, "best_step": best_step,
                  "teacher_eval_accuracy": t_acc, "student_eval_accuracy": s_acc,
                  "retention": s_acc / t_acc, "seconds": time.time() - start}))
