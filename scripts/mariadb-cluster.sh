#!/usr/bin/env bash
# A real MariaDB primary + replicas with GTID replication on loopback, for replicheck's
# tests and CI: asynchronous, or semi-synchronous with a chosen wait point. Throwaway
# clusters: no passwords, random free ports, data in a fresh temporary directory.
#
#   mariadb-cluster.sh install             ensure the server binaries exist (apt-get if root)
#   mariadb-cluster.sh start DIR [--replicas N] [--semi-sync after_sync|after_commit]
#                      [--semi-sync-timeout MS] [--semi-sync-replicas K]
#                                          prints PRIMARY_DSN='mariadb://...', REPLICA_DSN=...,
#                                          REPLICA2_DSN=... (also to DIR/cluster.env)
#   mariadb-cluster.sh stop DIR            kill every server, delete the data
#
# Semi-sync: the primary waits for an acknowledgement from one of the first K replicas
# (rpl_semi_sync_slave_enabled on those only; K defaults to 1, "one synchronous
# follower") for up to --semi-sync-timeout ms (default 2000), then falls back to
# asynchronous replication. mysqld runs as the `mysql` user when started by root. Every
# replica is read_only and replicates with MASTER_USE_GTID=slave_pos, so a replica can be
# promoted and the others pointed at it, as an operator would.
set -euo pipefail

CLUSTER=mariadb-cluster
. "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

find_mysqld() {
  local b
  for b in "${MARIADB_BIN:-}/mariadbd" /usr/sbin/mariadbd /usr/sbin/mysqld "$(command -v mariadbd 2>/dev/null || true)"; do
    [ -x "$b" ] && [ -f "$b" ] && { echo "$b"; return 0; }
  done
  return 0
}
have_bins() {
  MYSQLD=$(find_mysqld)
  [ -n "$MYSQLD" ] && command -v mariadb-install-db >/dev/null && command -v mariadb >/dev/null
}

cmd_install() {
  have_bins && return 0
  apt_install "MariaDB server binaries not found; install Debian's 'mariadb-server' package" mariadb-server \
    "mariadb-server installed but mariadbd/mariadb-install-db not found" mariadb-server mariadb-client
}

cmd_stop() { stop_pidfiles "$1"; }

sql() { mariadb --no-defaults -uroot --socket="$DATA/$1.sock" -N -B -e "$2"; }

start_node() {  # start_node NAME PORT SERVER_ID EXTRA...
  local name=$1 port=$2 id=$3; shift 3
  local -a as=()
  is_root && as=(--user=mysql)
  # in a subshell, so this shell never reports the server's death as a job of its own
  ( "$MYSQLD" --no-defaults "${as[@]}" --datadir="$DATA/$name" --port="$port" --bind-address=127.0.0.1 \
    --socket="$DATA/$name.sock" --pid-file="$DATA/$name.pid" --log-error="$DATA/$name.err" \
    --server-id="$id" --log-bin="$DATA/$name/bin" --binlog-format=ROW --log-slave-updates=ON \
    --gtid-strict-mode=ON --skip-name-resolve --performance-schema=OFF \
    --innodb-buffer-pool-size=16M --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=2 \
    --max-connections=200 --slave-net-timeout=5 "$@" </dev/null >/dev/null 2>&1 & )
  retry 300 sql "$name" "SELECT 1" >/dev/null 2>&1 || fail "$name failed to start on port $port" "$DATA/$name.err"
}

