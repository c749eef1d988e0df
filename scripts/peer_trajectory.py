#!/usr/bin/env python3
"""Replays an EdgeDistill distillation run step by step in PyTorch + transformers and compares the two
trajectories (run by developers, not CI).

    python3 scripts/peer_trajectory.py --run runs/trajectory [--threads 2] [--json-out FILE]
        [--dtype float64 --save FILE] [--reference FILE]

The run must come from `edgedistill distill --trace-steps` with every dropout of the teacher's
config.json set to 0 (both sides then compute the same function, so any gap is arithmetic or a
difference of algorithm) and with a `--validation` file (so the example indices it logs are rows of
the training file). The script reads the run's resolved config (`run_config.json`), the teacher it
exported (`teacher/`), each step's examples and losses (`kind: step` records of `metrics.jsonl`) and
its evaluations (`kind: eval`). It builds the same student (the teacher's embeddings, layers and
head), runs torch.optim.Adam with the same rate on the same batches, and reports:
  - the loss of every step on both sides (they start equal to float rounding and drift only as
    rounding differences compound);
  - at the step whose student EdgeDistill kept (its best evaluation), the distance between the two
    students, per tensor, relative to how far training moved that tensor:
    |ours - torch| / |torch - start|, and over all weights but the attention key biases (whose
    gradient is zero in exact arithmetic: see `no_gradient`).
An algorithmic difference (a wrong gradient, optimizer step, loss or batch) shows as a loss gap that
grows from the first steps and a relative distance near 1; rounding alone stays orders of magnitude below.

Rounding differences compound over hundreds of steps in any float32 training, so the yardstick is
PyTorch's own: `--dtype float64 --save FILE` replays the run in double precision (the trajectory
without rounding, in practice) and saves it; a float32 replay given `--reference FILE` then also
reports how far EdgeDistill and PyTorch in float32 each land from it.
"""
import argparse, copy, json, math, os, sys
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from peer_data import read_tsv

p = argparse.ArgumentParser()
p.add_argument("--run", required=True, help="an EdgeDistill run folder written with --trace-steps")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--json-out", help="also write the summary and per-step losses here")
p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="precision of the replay")
p.add_argument("--save", help="save this replay's losses and compared weights here (torch.save)")
p.add_argument("--reference", help="a replay saved with --save (float64): report both float32 trajectories' distance to it")
a = p.parse_args()
torch.set_num_threads(a.threads)


def fail(message):
    sys.exit(f"peer_trajectory: {message}")


for name in ("run_config.json", "metrics.jsonl", "teacher", "student"):
    if not os.path.exists(os.path.join(a.run, name)):
        fail(f"{a.run} has no {name}: expected the folder of a finished `edgedistill distill --trace-steps` run")
config = json.load(open(os.path.join(a.run, "run_config.json")))
records = [json.loads(line) for line in open(os.path.join(a.run, "metrics.jsonl"))]
steps = [r for r in records if r.get("kind") == "step" and r.get("phase") == "student"]
evals = [r for r in records if r.get("kind") == "eval" and r.get("phase") == "student"]
if not steps:
    fail(f"{a.run}/metrics.jsonl has no student `step` records: run `edgedistill distill` with --trace-steps")
if config.get("validation") is None:
    fail("the run held out part of its training file; give it --validation FILE so its indices are file rows")
if [r["step"] for r in steps] != list(range(1, len(steps) + 1)):
    fail("the step records are not steps 1, 2, 3, ...: was the run resumed or traced twice?")
distill = config["distill"]
if distill.get("schedule", "constant") != "constant" or distill.get("hidden_weight", 0) != 0:
    fail("only the constant schedule without hidden-state distillation is replayed")

train = read_tsv(config["train"])
teacher_dir = os.path.join(a.run, "teacher")
tok = AutoTokenizer.from_pretrained(teacher_dir)
dtype = torch.float64 if a.dtype == "float64" else torch.float32
teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval().to(dtype)
for key in ("dropout", "attention_dropout", "seq_classif_dropout"):
    if getattr(teacher.config, key, 0) != 0:
        fail(f"{teacher_dir}/config.json has {key} = {getattr(teacher.config, key)}: set every dropout to 0 "
             "so both sides compute the same function")
layers = distill.get("layers") or json.load(open(os.path.join(a.run, "report.json")))["student"]["layers"]
student_config = copy.deepcopy(teacher.config)
student_config.n_layers = len(layers)
student = type(teacher)(student_config).to(dtype)
student.load_state_dict(teacher.state_dict(), strict=False)
for i, t in enumerate(layers):
    student.distilbert.transformer.layer[i].load_state_dict(teacher.distilbert.transformer.layer[t].state_dict())
start = {k: v.detach().clone() for k, v in student.state_dict().items()}

# EdgeDistill keeps the first evaluation with the highest accuracy.
best_step, best_accuracy = None, -1.0
for r in evals:
    if r["accuracy"] > best_accuracy:
        best_step, best_accuracy = r["step"], r["accuracy"]
if best_step is None or best_step > len(steps):
    fail("the run has no student evaluation within its traced steps")

