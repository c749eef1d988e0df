#!/usr/bin/env bash
# Training steps on 1 and 2 worker hosts made of network namespaces (scripts/netns.sh), every link
# rate-limited with tbf, one thread per worker: `edgedistill bench scaling --bind` in host 0 (the
# coordinator), `edgedistill worker` in hosts 1..N. Needs root and a release build.
#
#   sudo scripts/bench_scaling_netns.sh TEACHER DATA OUT [RATES] [PHASES]
#
# TEACHER: a fine-tuned teacher folder; DATA: a labelled file; OUT: a folder for RATE-PHASE-N-PRECISION.json
# and .log (2 workers with fp32 and bf16 gradients, 1 worker with fp32: it sends nothing); RATES (default "1gbit 100mbit") are tc rates; PHASES (default "distill cached finetune") are
# `bench scaling --phase` values. The summary (scripts/scaling_model.py --check OUT) compares them with
# the scaling model's predictions.
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
teacher=$(realpath "$1"); data=$(realpath "$2"); out=$3
rates=${4:-"1gbit 100mbit"}; phases=${5:-"distill cached finetune"}
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/.build/release/edgedistill"
[[ -x "$bin" ]] || { echo "bench_scaling_netns.sh: build first (swift build -c release)" >&2; exit 2; }
mkdir -p "$out"
prefix=edscale
net="$here/scripts/netns.sh"
"$net" up $prefix 3 >/dev/null
trap '"$net" down $prefix >/dev/null 2>&1 || true' EXIT
address=$("$net" address $prefix 0)
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=5600
for rate in $rates; do
    for i in 0 1 2; do "$net" rate $prefix $i "$rate"; done
    for phase in $phases; do
        steps=60; batch=16
        if [[ $phase == finetune ]]; then steps=20; batch=32; fi
        for run in 1-fp32 2-fp32 2-bf16; do
            n=${run%-*}; precision=${run#*-}
            port=$((port + 1))
            name="$out/$rate-$phase-$run"
            EDGEDISTILL_JOIN_TOKEN=$token "$net" exec $prefix 0 "$bin" bench scaling --teacher "$teacher" --data "$data" \
                --steps $steps --batch-size $batch --workers $n --bind "tcp://$address:$port" --insecure --phase "$phase" \
                --gradient-precision "$precision" --json > "$name.json" 2> "$name.log" &
            coordinator=$!
            sleep 2
            for w in $(seq 1 $n); do
                EDGEDISTILL_JOIN_TOKEN=$token "$net" exec $prefix "$w" "$bin" worker --connect "tcp://$address:$port" \
                    --threads 1 >> "$name.log" 2>&1 &
            done
            wait $coordinator
            wait
            echo "bench_scaling_netns.sh: $rate $phase $run: $(grep -o '"step_ms":[0-9.]*' "$name.json" | head -1)" >&2
        done
    done
done
