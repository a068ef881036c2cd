#!/usr/bin/env bash
# A real PostgreSQL primary + asynchronous streaming replica on loopback, so replicheck's
# tests and CI record histories from genuine replication (stale reads, replay lag) rather
# than from a simulation. Throwaway clusters: trust auth, fsync=off, random free ports.
#
#   pg-cluster.sh install                  ensure server binaries exist (apt-get if root)
#   pg-cluster.sh start DIR [--replicas N] [--delay MS[,MS...]] [--sync]
#                                          prints PRIMARY_DSN='...', REPLICA_DSN='...' (and
#                                          REPLICA2_DSN... with N > 1), also to DIR/cluster.env;
#                                          one delay per replica, the last one repeating;
#                                          --sync: synchronous_standby_names = '*' (a commit
#                                          waits for one standby, as synchronous_commit says)
#   pg-cluster.sh stop DIR                 stop both servers, delete their data
#
# PostgreSQL refuses to run as root, so as root the servers run as the `postgres` user.
# pytest's tmp dirs sit under mode-700 /tmp/pytest-of-root, and unix socket paths must
# stay short (~107 bytes); rather than loosening permissions on parents we don't own, the
# data then goes to a fresh postgres-owned `mktemp -d`, recorded as DATA_DIR= in
# DIR/cluster.env so `stop` can find and delete it.
set -euo pipefail

CLUSTER=pg-cluster
. "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

find_bin() {
  local d
  # Explicit `return 0`s: a bare `return` in a function called from the EXIT trap
  # returns the pre-trap status (1), which set -e would turn into an abort of cleanup.
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return 0; fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  d=$(command -v initdb 2>/dev/null || true)
  [ -n "$d" ] && dirname "$d"
  return 0
}

have_bins() {
  local b; BIN=$(find_bin)
  [ -n "$BIN" ] || return 1
  for b in initdb pg_ctl postgres pg_basebackup; do [ -x "$BIN/$b" ] || return 1; done
}

cmd_install() {
  have_bins && return 0
  [ -z "${PG_BIN:-}" ] || die "PG_BIN=$PG_BIN lacks initdb/pg_ctl/postgres/pg_basebackup"
  apt_install "PostgreSQL server binaries not found; install Debian's 'postgresql' package (or set PG_BIN)" \
    postgresql "postgresql installed but initdb/pg_ctl/postgres/pg_basebackup not found (set PG_BIN)" postgresql
}

# Run a server-side command as the user PostgreSQL will accept.
as_pg() {
  if ! is_root; then "$@"
  elif command -v runuser >/dev/null; then runuser -u postgres -- "$@"
  else su -s /bin/sh postgres -c "$(printf '%q ' "$@")"; fi
}

q() { PGCONNECT_TIMEOUT=2 psql -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atqc "$2" 2>/dev/null; }

# Data location for DIR: DATA_DIR from cluster.env if present, else DIR itself (this
# replaces cluster-lib.sh's data_of: unlike the others, a cluster here may live in DIR).
data_of() { sed -n 's/^DATA_DIR=//p' "$1/cluster.env" 2>/dev/null | tail -n 1 | grep . || echo "$1"; }

cmd_stop() {
  local dir=$1 data node
  data=$(data_of "$dir")
  BIN=$(find_bin)
  for node in $(cd "$data" 2>/dev/null && ls -d replica* 2>/dev/null | grep -v '\.log$') primary; do
    if [ -n "$BIN" ] && [ -f "$data/$node/postmaster.pid" ]; then
      as_pg "$BIN/pg_ctl" stop -D "$data/$node" -m immediate -w >/dev/null 2>&1 || true
    fi
    rm -rf "${data:?}/$node" "$data/$node.log"
  done
  rm -f "$data/initdb.log" "$data/basebackup.log"
  [ "$data" != "$dir" ] && rm -rf "$data"
  rm -f "$dir/cluster.env"
  return 0
}

