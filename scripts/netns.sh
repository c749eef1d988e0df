#!/usr/bin/env bash
# A small emulated LAN of network namespaces, for tests and benchmarks that need real TCP between
# "hosts" on one machine, with link delay, loss and rate. Needs root and iproute2 (ip, tc).
#
#   scripts/netns.sh up PREFIX N [--subnet X]   namespaces PREFIX-0..N-1, host i at 10.77.X.(i+1)/24
#   scripts/netns.sh down PREFIX                removes them all (safe when nothing exists)
#   scripts/netns.sh address PREFIX i           prints host i's address
#   scripts/netns.sh netem PREFIX i DELAY_MS LOSS_PCT   delay/loss on host i's outgoing traffic
#   scripts/netns.sh rate PREFIX i RATE         e.g. 1gbit: host i's link, both directions (tbf)
#   scripts/netns.sh clear PREFIX i             removes host i's delay, loss and rate
#   scripts/netns.sh exec PREFIX i CMD...       runs CMD in host i's namespace (exec: same pid)
#   scripts/netns.sh list PREFIX                the namespaces of PREFIX that exist
#
# Layout: every host namespace PREFIX-i has `lo` and `eth0`; eth0's peer `hI` sits in a switch
# namespace PREFIX-sw, enslaved to the bridge `br0` there. Nothing is created in, or changed in,
# the root namespace's network. X defaults to a number 1..254 derived from PREFIX (or $NETNS_SUBNET);
# prefixes are separate LANs in any case, X only keeps addresses readable apart.
#
# Every command is idempotent: `up` on an existing set first removes it, `down` twice is fine.
set -euo pipefail

die() { echo "netns.sh: $*" >&2; exit 2; }
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

check_prefix() {
    # Namespace names become file names under /run/netns; keep them plain and short.
    [[ "$1" =~ ^[A-Za-z][A-Za-z0-9_]{0,23}$ ]] ||
        die "prefix '$1' must be a letter then at most 23 letters, digits or '_'"
}
check_index() {
    [[ "$1" =~ ^[0-9]+$ ]] || die "host index '$1' is not a number"
}
need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    command -v ip >/dev/null || die "'ip' (iproute2) not found"
}
subnet_of() {
    if [[ -n "${NETNS_SUBNET:-}" ]]; then echo "$NETNS_SUBNET"; return; fi
    local sum
    sum=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
    echo $(( sum % 254 + 1 ))
}
hosts_of() {
    # The host namespaces of PREFIX that exist, sorted by index.
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-[0-9]+\$" | sort -t- -k2 -n || true
}
host_ns() {
    local ns="$1-$2"
    ip netns list | awk '{print $1}' | grep -qx "$ns" || die "namespace $ns does not exist (run: $0 up $1 N)"
    echo "$ns"
}

cmd_down() {
    local prefix="$1" ns
    for ns in $(hosts_of "$prefix") "$prefix-sw"; do
        if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
            # Deleting a namespace kills its interfaces; processes still inside keep it alive
            # (unlinked) until they exit, so end them first.
            local pids
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
            ip netns delete "$ns"
        fi
    done
    rm -rf "/run/edgedistill-netns/$prefix"
}

cmd_up() {
    local prefix="$1" count="$2" subnet="$3"
    [[ "$count" =~ ^[0-9]+$ ]] && (( count >= 1 && count <= 250 )) || die "host count '$count' must be 1..250"
    [[ "$subnet" =~ ^[0-9]+$ ]] && (( subnet >= 0 && subnet <= 255 )) || die "subnet '$subnet' must be 0..255"
    cmd_down "$prefix"
    local sw="$prefix-sw"
    ip netns add "$sw"
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    local i
    for (( i = 0; i < count; i++ )); do
        local ns="$prefix-$i"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$sw" link add "h$i" type veth peer name eth0 netns "$ns"
        ip -n "$sw" link set "h$i" master br0
        ip -n "$sw" link set "h$i" up
        ip -n "$ns" addr add "10.77.$subnet.$((i + 1))/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    mkdir -p "/run/edgedistill-netns/$prefix"
    echo "$subnet" > "/run/edgedistill-netns/$prefix/subnet"
    # The bridge forwards at once (no STP learning delay), but wait until every link reports up.
    for (( i = 0; i < count; i++ )); do
        local tries=0
        until ip -n "$prefix-$i" link show eth0 | grep -q 'state UP'; do
            (( ++tries > 50 )) && die "eth0 of $prefix-$i did not come up"
            sleep 0.02
        done
    done
}

cmd_address() {
    local prefix="$1" i="$2" subnet
    host_ns "$prefix" "$i" >/dev/null
    subnet=$(cat "/run/edgedistill-netns/$prefix/subnet" 2>/dev/null || subnet_of "$prefix")
    echo "10.77.$subnet.$((i + 1))"
}

