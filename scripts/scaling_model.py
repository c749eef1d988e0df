#!/usr/bin/env python3
"""A model of data-parallel step time on N worker hosts, from what one run measured, checked against
measured runs (no third-party packages):

    python3 scripts/scaling_model.py --measured OUT [--check] [--markdown]

OUT holds `edgedistill bench scaling --json` results named RATE-PHASE-N-PRECISION.json
(scripts/bench_scaling_netns.sh writes them; RATE is a tc rate such as 1gbit or 100mbit, N the worker count,
PRECISION the gradients' wire format, fp32 or bf16). From the 1- and 2-worker
runs of each phase it takes:
  - compute(b) = F + c * b: the slowest worker's forward+backward per step at per-worker batch b (the
    runs at b = B and B/2 give F and c);
  - U: the rest of a 1-worker step (optimizer update every worker repeats, step and commit messages);
  - S: the bytes the ring carries per step (`gradient_floats` x 4 for fp32, x 2 for bf16).
The ring all-reduce of S bytes over N hosts on links of rate L takes
  C(N) = 2 (N-1)/N * S / (eta * L) + 2 (N-1) * latency,
eta the share of the link the ring reaches (0.93: the all-reduce benchmark's 90-95% at >= 4 MB). Gradients
leave layer by layer during the backward pass, so half of compute(b) can hide communication (measured
on loopback: 19 of 24 ms hidden behind a 36 ms step). A step takes
  T(N, b) = compute(b) + U + max(0, C(N) - 0.5 * compute(b)).
Strong scaling keeps the global batch B (b = B/N, N <= B); weak scaling keeps b = B per worker (the
global batch grows, which changes the recipe). Speed-up is examples/s over one worker's.

--check prints, for every measured 2-worker run, the predicted and measured step time and the error; the
model is fitted on each phase's fp32 runs at the fastest rate measured and checked on every other run.
"""
import argparse, glob, json, os, re

p = argparse.ArgumentParser()
p.add_argument("--measured", required=True, help="folder of RATE-PHASE-N-PRECISION.json files")
p.add_argument("--efficiency", type=float, default=0.93)
p.add_argument("--latency-ms", type=float, default=0.2, help="per ring hop")
p.add_argument("--hide", type=float, default=0.5, help="share of compute(b) that hides communication")
p.add_argument("--check", action="store_true")
p.add_argument("--markdown", action="store_true")
a = p.parse_args()

RATES = {"100mbit": 100e6, "1gbit": 1e9, "10gbit": 10e9}


def rate_bits(name):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(k|m|g)bit", name)
    if not m:
        raise SystemExit(f"scaling_model.py: cannot read the rate '{name}' (expected e.g. 100mbit, 1gbit)")
    return float(m.group(1)) * {"k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]


runs = {}
for path in sorted(glob.glob(os.path.join(a.measured, "*.json"))):
    m = re.fullmatch(r"([0-9.]+[kmg]bit)-([a-z]+)-(\d+)-(fp32|bf16)\.json", os.path.basename(path))
    if not m:
        continue
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"scaling_model.py: {path}: not a bench scaling result ({e})")
    r = [x for x in d["results"] if x["workers"] == int(m.group(3))]
    if not r:
        raise SystemExit(f"scaling_model.py: {path}: no result for {m.group(3)} worker(s)")
    runs[(m.group(1), m.group(2), int(m.group(3)), m.group(4))] = dict(r[0], batch=d["batch_size"], floats=d["gradient_floats"])
if not runs:
    raise SystemExit(f"scaling_model.py: no RATE-PHASE-N-PRECISION.json files in {a.measured}")
fp32 = {(rate, phase, n): r for (rate, phase, n, precision), r in runs.items() if precision == "fp32"}