T, alpha = distill["temperature"], distill["alpha"]
opt = torch.optim.Adam(student.parameters(), lr=distill["learning_rate"])
student.train()
rows, snapshot = [], None
for r in steps:
    batch = r["examples"]
    enc = tok([train[i][0] for i in batch], padding=True, truncation=True, max_length=config["max_length"],
              return_tensors="pt")
    labels = torch.tensor([train[i][1] for i in batch])
    with torch.no_grad():
        teacher_logits = teacher(**enc).logits
    logits = student(**enc).logits
    ce = F.cross_entropy(logits, labels)
    kl = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(teacher_logits / T, -1), reduction="batchmean")
    loss = alpha * ce + (1 - alpha) * T * T * kl
    opt.zero_grad()
    loss.backward()
    opt.step()
    rows.append({"step": r["step"], "ours": r["loss"], "torch": loss.item(), "ours_ce": r["ce"], "torch_ce": ce.item()})
    if r["step"] == best_step:
        snapshot = {k: v.detach().clone() for k, v in student.state_dict().items()}
    if r["step"] % 50 == 0 or r["step"] == len(steps):
        print(f"step {r['step']}/{len(steps)}: loss ours {r['loss']:.6f}, torch {loss.item():.6f}", flush=True)

ours = {k: v.to(torch.float64) for k, v in
        AutoModelForSequenceClassification.from_pretrained(os.path.join(a.run, "student")).state_dict().items()}
snapshot = {k: v.to(torch.float64) for k, v in snapshot.items()}
start = {k: v.to(torch.float64) for k, v in start.items()}
missing = sorted(set(snapshot) - set(ours))
if missing:
    fail(f"{a.run}/student has no tensor {missing[0]}")


def no_gradient(name):
    """The key bias: softmax ignores a constant added to all of a query's scores, so its gradient is
    exactly zero in exact arithmetic, and in float32 Adam turns the rounding noise into steps of
    about the learning rate, on both sides. Left out of the distance over all weights."""
    return name.endswith("attention.k_lin.bias")


def distance(x, y):
    """Per tensor, |x - y| relative to how far `y` moved from the start; and over all weights that
    have a gradient."""
    tensors = []
    for name in y:
        moved, gap = (y[name] - start[name]).norm().item(), (x[name] - y[name]).norm().item()
        tensors.append({"tensor": name, "moved": moved, "gap": gap, "relative_gap": gap / moved if moved > 0 else 0.0,
                        "max_abs_gap": (x[name] - y[name]).abs().max().item(), "no_gradient": no_gradient(name)})
    tensors.sort(key=lambda t: -t["relative_gap"])
    kept = [t for t in tensors if not t["no_gradient"]]
    everything = math.sqrt(sum(t["gap"] ** 2 for t in kept)) / math.sqrt(sum(t["moved"] ** 2 for t in kept))
    return everything, kept + [t for t in tensors if t["no_gradient"]]


def loss_gaps(x, y):
    """The largest relative gap between two per-step loss lists in each stretch of steps."""
    out = {}
    for lo, hi in [(1, 10), (11, 100), (101, len(x))]:
        part = [abs(u - v) / abs(v) for step, (u, v) in enumerate(zip(x, y), 1) if lo <= step <= hi]
        if part:
            out[f"steps {lo}-{hi}"] = max(part)
    return out


our_losses, torch_losses = [r["ours"] for r in rows], [r["torch"] for r in rows]
everything, tensors = distance(ours, snapshot)
summary = {
    "benchmark": "peer-trajectory", "run": a.run, "dtype": a.dtype, "steps": len(steps), "compared_step": best_step,
    "layers": layers, "max_relative_loss_gap": loss_gaps(our_losses, torch_losses),
    "mean_loss": {"ours": sum(our_losses) / len(rows), "torch": sum(torch_losses) / len(rows)},
    "relative_gap_all_weights": everything,
    "largest_relative_gaps": tensors[:5],
}
if a.reference:
    reference = torch.load(a.reference)
    if reference["compared_step"] != best_step or len(reference["losses"]) != len(rows):
        fail(f"{a.reference} replays another run (step {reference['compared_step']} of {len(reference['losses'])})")
    summary["against_reference"] = {
        "reference_dtype": reference["dtype"],
        "ours": {"relative_gap_all_weights": distance(ours, reference["weights"])[0],
                 "max_relative_loss_gap": loss_gaps(our_losses, reference["losses"])},
        "torch": {"relative_gap_all_weights": distance(snapshot, reference["weights"])[0],
                  "max_relative_loss_gap": loss_gaps(torch_losses, reference["losses"])},
    }
if a.save:
    torch.save({"dtype": a.dtype, "compared_step": best_step, "losses": torch_losses, "weights": snapshot},
               a.save + ".tmp")
    os.replace(a.save + ".tmp", a.save)
print(json.dumps(summary))
if a.json_out:
    with open(a.json_out + ".tmp", "w") as f:
        json.dump({"summary": summary, "steps": rows, "tensors": tensors}, f)
    os.replace(a.json_out + ".tmp", a.json_out)
