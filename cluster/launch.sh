#!/usr/bin/env bash
# Starts an EdgeDistill run over SSH: the coordinator on the first host of a hosts file, and
# `slots` workers on every listed host (the first included). Copies nothing: each host needs the
# binary at the same path (or $EDGEDISTILL_BIN) and the data at the paths given.
#
#   cluster/launch.sh --hosts FILE [launcher options] [--] RUN OPTIONS...
#
# Launcher options:
#   --hosts FILE         hosts file (see cluster/hosts.example)                       [required]
#   --port N             coordinator port (default 29400)
#   --bind-address ADDR  address the coordinator binds (default: the first host, without user@)
#   --threads N          passed to every worker as --threads N
#   --insecure           no CURVE encryption (trusted network only); passed to the coordinator,
#                        with a join token for the run (EDGEDISTILL_JOIN_TOKEN, or a random one)
#   --keys DIR           CURVE keys, same path on every host: DIR/coordinator.key, DIR/coordinator.pub,
#                        DIR/authorized/ (worker .pub files), DIR/worker.key (edgedistill keygen --out ...)
#   --ssh "CMD"          how to reach a host (default: ssh -o BatchMode=yes)
#   --dry-run            print the commands, one per line, and start nothing
# Every other argument is a run option passed to the coordinator (--config --profile --teacher
# --train --eval --out --epochs --student-layers --seed).
set -euo pipefail

die() { echo "launch.sh: $*" >&2; exit 2; }

hosts_file="" port=29400 bind_address="" threads="" insecure=0 keys="" dry_run=0
ssh_command="ssh -o BatchMode=yes"
run_options=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --hosts) [[ $# -ge 2 ]] || die "--hosts needs a file"; hosts_file="$2"; shift 2 ;;
        --port) [[ $# -ge 2 ]] || die "--port needs a number"; port="$2"; shift 2 ;;
        --bind-address) [[ $# -ge 2 ]] || die "--bind-address needs an address"; bind_address="$2"; shift 2 ;;
        --threads) [[ $# -ge 2 ]] || die "--threads needs a number"; threads="$2"; shift 2 ;;
        --insecure) insecure=1; shift ;;
        --keys) [[ $# -ge 2 ]] || die "--keys needs a folder"; keys="$2"; shift 2 ;;
        --ssh) [[ $# -ge 2 ]] || die "--ssh needs a command"; ssh_command="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --) shift; run_options+=("$@"); break ;;
        *) run_options+=("$1"); shift ;;
    esac
done
[[ -n "$hosts_file" ]] || die "--hosts FILE is required (see cluster/hosts.example)"
[[ -r "$hosts_file" ]] || die "cannot read hosts file '$hosts_file'"
[[ "$port" =~ ^[0-9]+$ ]] && (( port >= 1 && port <= 65535 )) || die "--port '$port' must be 1..65535"
[[ -z "$threads" || "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads '$threads' must be a positive integer"
(( insecure == 0 || ${#keys} == 0 )) || die "choose either --insecure or --keys DIR, not both"
(( insecure == 1 || ${#keys} > 0 )) || die "choose --keys DIR (CURVE encryption) or --insecure (a trusted network only, with a join token)"

# --- the hosts file --------------------------------------------------------------------------
hosts=() slots=()
line_number=0
declare -A seen=()
while IFS= read -r line || [[ -n "$line" ]]; do
    line_number=$((line_number + 1))
    line="${line%%#*}"
    read -r -a fields <<< "$line" || true
    [[ ${#fields[@]} -eq 0 ]] && continue
    host="${fields[0]}" count=1
    where="$hosts_file:$line_number"
    [[ "$host" =~ ^([A-Za-z0-9._-]+@)?[A-Za-z0-9._:-]+$ && "$host" != *=* ]] ||
        die "$where: '$host' is not a host name or address"
    for field in "${fields[@]:1}"; do
        case "$field" in
            slots=*)
                count="${field#slots=}"
                [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "$where: slots must be a positive integer, not '$count'" ;;
            *) die "$where: unknown field '$field' (expected: HOST [slots=N])" ;;
        esac
    done
    [[ -z "${seen[$host]:-}" ]] || die "$where: host '$host' is already listed on line ${seen[$host]}"
    seen[$host]=$line_number
    hosts+=("$host") slots+=("$count")
done < "$hosts_file"
[[ ${#hosts[@]} -gt 0 ]] || die "$hosts_file lists no hosts"

first="${hosts[0]}"
[[ -n "$bind_address" ]] || bind_address="${first#*@}"
workers=0
for count in "${slots[@]}"; do workers=$((workers + count)); done

if [[ -n "${EDGEDISTILL_BIN:-}" ]]; then
    binary="$EDGEDISTILL_BIN"
elif command -v edgedistill >/dev/null; then
    binary="$(command -v edgedistill)"
else
    binary="$(cd "$(dirname "$0")/.." && pwd)/.build/release/edgedistill"
fi

# --- the commands ----------------------------------------------------------------------------
coordinator=("$binary" coordinator --bind "tcp://$bind_address:$port" --workers "$workers")
worker=("$binary" worker --connect "tcp://$bind_address:$port")
[[ -n "$threads" ]] && worker+=(--threads "$threads")
if (( insecure )); then
    # No encryption, but a join token for this run: a stranger on the port is sent nothing.
    token="${EDGEDISTILL_JOIN_TOKEN:-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}"
    coordinator+=(--insecure --token "$token")
    worker+=(--token "$token")
elif [[ -n "$keys" ]]; then
    coordinator+=(--secret-key "$keys/coordinator.key" --authorized-keys "$keys/authorized")
    worker+=(--secret-key "$keys/worker.key" --coordinator-key "$keys/coordinator.pub")
fi
coordinator+=("${run_options[@]}")

# One shell line run on the remote host: same working directory, then the program itself.
remote() {
    local quoted
    printf -v quoted ' %q' "$@"
    printf 'cd %q && exec%s' "$PWD" "$quoted"
}

# Single quotes for the remote line, so a dry run reads like what one would type.
squote() { local s="$1"; printf "'%s'" "${s//\'/\'\\\'\'}"; }

commands=() labels=()
commands+=("$ssh_command $(printf '%q' "$first") $(squote "$(remote "${coordinator[@]}")")")
labels+=("coordinator@$first")
for index in "${!hosts[@]}"; do
    for (( slot = 0; slot < ${slots[$index]}; slot++ )); do
        commands+=("$ssh_command $(printf '%q' "${hosts[$index]}") $(squote "$(remote "${worker[@]}")")")
        labels+=("worker@${hosts[$index]}#$slot")
    done
done

if (( dry_run )); then
    printf '%s\n' "${commands[@]}"
    exit 0
fi

# --- run -------------------------------------------------------------------------------------
pids=()
stop() {
    trap - INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap 'stop; exit 130' INT TERM
for index in "${!commands[@]}"; do
    label="${labels[$index]}"
    # Every line of output is tagged with who wrote it; $! is ssh's pid, not the tagger's.
    eval "${commands[$index]}" > >(sed -u "s|^|[$label] |") 2> >(sed -u "s|^|[$label] |" >&2) &
    pids+=($!)
    (( index == 0 )) && sleep 1   # the coordinator binds first; workers would wait for it anyway
done
status=0
for index in "${!pids[@]}"; do
    code=0
    wait "${pids[$index]}" || code=$?
    if (( code != 0 && status == 0 )); then
        echo "launch.sh: ${labels[$index]} exited with status $code; stopping the others" >&2
        status=$code
        stop
    fi
done
exit "$status"
