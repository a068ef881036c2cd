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

CLUSTER=redis-cluster
. "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
have_bins() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null && { command -v redis-sentinel >/dev/null || [ -x /usr/bin/redis-check-rdb ]; }; }

cmd_install() {
  have_bins && command -v redis-sentinel >/dev/null && return 0
  apt_install "Redis not found; install Debian's 'redis-server' and 'redis-sentinel' packages" \
    "redis-server redis-sentinel" "redis installed but redis-server/redis-cli not found" redis-server redis-sentinel
}

cmd_stop() { stop_pidfiles "$1"; }

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }

# the waits of cmd_start, whose n and ps they read: the primary counts n replicas; every
# sentinel sees the replicas and the other sentinels
replicas_connected() {
  [ "$(cli "${ps[0]}" INFO replication | tr -d '\r' | sed -n 's/^connected_slaves://p')" = "$n" ]
}
sentinels_see_all() {
  local k info
  for ((k = 1; k <= 3; k++)); do
    info=$(cli "${ps[n+k]}" SENTINEL master replicheck | tr -d '\r' | paste -sd' ' || true)
    [[ "$info" == *"num-slaves $n "* && "$info" == *"num-other-sentinels 2 "* ]] || return 1
  done
}

cmd_start() {
  local dir=$1 n=$2 down=$3 ports k out= name
  local -a ps
  cmd_install
  new_data_dir "$dir" redisc
  ports=$(free_ports $((n + 4)))
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
  retry 100 replicas_connected || fail "the replicas did not connect to the primary within 10 s" "$DATA/replica1.log"
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
  retry 150 sentinels_see_all \
    || fail "the sentinels did not discover the replicas and each other within 15 s" "$DATA/sentinel1.log"
  disarm_cleanup
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