# cmd_start's wait, reading its replicas, semi and semi_k: every replica's IO thread runs
# and, with semi-sync, at least semi_k replicas are semi-sync clients of the primary
replicas_connected() {
  local k name status
  for ((k = 1; k <= replicas; k++)); do
    name=replica; [ "$k" -gt 1 ] && name=replica$k
    # captured first: grep -q closing the pipe early would fail the pipeline (pipefail)
    status=$(mariadb --no-defaults -uroot --socket="$DATA/$name.sock" -e "SHOW SLAVE STATUS\G" 2>/dev/null || true)
    [[ "$status" == *"Slave_IO_Running: Yes"* ]] || return 1
  done
  [ -z "$semi" ] || [ "$(sql primary "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'" | cut -f2)" -ge "$semi_k" ] 2>/dev/null
}

cmd_start() {
  local dir=$1 replicas=$2 semi=$3 semi_timeout=$4 semi_k=$5 ports pp k name out=
  local -a rps master_opts=() slave_opts
  cmd_install
  new_data_dir "$dir" mdbc mysql
  ports=$(free_ports $((replicas + 1)))
  read -r pp ports <<<"$ports"
  read -r -a rps <<<"$ports"

  local -a as=()
  is_root && as=(--user=mysql)
  mariadb-install-db --no-defaults "${as[@]}" --datadir="$DATA/primary" --skip-test-db \
    --auth-root-authentication-method=socket --innodb-log-file-size=8M >"$DATA/install.log" 2>&1 \
    || fail "mariadb-install-db failed" "$DATA/install.log"
  rm -f "$DATA/install.log"
  # every replica starts from a copy of the fresh data directory: no GTID yet anywhere
  for ((k = 1; k <= replicas; k++)); do
    name=replica; [ "$k" -gt 1 ] && name=replica$k
    cp -a "$DATA/primary" "$DATA/$name"
  done

  if [ -n "$semi" ]; then
    master_opts=(--rpl-semi-sync-master-enabled=ON --rpl-semi-sync-master-timeout="$semi_timeout"
      --rpl-semi-sync-master-wait-point="${semi^^}")
  fi
  start_node primary "$pp" 1 "${master_opts[@]}"
  for ((k = 1; k <= replicas; k++)); do
    name=replica; [ "$k" -gt 1 ] && name=replica$k
    slave_opts=(--read-only=ON)
    [ -n "$semi" ] && [ "$k" -le "$semi_k" ] && slave_opts+=(--rpl-semi-sync-slave-enabled=ON)
    start_node "$name" "${rps[k-1]}" $((k + 1)) "${slave_opts[@]}"
  done
  # the same passwordless user on every node, kept out of the binary log (no GTID)
  for name in primary $(cd "$DATA" && ls -d replica* 2>/dev/null | grep -v '\.' || true); do
    sql "$name" "SET sql_log_bin = 0; CREATE USER 'replicheck'@'127.0.0.1';
      GRANT ALL ON *.* TO 'replicheck'@'127.0.0.1' WITH GRANT OPTION;" \
      || fail "cannot create the replicheck user on $name" "$DATA/$name.err"
  done
  for ((k = 1; k <= replicas; k++)); do
    name=replica; [ "$k" -gt 1 ] && name=replica$k
    sql "$name" "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$pp, MASTER_USER='replicheck',
      MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;" \
      || fail "cannot start replication on $name" "$DATA/$name.err"
  done
  retry 300 replicas_connected || fail "the replicas did not connect to the primary within 30 s" "$DATA/replica.err"

  disarm_cleanup
  out="PRIMARY_DSN='mariadb://replicheck@127.0.0.1:$pp/replicheck'"
  for ((k = 1; k <= replicas; k++)); do
    name=REPLICA; [ "$k" -gt 1 ] && name=REPLICA$k
    out+=$'\n'"${name}_DSN='mariadb://replicheck@127.0.0.1:${rps[k-1]}/replicheck'"
  done
  echo "$out" | tee -a "$dir/cluster.env"
}

usage() {
  die "usage: mariadb-cluster.sh install | start DIR [--replicas N] [--semi-sync after_sync|after_commit] [--semi-sync-timeout MS] [--semi-sync-replicas K] | stop DIR"
}
sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start)
    [ $# -ge 1 ] || usage
    dir=$(realpath -m -- "$1"); shift; replicas=2; semi=; semi_timeout=2000; semi_k=1
    while [ $# -gt 0 ]; do
      [ $# -ge 2 ] || usage
      case "$1" in
        --replicas) replicas=$2 ;;
        --semi-sync) semi=$2 ;;
        --semi-sync-timeout) semi_timeout=$2 ;;
        --semi-sync-replicas) semi_k=$2 ;;
        *) usage ;;
      esac
      shift 2
    done
    [[ "$replicas" =~ ^[1-9]$ ]] || die "--replicas wants a count from 1 to 9, got '$replicas'"
    [[ -z "$semi" || "$semi" =~ ^(after_sync|after_commit)$ ]] || die "--semi-sync wants after_sync or after_commit, got '$semi'"
    [[ "$semi_timeout" =~ ^[0-9]+$ ]] || die "--semi-sync-timeout wants whole milliseconds, got '$semi_timeout'"
    [[ "$semi_k" =~ ^[0-9]$ ]] && [ "$semi_k" -le "$replicas" ] || die "--semi-sync-replicas wants 0 to $replicas, got '$semi_k'"
    cd /
    cmd_start "$dir" "$replicas" "$semi" "$semi_timeout" "$semi_k" ;;
  stop) [ $# -eq 1 ] || usage; dir=$(realpath -m -- "$1"); cd /; cmd_stop "$dir" ;;
  *) usage ;;
esac
