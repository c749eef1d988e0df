#!/usr/bin/env bash
# Replays a 500-step distillation in PyTorch, step by step (run by developers, not CI; needs
# PyTorch + transformers, about 25 minutes on 2 cores).
#
#   bash scripts/trajectory_check.sh TEACHER_DIR [TRAIN_TSV] [OUT_DIR]
#
# TEACHER_DIR is a fine-tuned teacher folder (e.g. runs/full-6/teacher). The script copies it with
# every dropout set to 0 (both sides then compute the same function), takes the first 4,000 rows of
# TRAIN_TSV for training (2 epochs = 500 steps; the second on cached teacher logits) and the next
# 300 for validation (all in OUT_DIR-inputs), runs `edgedistill distill --trace-steps`, then `scripts/peer_trajectory.py`
# twice: in float64 (the yardstick, saved) and in float32 against it. The last line printed is the
# comparison as JSON; BENCHMARKS.md ("step by step") explains the figures.
set -euo pipefail
teacher=${1:?usage: trajectory_check.sh TEACHER_DIR [TRAIN_TSV] [OUT_DIR]}
train=${2:-../shared/data/sst2/train.tsv}
out=${3:-runs/trajectory}
binary=${EDGEDISTILL:-.build/release/edgedistill}
[ -d "$teacher" ] || { echo "trajectory_check: no teacher folder $teacher" >&2; exit 1; }
[ -f "$train" ] || { echo "trajectory_check: no training file $train" >&2; exit 1; }
[ -x "$binary" ] || { echo "trajectory_check: no $binary (swift build -c release, or set EDGEDISTILL)" >&2; exit 1; }
[ ! -e "$out" ] || { echo "trajectory_check: $out exists; remove it or give another OUT_DIR" >&2; exit 1; }

work=$out-inputs   # kept: run_config.json names these files
rm -rf "$work" && mkdir -p "$work"
cp -r "$teacher" "$work/teacher"
python3 - "$work/teacher/config.json" <<'EOF'
import json, os, sys
path = sys.argv[1]
config = json.load(open(path))
for key in ("dropout", "attention_dropout", "seq_classif_dropout", "qa_dropout", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "classifier_dropout"):
    if key in config:
        config[key] = 0.0
json.dump(config, open(path + ".tmp", "w"), indent=2)
os.replace(path + ".tmp", path)
EOF
head -n 4001 "$train" > "$work/train.tsv"
{ head -n 1 "$train"; sed -n 4002,4301p "$train"; } > "$work/valid.tsv"
cat > "$work/trajectory.yaml" <<EOF
teacher: $work/teacher
train: $work/train.tsv
validation: $work/valid.tsv
eval: [$work/valid.tsv]
seed: 42
threads: 2
checkpoint_every: 0
trace_steps: true
finetune:
  mode: never
distill:
  epochs: 2
  eval_every: 100
EOF
"$binary" distill --config "$work/trajectory.yaml" --out "$out"
python3 scripts/peer_trajectory.py --run "$out" --dtype float64 --save "$out/torch64.pt" --json-out "$out/torch64.json"
python3 scripts/peer_trajectory.py --run "$out" --reference "$out/torch64.pt" --json-out "$out/torch32.json"
