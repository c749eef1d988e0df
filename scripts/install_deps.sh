#!/usr/bin/env bash
# Installs the C libraries EdgeDistill links (oneDNN, ZeroMQ, zlib) when they are missing. Idempotent, quiet.
set -euo pipefail
missing=()
[ -f /usr/include/oneapi/dnnl/dnnl.h ] || missing+=(libdnnl-dev)
[ -f /usr/include/zmq.h ] || missing+=(libzmq3-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
