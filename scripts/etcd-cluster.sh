#!/usr/bin/env bash
# A real 3-member etcd (Raft) cluster on loopback, for replicheck's tests and CI.
# Throwaway: no TLS, no auth, random free ports, data in a fresh temporary directory.
#
#   etcd-cluster.sh install                ensure etcd exists (apt-get etcd-server if root)
#   etcd-cluster.sh start DIR [--members N]
#                                          prints N1_DSN='http://127.0.0.1:PORT', N2_DSN=...
#                                          (client URLs; also to DIR/cluster.env)
#   etcd-cluster.sh stop DIR               kill every member, delete the data
set -euo pipefail

die() { echo "etcd-cluster: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
have_bins() { command -v etcd >/dev/null; }

cmd_install() {
  have_bins && return 0
  local sudo= log
  if ! is_root; then
    sudo -n true 2>/dev/null || die "etcd not found; install Debian's 'etcd-server' package"
    sudo="sudo -n"
  fi
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2; rm -f "$log"; die "apt-get install etcd-server failed"
  fi
  rm -f "$log"
  have_bins || die "etcd-server installed but etcd not found"
}

data_of() { sed -n 's/^DATA_DIR=//p' "$1/cluster.env" 2>/dev/null | tail -n 1; }

cmd_stop() {
  local dir=$1 data pidf pid
  data=$(data_of "$dir")
  if [ -n "$data" ] && [ -d "$data" ]; then
    for pidf in "$data"/*.pid; do
      [ -f "$pidf" ] || continue
      pid=$(cat "$pidf" 2>/dev/null || true)
      if [ -n "$pid" ]; then kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; fi
    done
    rm -rf "${data:?}"
  fi
  rm -f "$dir/cluster.env"
  return 0
}

STARTED_DIR=
on_exit() { [ -n "$STARTED_DIR" ] && cmd_stop "$STARTED_DIR"; }
fail() {
  echo "etcd-cluster: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "--- tail of $2:" >&2; tail -n 15 "$2" >&2; }
  exit 1
}

cmd_start() {
  local dir=$1 n=$2 ports k cluster= i ok out=
  local -a ps
  cmd_install
  mkdir -p "$dir"
  [ -e "$dir/cluster.env" ] && die "$dir already holds a cluster; run 'etcd-cluster.sh stop $dir' first"
  DATA=$(mktemp -d /tmp/etcdc.XXXXXX)
  echo "DATA_DIR=$DATA" >"$dir/cluster.env"
  STARTED_DIR=$dir; trap on_exit EXIT; trap 'exit 1' INT TERM
  ports=$(python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' $((2 * n)))
  read -r -a ps <<<"$ports"
  for ((k = 1; k <= n; k++)); do
    cluster+="${cluster:+,}n$k=http://127.0.0.1:${ps[2*k-1]}"
  done
  for ((k = 1; k <= n; k++)); do
    # short heartbeats and elections: a leader kill is noticed in about a second
    ( etcd --name "n$k" --data-dir "$DATA/n$k" \
        --listen-client-urls "http://127.0.0.1:${ps[2*k-2]}" --advertise-client-urls "http://127.0.0.1:${ps[2*k-2]}" \
        --listen-peer-urls "http://127.0.0.1:${ps[2*k-1]}" --initial-advertise-peer-urls "http://127.0.0.1:${ps[2*k-1]}" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "replicheck-$$" \
        --heartbeat-interval 50 --election-timeout 500 --unsafe-no-fsync \
        </dev/null >"$DATA/n$k.log" 2>&1 & echo $! >"$DATA/n$k.pid" )
  done
  for i in $(seq 300); do
    ok=1
    for ((k = 1; k <= n; k++)); do
      curl -s -m 1 "http://127.0.0.1:${ps[2*k-2]}/health" 2>/dev/null | grep -q '"health":"true"' || ok=
    done
    [ -n "$ok" ] && break
    sleep 0.1
  done
  [ -n "$ok" ] || fail "the members did not become healthy within 30 s" "$DATA/n1.log"
  STARTED_DIR=; trap - EXIT INT TERM
  for ((k = 1; k <= n; k++)); do
    out+="${out:+$'\n'}N${k}_DSN='http://127.0.0.1:${ps[2*k-2]}'"
  done
  echo "$out" | tee -a "$dir/cluster.env"
}

usage() { die "usage: etcd-cluster.sh install | start DIR [--members N] | stop DIR"; }
sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start)
    [ $# -ge 1 ] || usage
    dir=$(realpath -m -- "$1"); shift; members=3
    while [ $# -gt 0 ]; do
      [ $# -ge 2 ] || usage
      case "$1" in --members) members=$2 ;; *) usage ;; esac
      shift 2
    done
    [[ "$members" =~ ^[1-9]$ ]] || die "--members wants 1 to 9, got '$members'"
    cd /
    cmd_start "$dir" "$members" ;;
  stop) [ $# -eq 1 ] || usage; dir=$(realpath -m -- "$1"); cd /; cmd_stop "$dir" ;;
  *) usage ;;
esac
