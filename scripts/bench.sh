#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md, ours and the PyTorch peer interleaved in one run on this machine.
#   bash scripts/bench.sh [TEACHER] [DATA] [THREADS]
set -euo pipefail
teacher=${1:-models/all-MiniLM-L6-v2}; data=${2:-../shared/data/sst2}; threads=${3:-2}
bin=.build/release/edgedistill
for round in 1 2; do
  echo "# round $round"
  $bin bench train-step --model "$teacher" --data "$data/train.tsv" --batch-size 32 --steps 20 --threads "$threads" --json
  python3 scripts/peer_train_step.py --model "$teacher" --data "$data/train.tsv" --batch-size 32 --steps 20 --threads "$threads"
  $bin bench distill-step --teacher "$teacher" --student-layers 2 --data "$data/train.tsv" --batch-size 16 --steps 30 --threads "$threads" --json
  python3 scripts/peer_distill_step.py --teacher "$teacher" --data "$data/train.tsv" --batch-size 16 --steps 30 --threads "$threads"
done
# The tokenizer alone (one thread): every training sentence, the median of 3 passes.
$bin bench tokenizer --model "$teacher" --data "$data/train.tsv" --rounds 3 --json
