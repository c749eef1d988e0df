#!/usr/bin/env python3
"""Writes head-pruned fixtures with transformers' own head pruning (run by developers, not CI).

transformers 5 removed head pruning (`prune_heads`, `config.pruned_heads`); 4.x has it. Install a
4.x next to the current one and run with it first on the path:

    pip download transformers==4.57.3 tokenizers==0.22.1 huggingface-hub==0.36.0 --no-deps -d /tmp/tf4
    pip install --no-deps --target /tmp/tf4lib /tmp/tf4/*.whl
    PYTHONPATH=/tmp/tf4lib python3 scripts/make_head_pruning_fixtures.py

For each tiny student of scripts/make_model_fixtures.py (Tests/Fixtures/models/{distilbert,bert})
it loads the checkpoint, removes heads {layer 0: [1, 3], layer 1: [2]} with `model.prune_heads`,
and writes Tests/Fixtures/models/{family}-pruned-heads/: the pruned checkpoint as transformers
saves it (config.json with `pruned_heads`, q/k/v and out_lin of the pruned widths) and
reference.safetensors with the same batch, labels and teacher logits as the unpruned fixture, the
pruned model's logits, losses and the gradient of every parameter, in that fixture's format.
"""
import os
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForSequenceClassification

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "Tests", "Fixtures", "models")
PRUNE = {0: [1, 3], 1: [2]}
T, ALPHA = 2.0, 0.5

if int(transformers.__version__.split(".")[0]) >= 5:
    raise SystemExit(f"transformers {transformers.__version__} has no head pruning: run with a 4.x first on "
                     "PYTHONPATH (see this script's docstring)")

for family in ["distilbert", "bert"]:
    source = os.path.join(MODELS, family)
    reference = load_file(os.path.join(source, "reference.safetensors"))
    if family == "bert":
        # The fixture stores the encoder without "bert." (as all-MiniLM-L6-v2 does) next to the
        # head's "classifier.*", a mix 4.x's from_pretrained refuses: load the tensors by hand.
        config = AutoConfig.from_pretrained(source, attn_implementation="eager")
        model = AutoModelForSequenceClassification.from_config(config).eval()
        weights = load_file(os.path.join(source, "model.safetensors"))
        model.load_state_dict({(k if k.startswith("classifier.") else "bert." + k): v for k, v in weights.items()})
    else:
        model = AutoModelForSequenceClassification.from_pretrained(source, attn_implementation="eager").eval()
    model.prune_heads(PRUNE)

    lengths = [int(n) for n in reference["lengths"].tolist()]
    ids = reference["input_ids"].long()
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    kwargs = dict(input_ids=ids, attention_mask=mask)
    if family == "bert":
        kwargs["token_type_ids"] = torch.zeros_like(ids)
    logits = model(**kwargs).logits
    labels = reference["labels"].long()
    teacher = reference["teacher_logits"]
    ce = F.cross_entropy(logits, labels)
    kl = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(teacher / T, -1), reduction="batchmean") * T * T
    loss = ALPHA * ce + (1 - ALPHA) * kl
    model.zero_grad()
    loss.backward()

    out = os.path.join(MODELS, family + "-pruned-heads")
    os.makedirs(out, exist_ok=True)
    model.config.save_pretrained(out)
    prefix = "bert." if family == "bert" else None   # stored without "bert.", as the unpruned fixture is
    def key(name):
        return name[len(prefix):] if prefix and name.startswith(prefix) else name
    state = {key(k): v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    tensors = {name: reference[name] for name in ["input_ids", "lengths", "labels", "teacher_logits"]}
    tensors.update({"logits": logits.detach(), "loss_ce": ce.detach().reshape(1), "loss_kl": kl.detach().reshape(1),
                    "loss_distill": loss.detach().reshape(1)})
    for name, p in model.named_parameters():
        tensors["grad." + key(name)] = p.grad.detach().clone()
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "reference.safetensors"),
              metadata={"generator": "scripts/make_head_pruning_fixtures.py", "torch": torch.__version__,
                        "transformers": transformers.__version__})
    print(f"{family}: pruned {PRUNE}, logits {logits.detach().numpy().round(4).tolist()} loss {loss.item():.6f}")
