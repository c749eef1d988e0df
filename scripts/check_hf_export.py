#!/usr/bin/env python3
"""Checks that a model folder EdgeDistill wrote loads in transformers and gives EdgeDistill's logits.

    python3 scripts/check_hf_export.py runs/quick/student [--edgedistill .build/release/edgedistill]

Loads the folder with AutoTokenizer + AutoModelForSequenceClassification, runs 32 SST-2 dev
sentences, and compares with `edgedistill predict`-style logits computed by the Swift binary
(`edgedistill inspect --logits`). Then 32 sentence pairs (neighbouring dev sentences, some repeated
until longest-first truncation cuts them at 128 tokens) through `tokenizer(text, pair)` against
`edgedistill predict` on {"text", "text_pair"} lines. Exits non-zero when the max relative logit
difference exceeds 1e-4 or a pair's probabilities differ by more than 1e-4.
"""
import argparse, json, os, subprocess, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--edgedistill", default=".build/release/edgedistill")
p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "sst2", "dev.tsv"))
a = p.parse_args()
sentences = [l.split("\t")[0] for l in open(a.data, encoding="utf-8").read().splitlines()[1:33]]
tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForSequenceClassification.from_pretrained(a.model).eval()
with torch.no_grad():
    ref = model(**tok(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")).logits
out = subprocess.run([a.edgedistill, "inspect", "--model", a.model, "--logits", "--json"], input="\n".join(sentences),
                     capture_output=True, text=True, check=True)
ours = torch.tensor(json.loads(out.stdout)["logits"])
err = ((ours - ref).abs().max() / ref.abs().max()).item()
print(f"{type(model).__name__} from {a.model}: {len(sentences)} sentences, max relative logit difference {err:.2e}")

firsts = [sentences[i] * (1 + 4 * (i % 4 == 0)) for i in range(32)]
seconds = [sentences[(i + 1) % 32] * (1 + 6 * (i % 8 == 1)) for i in range(32)]
encoded = tok(firsts, seconds, padding=True, truncation=True, max_length=128, return_tensors="pt")
with torch.no_grad():
    ref_pairs = torch.softmax(model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits, -1)
lines = "\n".join(json.dumps({"text": t, "text_pair": u}) for t, u in zip(firsts, seconds))
out = subprocess.run([a.edgedistill, "predict", "--model", a.model], input=lines, capture_output=True, text=True, check=True)
names = [model.config.id2label[i] for i in range(model.config.num_labels)]
ours_pairs = torch.tensor([[json.loads(l)["probabilities"][n] for n in names] for l in out.stdout.splitlines()])
pair_err = (ours_pairs - ref_pairs).abs().max().item()
cut = int((encoded["attention_mask"].sum(1) == 128).sum())
print(f"  {len(firsts)} sentence pairs ({cut} cut at 128 tokens), max probability difference {pair_err:.2e}")
sys.exit(0 if err < 1e-4 and pair_err < 1e-4 else 1)
