#!/usr/bin/env python3
"""Writes the reference fixtures EdgeDistill's model tests compare against (run by developers, not CI).

    python3 scripts/make_model_fixtures.py            # tiny random DistilBERT and BERT checkpoints
    python3 scripts/make_model_fixtures.py --minilm /path/to/all-MiniLM-L6-v2 --sst2 ../shared/data/sst2/dev.tsv

Tiny fixtures (Tests/Fixtures/models/): for each family a student checkpoint (2 layers, hidden 32,
4 heads, FFN 64, vocab 120, 3 labels), and a shared 3-layer DistilBERT teacher. reference.safetensors
holds, for one padded batch of 4 sentences: the input ids (as F32), lengths, labels, the student's
logits, the teacher's logits, the CE loss, the distillation loss
0.5 * CE + 0.5 * T^2 * KL(softmax(t/T) || softmax(s/T)) with T = 2, the gradient of that loss for
every student parameter ("grad.<checkpoint key>"), and the losses of 3 AdamW steps (lr 1e-3,
weight decay 0.01) on that batch. Weights are drawn with std 0.2 (LayerNorm weights around 1) so
every gradient is far from zero and a wrong one cannot hide.

Real-checkpoint fixture (Tests/Fixtures/minilm/): 16 SST-2 dev sentences through all-MiniLM-L6-v2:
the last hidden state of every real token and the logits of a seeded DistilBERT-style head whose
weights are stored with them.
"""
import argparse, json, os, sys
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
import transformers
from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                          DistilBertForSequenceClassification)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "models")
T, ALPHA = 2.0, 0.5
LENGTHS = [7, 3, 10, 5]
LABELS = [0, 2, 1, 2]


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def batch(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    t = max(LENGTHS)
    ids = torch.zeros(len(LENGTHS), t, dtype=torch.long)
    mask = torch.zeros(len(LENGTHS), t, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids[b, :n] = torch.randint(5, vocab, (n,), generator=g)
        ids[b, 0], ids[b, n - 1] = 2, 3  # [CLS] ... [SEP] stand-ins
        mask[b, :n] = 1
    return ids, mask


def distill_loss(student_logits, teacher_logits, labels):
    ce = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(F.log_softmax(student_logits / T, -1), F.softmax(teacher_logits / T, -1),
                  reduction="batchmean") * T * T
    return ALPHA * ce + (1 - ALPHA) * kl, ce, kl


def save_model(model, directory, strip_prefix=None):
    os.makedirs(directory, exist_ok=True)
    model.config.save_pretrained(directory)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if strip_prefix:
        state = {k[len(strip_prefix):] if k.startswith(strip_prefix) else k: v for k, v in state.items()}
    save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    return state


def make_tiny():
    torch.manual_seed(0)
    vocab = 120
    common = dict(vocab_size=vocab, max_position_embeddings=64, num_labels=3, pad_token_id=0)
    teacher = DistilBertForSequenceClassification(DistilBertConfig(
        dim=32, n_layers=3, n_heads=4, hidden_dim=64, attn_implementation="eager", **common)).eval()
    randomize(teacher, 1)
    save_model(teacher, os.path.join(OUT, "teacher"))
    ids, mask = batch(vocab, 7)
    labels = torch.tensor(LABELS)
    with torch.no_grad():
        teacher_logits = teacher(input_ids=ids, attention_mask=mask).logits

    students = {
        "distilbert": DistilBertForSequenceClassification(DistilBertConfig(
            dim=32, n_layers=2, n_heads=4, hidden_dim=64, attn_implementation="eager", **common)),
        "bert": BertForSequenceClassification(BertConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            type_vocab_size=2, attn_implementation="eager", **common)),
    }
    for seed, (family, student) in enumerate(students.items(), start=2):
        student.eval()  # dropout off: the reference must be deterministic
        randomize(student, seed)
        directory = os.path.join(OUT, family)
        # The BERT student is stored without its "bert." prefix, as all-MiniLM-L6-v2 is.
        save_model(student, directory, strip_prefix="bert." if family == "bert" else None)
        kwargs = dict(input_ids=ids, attention_mask=mask)
        if family == "bert":
            kwargs["token_type_ids"] = torch.zeros_like(ids)
        logits = student(**kwargs).logits
        loss, ce, kl = distill_loss(logits, teacher_logits, labels)
        student.zero_grad()
        loss.backward()
        tensors = {
            "input_ids": ids.float(), "lengths": torch.tensor(LENGTHS).float(),
            "labels": labels.float(), "logits": logits.detach(), "teacher_logits": teacher_logits,
            "loss_ce": ce.detach().reshape(1), "loss_kl": kl.detach().reshape(1),
            "loss_distill": loss.detach().reshape(1),
        }
        for name, p in student.named_parameters():
            key = name[len("bert."):] if family == "bert" and name.startswith("bert.") else name
            tensors["grad." + key] = p.grad.detach().clone()
        # Three AdamW steps on the same batch (the CE + KL loss), losses before each step.
        # EdgeDistill folds BERT's token-type table into the position table, so that table has no
        # optimizer state of its own: keep it frozen here for a like-for-like comparison.
        trainable = [p for n, p in student.named_parameters() if "token_type_embeddings" not in n]
        optimizer = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=0.01, eps=1e-8)
        losses = []
        for _ in range(3):
            optimizer.zero_grad()
            step_loss, _, _ = distill_loss(student(**kwargs).logits, teacher_logits, labels)
            losses.append(step_loss.item())
            step_loss.backward()
            optimizer.step()
        losses.append(distill_loss(student(**kwargs).logits, teacher_logits, labels)[0].item())
        tensors["adamw_losses"] = torch.tensor(losses)
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(directory, "reference.safetensors"),
                  metadata={"generator": "scripts/make_model_fixtures.py", "torch": torch.__version__,
                            "transformers": transformers.__version__})
        print(f"{family}: logits {logits.detach().numpy().round(4).tolist()} loss {loss.item():.6f}")