class Phase:
    def __init__(self, one, two):
        self.batch = one["batch"]
        b1, b2 = self.batch, self.batch / 2
        self.c = (one["compute_ms"] - two["compute_ms"]) / (b1 - b2)
        self.f = one["compute_ms"] - self.c * b1
        self.u = one["step_ms"] - one["compute_ms"] - one["allreduce_ms"]
        self.floats = one["floats"]

    def compute(self, b):
        return self.f + self.c * b

    def comm(self, n, bits, bytes_per_float=4):
        if n == 1:
            return 0.0
        s = self.floats * bytes_per_float
        return 1000 * 2 * (n - 1) / n * s / (a.efficiency * bits / 8) + 2 * (n - 1) * a.latency_ms

    def step(self, n, bits, b, bytes_per_float=4):
        c = self.compute(b)
        return c + self.u + max(0.0, self.comm(n, bits, bytes_per_float) - a.hide * c)

    def speedup(self, n, bits, weak, bytes_per_float=4):
        one = self.step(1, bits, self.batch)
        if weak:
            return n * one / self.step(n, bits, self.batch, bytes_per_float)
        return one / self.step(n, bits, self.batch / n, bytes_per_float)


phases = {}
for (rate, phase, n) in fp32:
    candidates = sorted({r for (r, ph, k) in fp32 if ph == phase and (r, ph, 1) in fp32 and (r, ph, 2) in fp32},
                        key=rate_bits, reverse=True)
    if candidates and phase not in phases:
        fastest = candidates[0]
        phases[phase] = (fastest, Phase(fp32[(fastest, phase, 1)], fp32[(fastest, phase, 2)]))

if a.check:
    print("| phase | link | gradients | 2 workers: predicted step (ms) | measured (ms) | error | predicted speed-up | measured |")
    print("|---|---|---|---|---|---|---|---|")
    for (rate, phase, n, precision), r in sorted(runs.items()):
        if n != 2 or phase not in phases or (rate, phase, 1) not in fp32:
            continue
        fitted, model = phases[phase]
        if (rate, precision) == (fitted, "fp32"):
            continue  # the run the model was fitted on
        # The compute at each rate is scaled by that rate's own 1-worker run (the host's speed drifts).
        drift = fp32[(rate, phase, 1)]["compute_ms"] / model.compute(model.batch)
        compute = model.compute(model.batch / 2) * drift
        one = fp32[(rate, phase, 1)]["step_ms"]
        u = one - fp32[(rate, phase, 1)]["compute_ms"] - fp32[(rate, phase, 1)]["allreduce_ms"]
        width = 2 if precision == "bf16" else 4
        predicted = compute + u + max(0.0, model.comm(2, rate_bits(rate), width) - a.hide * compute)
        measured = r["step_ms"]
        print(f"| {phase} | {rate} | {precision} | {predicted:.1f} | {measured:.1f} | {100 * (predicted - measured) / measured:+.0f}% "
              f"| {one / predicted:.2f}x | {one / measured:.2f}x |")
    print()

print("| phase | gradient | link | " + " | ".join(f"{n} hosts" for n in (2, 4, 8, 16, 32)) + " |")
print("|---|---|---|" + "---|" * 5)
for phase, (fitted, model) in sorted(phases.items()):
    for precision, width in (("fp32", 4), ("bf16", 2)):
        for rate in ("100mbit", "1gbit", "10gbit"):
            cells = []
            for n in (2, 4, 8, 16, 32):
                strong = f"{model.speedup(n, RATES[rate], False, width):.2f}x" if n <= model.batch else "-"
                weak = f"{model.speedup(n, RATES[rate], True, width):.1f}x"
                cells.append(f"{strong} / {weak}")
            print(f"| {phase} | {precision} | {rate} | " + " | ".join(cells) + " |")
print()
print("Cells: strong scaling (global batch kept; '-' where a worker would get less than one example) / weak scaling "
      "(per-worker batch kept). bf16 rows are predictions for gradients sent in bf16 (half the bytes); "
      f"eta {a.efficiency}, latency {a.latency_ms} ms per hop, {a.hide} of compute hides communication.")
for phase, (fitted, model) in sorted(phases.items()):
    print(f"{phase}: compute(b) = {model.f:.1f} + {model.c:.2f} b ms, U = {model.u:.1f} ms, "
          f"{model.floats * 4 / 1e6:.1f} MB per step in fp32 (fitted on {fitted})")
