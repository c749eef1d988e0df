#!/bin/sh
# Issue 5 latency table: EdgeDistill's variants and the peers (scripts/peer_quantization.py),
# interleaved round by round so that load from other processes hits both alike.
#   scripts/measure_quantization.sh TEACHER STUDENT VARIANTS_DIR DATA ROUNDS > results.jsonl
# VARIANTS_DIR holds student-int8/, student-int8-emb/, student-fp16/ (from `edgedistill bench variants`
# or a run folder). Each line is one JSON measurement, with the round and the load average.
set -eu
TEACHER=$1 STUDENT=$2 VARIANTS=$3 DATA=$4 ROUNDS=${5:-2}
BIN=${BIN:-.build/release/edgedistill}
for round in $(seq 1 "$ROUNDS"); do
  for threads in 1 2; do
    for model in "$TEACHER" "$STUDENT" "$VARIANTS/student-fp16" "$VARIANTS/student-int8" "$VARIANTS/student-int8-emb"; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      "$BIN" bench latency --model "$model" --data "$DATA" --threads "$threads" --sentences 200 --json |
        sed "s|^{|{\"engine\":\"edgedistill\",\"round\":$round,\"load\":$load,|"
    done
  done
  load=$(cut -d' ' -f1 /proc/loadavg)
  python3 scripts/peer_quantization.py --model "$STUDENT" --data "$DATA" --threads 1,2 \
      --engines torch-int8,ort-int8 2>/dev/null | sed "s|^{|{\"round\": $round, \"load\": $load, |"
done
