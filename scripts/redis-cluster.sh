#!/usr/bin/env bash
# A real Redis primary + replicas (asynchronous replication) watched by three Sentinels,
# on loopback, for replicheck's tests and CI. Throwaway: no persistence, no auth, random
# free ports, data and configs in a fresh temporary directory.
#
#   redis-cluster.sh install               ensure redis-server and redis-sentinel exist
#   redis-cluster.sh start DIR [--replicas N] [--down-after MS]
#                                          prints PRIMARY_DSN='redis://127.0.0.1:PORT',
#                                          REPLICA_DSN=..., SENTINEL_DSN=..., SENTINEL2_DSN=...
#                                          (also to DIR/cluster.env); master name: replicheck
#   redis-cluster.sh stop DIR              kill every process, delete the data
#
# Sentinels (quorum 2) mark the primary down after --down-after ms (default 1000) without
# an answer, then fail over to a replica on their own.
set -euo pipefail

die() { echo "redis-cluster: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
have_bins() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null && { command -v redis-sentinel >/dev/null || [ -x /usr/bin/redis-check-rdb ]; }; }

cmd_install() {
  have_bins && command -v redis-sentinel >/dev/null && return 0
  local sudo= log
  if ! is_root; then
    sudo -n true 2>/dev/null || die "Redis not found; install Debian's 'redis-server' and 'redis-sentinel' packages"
    sudo="sudo -n"
  fi
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2; rm -f "$log"; die "apt-get install redis-server redis-sentinel failed"
  fi
  rm -f "$log"
  have_bins || die "redis installed but redis-server/redis-cli not found"
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
  echo "redis-cluster: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "--- tail of $2:" >&2; tail -n 15 "$2" >&2; }
  exit 1
}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }

cmd_start() {
  local dir=$1 n=$2 down=$3 ports k i ok out= name
  local -a ps
  cmd_install
  mkdir -p "$dir"
  [ -e "$dir/cluster.env" ] && die "$dir already holds a cluster; run 'redis-cluster.sh stop $dir' first"
  DATA=$(mktemp -d /tmp/redisc.XXXXXX)
  echo "DATA_DIR=$DATA" >"$dir/cluster.env"
  STARTED_DIR=$dir; trap on_exit EXIT; trap 'exit 1' INT TERM
  ports=$(python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' $((n + 4)))
  read -r -a ps <<<"$ports"
  # ps[0]: primary, ps[1..n]: replicas, ps[n+1..n+3]: sentinels
  for ((k = 0; k <= n; k++)); do
    name=primary; [ "$k" -ge 1 ] && name=replica$k
    local -a extra=()
    [ "$k" -ge 1 ] && extra=(--replicaof 127.0.0.1 "${ps[0]}")
    ( redis-server --port "${ps[k]}" --bind 127.0.0.1 --save "" --appendonly no --dir "$DATA" \
        --dbfilename "$name.rdb" --daemonize no --protected-mode no --repl-diskless-sync yes \
        --repl-diskless-sync-delay 0 "${extra[@]}" </dev/null >"$DATA/$name.log" 2>&1 & echo $! >"$DATA/$name.pid" )
  done
  for i in $(seq 100); do
    [ "$(cli "${ps[0]}" INFO replication | tr -d '\r' | sed -n 's/^connected_slaves://p')" = "$n" ] && break
    sleep 0.1
  done
  [ "$(cli "${ps[0]}" INFO replication | tr -d '\r' | sed -n 's/^connected_slaves://p')" = "$n" ] \
    || fail "the replicas did not connect to the primary within 10 s" "$DATA/replica1.log"
  for ((k = 1; k <= 3; k++)); do
    cat >"$DATA/sentinel$k.conf" <<CONF
port ${ps[n+k]}
bind 127.0.0.1
protected-mode no
dir $DATA
sentinel monitor replicheck 127.0.0.1 ${ps[0]} 2
sentinel down-after-milliseconds replicheck $down
sentinel failover-timeout replicheck 10000
sentinel parallel-syncs replicheck 2
CONF
    ( redis-server "$DATA/sentinel$k.conf" --sentinel </dev/null >"$DATA/sentinel$k.log" 2>&1 & echo $! >"$DATA/sentinel$k.pid" )
  done
  for i in $(seq 150); do  # every sentinel sees the replicas and the other sentinels
    ok=1
    for ((k = 1; k <= 3; k++)); do
      local info
      info=$(cli "${ps[n+k]}" SENTINEL master replicheck | tr -d '\r' | paste -sd' ' || true)
      [[ "$info" == *"num-slaves $n "* && "$info" == *"num-other-sentinels 2 "* ]] || ok=
    done
    [ -n "$ok" ] && break
    sleep 0.1
  done
  [ -n "$ok" ] || fail "the sentinels did not discover the replicas and each other within 15 s" "$DATA/sentinel1.log"
  STARTED_DIR=; trap - EXIT INT TERM
  out="PRIMARY_DSN='redis://127.0.0.1:${ps[0]}'"
  for ((k = 1; k <= n; k++)); do
    name=REPLICA; [ "$k" -gt 1 ] && name=REPLICA$k
    out+=$'\n'"${name}_DSN='redis://127.0.0.1:${ps[k]}'"
  done
  for ((k = 1; k <= 3; k++)); do
    name=SENTINEL; [ "$k" -gt 1 ] && name=SENTINEL$k
    out+=$'\n'"${name}_DSN='redis://127.0.0.1:${ps[n+k]}'"
  done
  echo "$out" | tee -a "$dir/cluster.env"
}

usage() { die "usage: redis-cluster.sh install | start DIR [--replicas N] [--down-after MS] | stop DIR"; }
sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start)
    [ $# -ge 1 ] || usage
    dir=$(realpath -m -- "$1"); shift; replicas=2; down=1000
    while [ $# -gt 0 ]; do
      [ $# -ge 2 ] || usage
      case "$1" in --replicas) replicas=$2 ;; --down-after) down=$2 ;; *) usage ;; esac
      shift 2
    done
    [[ "$replicas" =~ ^[1-9]$ ]] || die "--replicas wants 1 to 9, got '$replicas'"
    [[ "$down" =~ ^[1-9][0-9]*$ ]] || die "--down-after wants milliseconds, got '$down'"
    cd /
    cmd_start "$dir" "$replicas" "$down" ;;
  stop) [ $# -eq 1 ] || usage; dir=$(realpath -m -- "$1"); cd /; cmd_stop "$dir" ;;
  *) usage ;;
esac
