#!/usr/bin/env python3
"""Writes the attention-transfer reference (run by developers, not CI; PyTorch + transformers):

    python3 scripts/make_attention_fixtures.py

For the tiny DistilBERT student and the 3-layer teacher of scripts/make_model_fixtures.py and that
fixture's batch (Tests/Fixtures/models/distilbert/reference.safetensors), the loss
    0.5 * CE + 0.5 * T^2 * KL  (T = 2)  +  W * mean over student layers i of MSE(A_s[i], A_t[t_i])
with W = 0.7, A the attention probabilities (eager attention, output_attentions), the MSE over every
head's real (query, key) entries of a sentence averaged over the batch's sentences, and t = [0, 2]: student layers taken from teacher layers [0, 1]
stand in for teacher layers up to the next one taken, compared with the last of them. Writes
Tests/Fixtures/models/distilbert/attention_reference.safetensors: the attention term, the total and
the gradient of the total for every student parameter ("grad.<checkpoint key>").
"""
import os
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "Tests", "Fixtures", "models")
T, ALPHA, W, TEACHER_LAYERS = 2.0, 0.5, 0.7, [0, 2]

reference = load_file(os.path.join(MODELS, "distilbert", "reference.safetensors"))
student = AutoModelForSequenceClassification.from_pretrained(os.path.join(MODELS, "distilbert"), attn_implementation="eager").eval()
teacher = AutoModelForSequenceClassification.from_pretrained(os.path.join(MODELS, "teacher"), attn_implementation="eager").eval()
lengths = [int(n) for n in reference["lengths"].tolist()]
ids = reference["input_ids"].long()
mask = torch.zeros_like(ids)
for b, n in enumerate(lengths):
    mask[b, :n] = 1
labels = reference["labels"].long()
s = student(input_ids=ids, attention_mask=mask, output_attentions=True)
with torch.no_grad():
    t = teacher(input_ids=ids, attention_mask=mask, output_attentions=True)
ce = F.cross_entropy(s.logits, labels)
kl = F.kl_div(F.log_softmax(s.logits / T, -1), F.softmax(t.logits / T, -1), reduction="batchmean") * T * T
real = (mask[:, None, :, None] * mask[:, None, None, :]).float()          # (B, 1, T, T)
attention = 0
for i, layer in enumerate(TEACHER_LAYERS):
    a, b = s.attentions[i], t.attentions[layer]                         # (B, H, T, T)
    per_sentence = ((a - b) ** 2 * real).sum(dim=(1, 2, 3)) / (real.sum(dim=(1, 2, 3)) * a.shape[1])
    attention = attention + per_sentence.mean()
attention = W * attention / len(TEACHER_LAYERS)
total = ALPHA * ce + (1 - ALPHA) * kl + attention
student.zero_grad()
total.backward()
tensors = {"attention_loss": attention.detach().reshape(1), "total_loss": total.detach().reshape(1),
           "weight": torch.tensor([W]), "teacher_layers": torch.tensor(TEACHER_LAYERS, dtype=torch.float32)}
for name, p in student.named_parameters():
    tensors["grad." + name] = p.grad.detach().clone()
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(MODELS, "distilbert", "attention_reference.safetensors"),
          metadata={"generator": "scripts/make_attention_fixtures.py", "torch": torch.__version__, "transformers": transformers.__version__})
print(f"attention term {attention.item():.6f}, total {total.item():.6f}")
