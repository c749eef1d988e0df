#!/usr/bin/env bash
# All-reduce bandwidth, ours (edgedistill bench allreduce) against PyTorch gloo (scripts/peer_allreduce.py),
# interleaved round by round: 2 processes on loopback TCP, then 2 and 3 "hosts" in network namespaces
# (scripts/netns.sh, root only) whose links are limited to --rate. Prints markdown tables of bus
# bandwidth (mean over rounds) and writes every measurement to OUT/results.jsonl.
#
#   swift build -c release && sudo scripts/bench_allreduce.sh [--sizes 1,4,16,64] [--repeats 5]
#       [--rounds 3] [--rate 1gbit] [--out bench-out] [--max-load 1.0] [--max-wait 1800] [--skip-namespaces]
#
# Before each measurement it waits (up to --max-wait seconds) until the 1-minute load average is
# below --max-load, since other work on the machine skews these numbers more than anything
# measured; the load at each measurement is recorded and summarised.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=1,4,16,64 repeats=5 rounds=3 rate=1gbit out=bench-out max_load=1.0 max_wait=1800 namespaces=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sizes) sizes="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --max-load) max_load="$2"; shift 2 ;;
        --max-wait) max_wait="$2"; shift 2 ;;
        --skip-namespaces) namespaces=0; shift ;;
        *) echo "bench_allreduce.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
binary="${EDGEDISTILL_BIN:-$PWD/.build/release/edgedistill}"
[[ -x "$binary" ]] || { echo "bench_allreduce.sh: no $binary; run swift build -c release first" >&2; exit 2; }
python3 -c "import torch.distributed" 2>/dev/null || { echo "bench_allreduce.sh: python3 with torch is needed for gloo" >&2; exit 2; }
if (( namespaces )) && [[ $(id -u) -ne 0 ]]; then
    echo "bench_allreduce.sh: namespaces need root; rerun with sudo or pass --skip-namespaces" >&2
    exit 2
fi
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
netns=scripts/netns.sh prefix=edbench
cleanup() { (( namespaces )) && "$netns" down "$prefix" >/dev/null 2>&1 || true; }
trap cleanup EXIT

wait_quiet() {
    local waited=0 load
    while load=$(cut -d' ' -f1 /proc/loadavg); awk -v l="$load" -v m="$max_load" 'BEGIN { exit !(l >= m) }'; do
        (( waited == 0 )) && echo "  load $load >= $max_load: waiting for a quiet machine" >&2
        (( waited >= max_wait )) && { echo "  still busy after ${max_wait} s (load $load): measuring anyway" >&2; return; }
        sleep 10; waited=$((waited + 10))
    done
}

# record SETUP IMPL ROUND < one JSON result line
record() {
    python3 -c '
import json, sys
setup, impl, round_ = sys.argv[1:4]
line = [l for l in sys.stdin.read().splitlines() if l.startswith("{")][-1]
d = json.loads(line)
print(json.dumps({"setup": setup, "impl": impl, "round": int(round_), "load": open("/proc/loadavg").read().split()[0],
                  "ranks": d["ranks"], "results": d["results"]}))' "$@" >> "$results"
}

ours_loopback() { "$binary" bench allreduce --ranks 2 --sizes "$sizes" --repeats "$repeats" --json; }
gloo_loopback() { python3 scripts/peer_allreduce.py --ranks 2 --sizes "$sizes" --repeats "$repeats" 2>/dev/null; }

# Rank 0 in host 0's namespace in the foreground, the others in theirs in the background.
ours_netns() {
    local n="$1" endpoints="" r
    for (( r = 0; r < n; r++ )); do endpoints+="${endpoints:+,}tcp://$("$netns" address "$prefix" "$r"):29500"; done
    for (( r = 1; r < n; r++ )); do
        "$netns" exec "$prefix" "$r" "$binary" bench allreduce --endpoints "$endpoints" --rank "$r" \
            --sizes "$sizes" --repeats "$repeats" >/dev/null &
    done
    "$netns" exec "$prefix" 0 "$binary" bench allreduce --endpoints "$endpoints" --rank 0 \
        --sizes "$sizes" --repeats "$repeats" --json
    wait
}
gloo_netns() {
    local n="$1" master r
    master="$("$netns" address "$prefix" 0):29600"
    for (( r = 1; r < n; r++ )); do
        "$netns" exec "$prefix" "$r" python3 scripts/peer_allreduce.py --ranks "$n" --rank "$r" --master "$master" \
            --ifname eth0 --sizes "$sizes" --repeats "$repeats" >/dev/null 2>&1 &
    done
    "$netns" exec "$prefix" 0 python3 scripts/peer_allreduce.py --ranks "$n" --rank 0 --master "$master" \
        --ifname eth0 --sizes "$sizes" --repeats "$repeats" 2>/dev/null
    wait
}

if (( namespaces )); then
    "$netns" up "$prefix" 3
    for host in 0 1 2; do "$netns" rate "$prefix" "$host" "$rate"; done
fi
for (( round = 1; round <= rounds; round++ )); do
    echo "round $round of $rounds" >&2
    wait_quiet; ours_loopback | record loopback ours "$round"
    wait_quiet; gloo_loopback | record loopback gloo "$round"
    if (( namespaces )); then
        for n in 2 3; do
            wait_quiet; ours_netns "$n" | record "netns-$rate" ours "$round"
            wait_quiet; gloo_netns "$n" | record "netns-$rate" gloo "$round"
        done
    fi
done

python3 - "$results" "$rate" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
rate = sys.argv[2]
link = {"gbit": 1e9, "mbit": 1e6, "kbit": 1e3}
link_gbps = next((float(rate[:-len(u)]) * f / 8 / 1e9 for u, f in link.items() if rate.endswith(u)), None)
table = collections.defaultdict(list)
for row in rows:
    for r in row["results"]:
        table[(row["setup"], row["ranks"], row["impl"], r["megabytes"])].append(r["bus_gbps"])
loads = [float(r["load"]) for r in rows]
print(f"{len(rows)} runs, load average during them {min(loads):.2f}-{max(loads):.2f}\n")
for setup, ranks in sorted({(k[0], k[1]) for k in table}):
    print(f"### {setup}, {ranks} ranks: bus bandwidth GB/s, mean of {len(table[(setup, ranks, 'ours', rows[0]['results'][0]['megabytes'])])} rounds (min-max)\n")
    extra = " | ours / link | gloo / link" if setup.startswith("netns") and link_gbps else ""
    print(f"| MB | ours | gloo | ours / gloo{extra} |")
    print("|---|---|---|---|" + ("---|---|" if extra else ""))
    for mb in sorted({k[3] for k in table if k[0] == setup and k[1] == ranks}):
        o, g = table[(setup, ranks, "ours", mb)], table[(setup, ranks, "gloo", mb)]
        mo, mg = sum(o) / len(o), sum(g) / len(g)
        line = f"| {mb:g} | {mo:.3f} ({min(o):.2f}-{max(o):.2f}) | {mg:.3f} ({min(g):.2f}-{max(g):.2f}) | {mo / mg:.2f}"
        if extra:
            line += f" | {mo / link_gbps:.1%} | {mg / link_gbps:.1%}"
        print(line + " |")
    print()
PY