# cmd_start's wait, reading its pp, rps and replicas: every replica is in recovery and
# the primary streams to all of them
replicas_streaming() {
  local k
  for k in "${rps[@]}"; do [ "$(q "$k" 'SELECT pg_is_in_recovery()')" = t ] || return 1; done
  [ "$(q "$pp" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge "$replicas" ] 2>/dev/null
}

cmd_start() {
  local dir=$1 replicas=$2 delays=$3 sync=$4 data pp k name delay ports out=
  local -a rps
  cmd_install
  mkdir -p "$dir"
  if [ -e "$dir/cluster.env" ] || [ -e "$dir/primary" ]; then
    die "$dir already holds a cluster; run 'pg-cluster.sh stop $dir' first"
  fi
  is_root && chown postgres: "$dir"
  data=$dir
  if ! as_pg test -w "$dir" -a -x "$dir" 2>/dev/null || [ ${#dir} -gt 80 ]; then
    data=$(mktemp -d /tmp/pgc.XXXXXX)
    is_root && chown postgres: "$data"
    echo "DATA_DIR=$data" >"$dir/cluster.env"
  fi
  arm_cleanup "$dir"
  ports=$(free_ports $((replicas + 1)))
  read -r pp ports <<<"$ports"
  read -r -a rps <<<"$ports"

  as_pg "$BIN/initdb" -D "$data/primary" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
    >"$data/initdb.log" 2>&1 || fail "initdb failed" "$data/initdb.log"
  rm -f "$data/initdb.log"
  cat >>"$data/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pp
unix_socket_directories = '$data'
wal_level = replica
max_wal_senders = 10
shared_buffers = 16MB
fsync = off
EOF
  [ -n "$sync" ] && echo "synchronous_standby_names = '*'" >>"$data/primary/postgresql.conf"
  echo "host replication all 127.0.0.1/32 trust" >>"$data/primary/pg_hba.conf"
  as_pg "$BIN/pg_ctl" start -w -t 30 -D "$data/primary" -l "$data/primary.log" >/dev/null 2>&1 \
    || fail "primary failed to start on port $pp" "$data/primary.log"

  for ((k = 1; k <= replicas; k++)); do
    name=replica; [ "$k" -gt 1 ] && name=replica$k
    delay=$(echo "$delays" | cut -d, -f"$k"); [ -n "$delay" ] || delay=${delays##*,}
    as_pg "$BIN/pg_basebackup" -R -D "$data/$name" -h 127.0.0.1 -p "$pp" -U postgres -X stream -c fast \
      >"$data/basebackup.log" 2>&1 || fail "pg_basebackup failed" "$data/basebackup.log"
    rm -f "$data/basebackup.log"
    { echo "port = ${rps[k-1]}"; echo "hot_standby = on"
      [ -n "$delay" ] && echo "recovery_min_apply_delay = '${delay}ms'"; } >>"$data/$name/postgresql.conf"
    as_pg "$BIN/pg_ctl" start -w -t 30 -D "$data/$name" -l "$data/$name.log" >/dev/null 2>&1 \
      || fail "$name failed to start on port ${rps[k-1]}" "$data/$name.log"
  done

  retry 300 replicas_streaming || fail "the replicas did not reach streaming state within 30 s" "$data/replica.log"

  disarm_cleanup
  # quoted, so that `eval "$(pg-cluster.sh start DIR)"` or `. DIR/cluster.env` sets them
  out="PRIMARY_DSN='host=127.0.0.1 port=$pp user=postgres dbname=postgres'"
  for ((k = 1; k <= replicas; k++)); do
    name=REPLICA; [ "$k" -gt 1 ] && name=REPLICA$k
    out+=$'\n'"${name}_DSN='host=127.0.0.1 port=${rps[k-1]} user=postgres dbname=postgres'"
  done
  echo "$out" | tee -a "$dir/cluster.env"
}

usage() { die "usage: pg-cluster.sh install | start DIR [--replicas N] [--delay MS[,MS...]] [--sync] | stop DIR"; }
sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start)
    [ $# -ge 1 ] || usage
    dir=$(realpath -m -- "$1"); shift; delay=; replicas=1; sync=
    while [ $# -gt 0 ]; do
      case "$1" in
        --delay) [ $# -ge 2 ] || usage; delay=$2; shift 2 ;;
        --delay=*) delay=${1#--delay=}; shift ;;
        --replicas) [ $# -ge 2 ] || usage; replicas=$2; shift 2 ;;
        --replicas=*) replicas=${1#--replicas=}; shift ;;
        --sync) sync=1; shift ;;
        *) usage ;;
      esac
    done
    [[ -z "$delay" || "$delay" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--delay wants whole milliseconds (one per replica, comma-separated), got '$delay'"
    [[ "$replicas" =~ ^[1-9][0-9]?$ ]] || die "--replicas wants a count from 1 to 99, got '$replicas'"
    cd /  # the postgres user may not be able to read the caller's cwd
    cmd_start "$dir" "$replicas" "$delay" "$sync" ;;
  stop) [ $# -eq 1 ] || usage; dir=$(realpath -m -- "$1"); cd /; cmd_stop "$dir" ;;
  *) usage ;;
esac