def make_minilm(model_dir, sst2):
    from transformers import BertModel, BertTokenizer
    out = os.path.join(ROOT, "Tests", "Fixtures", "minilm")
    os.makedirs(out, exist_ok=True)
    sentences = []
    with open(sst2, encoding="utf-8") as f:
        next(f)
        for line in f:
            sentences.append(line.rstrip("\n").split("\t")[0])
            if len(sentences) == 16:
                break
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    model = BertModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    enc = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
    g = torch.Generator().manual_seed(11)
    c = model.config.hidden_size
    head = {"pre_classifier.weight": 0.02 * torch.randn(c, c, generator=g), "pre_classifier.bias": torch.zeros(c),
            "classifier.weight": 0.02 * torch.randn(2, c, generator=g), "classifier.bias": torch.zeros(2)}
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
        pooled = torch.relu(hidden[:, 0] @ head["pre_classifier.weight"].T + head["pre_classifier.bias"])
        logits = pooled @ head["classifier.weight"].T + head["classifier.bias"]
    lengths = enc["attention_mask"].sum(1)
    packed = torch.cat([hidden[b, :n] for b, n in enumerate(lengths.tolist())])
    ids = torch.cat([enc["input_ids"][b, :n] for b, n in enumerate(lengths.tolist())])
    tensors = {"input_ids": ids.float(), "lengths": lengths.float(), "last_hidden_state": packed,
               "logits": logits, **{"head." + k: v for k, v in head.items()}}
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "reference.safetensors"),
              metadata={"generator": "scripts/make_model_fixtures.py --minilm", "torch": torch.__version__})
    with open(os.path.join(out, "sentences.json"), "w", encoding="utf-8") as f:
        json.dump(sentences, f, ensure_ascii=False, indent=1)
    print(f"minilm: {len(sentences)} sentences, {packed.shape[0]} tokens")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minilm", help="all-MiniLM-L6-v2 model folder (config.json, model.safetensors, vocab.txt)")
    parser.add_argument("--sst2", default=os.path.join(ROOT, "..", "shared", "data", "sst2", "dev.tsv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    make_tiny()
    if args.minilm:
        make_minilm(args.minilm, args.sst2)