# Rates in bits per second, for the token bucket's burst.
rate_bits() {
    local rate="$1" number unit
    [[ "$rate" =~ ^([0-9]+)([kmgKMG]?)(bit|bps)$ ]] || die "rate '$rate' must look like 100mbit or 1gbit"
    number="${BASH_REMATCH[1]}"; unit="${BASH_REMATCH[2],,}"
    case "$unit" in k) number=$((number * 1000));; m) number=$((number * 1000000));; g) number=$((number * 1000000000));; esac
    [[ "${BASH_REMATCH[3]}" == bps ]] && number=$((number * 8))
    echo "$number"
}

# Rebuilds the queueing discipline of host i from its saved settings: on eth0 (host -> LAN) netem
# as root with the token bucket below it; on the switch side hI (LAN -> host) the token bucket.
apply_qdisc() {
    local prefix="$1" i="$2" dir="/run/edgedistill-netns/$1"
    local ns sw="$prefix-sw" netem="" rate=""
    ns=$(host_ns "$prefix" "$i")
    [[ -f "$dir/$i.netem" ]] && netem=$(cat "$dir/$i.netem")
    [[ -f "$dir/$i.rate" ]] && rate=$(cat "$dir/$i.rate")
    tc -n "$ns" qdisc del dev eth0 root 2>/dev/null || true
    tc -n "$sw" qdisc del dev "h$i" root 2>/dev/null || true
    local tbf="" parent="root"
    if [[ -n "$rate" ]]; then
        local bits burst
        bits=$(rate_bits "$rate")
        # At least 1 ms of traffic and two 64 KiB GSO packets: veth hands tbf whole TSO segments,
        # and a bucket smaller than a segment would drop it forever.
        burst=$(( bits / 8 / 1000 )); (( burst < 131072 )) && burst=131072
        tbf="tbf rate $rate burst $burst latency 100ms"
    fi
    if [[ -n "$netem" ]]; then
        # shellcheck disable=SC2086
        tc -n "$ns" qdisc add dev eth0 root handle 1: netem $netem ||
            die "tc netem failed: this kernel may lack sch_netem (CONFIG_NET_SCH_NETEM)"
        parent="parent 1:1"
    fi
    if [[ -n "$tbf" ]]; then
        # shellcheck disable=SC2086
        tc -n "$ns" qdisc add dev eth0 $parent handle 10: $tbf || die "tc tbf failed: the kernel may lack sch_tbf"
        # shellcheck disable=SC2086
        tc -n "$sw" qdisc add dev "h$i" root handle 10: $tbf || die "tc tbf failed: the kernel may lack sch_tbf"
    fi
}

cmd_netem() {
    local prefix="$1" i="$2" delay="$3" loss="$4"
    [[ "$delay" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "delay '$delay' must be a number of milliseconds"
    [[ "$loss" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "loss '$loss' must be a percentage"
    host_ns "$prefix" "$i" >/dev/null
    mkdir -p "/run/edgedistill-netns/$prefix"
    echo "delay ${delay}ms loss ${loss}%" > "/run/edgedistill-netns/$prefix/$i.netem"
    apply_qdisc "$prefix" "$i" || { rm -f "/run/edgedistill-netns/$prefix/$i.netem"; exit 1; }
}

cmd_rate() {
    local prefix="$1" i="$2" rate="$3"
    rate_bits "$rate" >/dev/null
    host_ns "$prefix" "$i" >/dev/null
    mkdir -p "/run/edgedistill-netns/$prefix"
    echo "$rate" > "/run/edgedistill-netns/$prefix/$i.rate"
    apply_qdisc "$prefix" "$i" || { rm -f "/run/edgedistill-netns/$prefix/$i.rate"; exit 1; }
}

cmd_clear() {
    local prefix="$1" i="$2"
    host_ns "$prefix" "$i" >/dev/null
    rm -f "/run/edgedistill-netns/$prefix/$i.netem" "/run/edgedistill-netns/$prefix/$i.rate"
    apply_qdisc "$prefix" "$i"
}

[[ $# -ge 2 ]] || usage
command="$1"; prefix="$2"; shift 2
check_prefix "$prefix"
need_root
case "$command" in
    up)
        [[ $# -ge 1 ]] || usage
        count="$1"; shift
        subnet=$(subnet_of "$prefix")
        if [[ $# -ge 2 && "$1" == --subnet ]]; then subnet="$2"; shift 2; fi
        [[ $# -eq 0 ]] || usage
        cmd_up "$prefix" "$count" "$subnet" ;;
    down) [[ $# -eq 0 ]] || usage; cmd_down "$prefix" ;;
    address) [[ $# -eq 1 ]] || usage; check_index "$1"; cmd_address "$prefix" "$1" ;;
    netem) [[ $# -eq 3 ]] || usage; check_index "$1"; cmd_netem "$prefix" "$1" "$2" "$3" ;;
    rate) [[ $# -eq 2 ]] || usage; check_index "$1"; cmd_rate "$prefix" "$1" "$2" ;;
    clear) [[ $# -eq 1 ]] || usage; check_index "$1"; cmd_clear "$prefix" "$1" ;;
    exec)
        [[ $# -ge 2 ]] || usage
        check_index "$1"
        ns=$(host_ns "$prefix" "$1"); shift
        exec ip netns exec "$ns" "$@" ;;
    list) [[ $# -eq 0 ]] || usage; hosts_of "$prefix" ;;
    *) usage ;;
esac
