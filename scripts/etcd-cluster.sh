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

CLUSTER=etcd-cluster
. "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
have_bins() { command -v etcd >/dev/null; }

cmd_install() {
  have_bins && return 0
  apt_install "etcd not found; install Debian's 'etcd-server' package" etcd-server \
    "etcd-server installed but etcd not found" etcd-server
}

cmd_stop() { stop_pidfiles "$1"; }

# every member answers /health with "health":"true" (n and ps: those of cmd_start, the caller)
healthy() {
  local k
  for ((k = 1; k <= n; k++)); do
    curl -s -m 1 "http://127.0.0.1:${ps[2*k-2]}/health" 2>/dev/null | grep -q '"health":"true"' || return 1
  done
}

cmd_start() {
  local dir=$1 n=$2 ports k cluster= out=
  local -a ps
  cmd_install
  new_data_dir "$dir" etcdc
  ports=$(free_ports $((2 * n)))
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
  retry 300 healthy || fail "the members did not become healthy within 30 s" "$DATA/n1.log"
  disarm_cleanup
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
