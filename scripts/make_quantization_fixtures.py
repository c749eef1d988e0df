#!/usr/bin/env python3
"""Writes the int8 reference fixture EdgeDistill's quantization tests compare against (run by
developers, not CI; needs torch and transformers).

    python3 scripts/make_quantization_fixtures.py

Tests/Fixtures/models/distilbert/quantized_reference.safetensors: 8 seeded sentences of random token
ids (lengths 3..16) through the tiny DistilBERT fixture, one sentence at a time: `input_ids` (8, 16)
as F32, zero padded, `lengths` (8), `logits_fp32` (8, 3), and `logits_torch_int8` (8, 3) from
torch.ao.quantization.quantize_dynamic (qint8 weights, per-tensor, the default dynamic qconfig).
QuantizationTests checks that EdgeDistill's int8 logits are as close to fp32 as torch's are.
"""
import os
import torch
from safetensors.torch import save_file
from transformers import DistilBertForSequenceClassification

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "distilbert")


def main():
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification.from_pretrained(MODEL).eval()
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    g = torch.Generator().manual_seed(5)
    lengths = [3, 16, 7, 11, 5, 9, 14, 4]
    ids = torch.zeros(len(lengths), 16)
    fp32, int8 = [], []
    with torch.inference_mode():
        for i, n in enumerate(lengths):
            body = torch.randint(5, 120, (n - 2,), generator=g)
            row = torch.cat([torch.tensor([2]), body, torch.tensor([3])]).unsqueeze(0)
            ids[i, :n] = row[0].float()
            fp32.append(model(input_ids=row).logits[0])
            int8.append(quantized(input_ids=row).logits[0])
    save_file({"input_ids": ids, "lengths": torch.tensor(lengths, dtype=torch.float32),
               "logits_fp32": torch.stack(fp32), "logits_torch_int8": torch.stack(int8)},
              os.path.join(MODEL, "quantized_reference.safetensors"))


if __name__ == "__main__":
    main()
