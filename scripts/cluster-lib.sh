# What scripts/*-cluster.sh share, sourced by each after it sets CLUSTER (its name in
# messages, e.g. CLUSTER=etcd-cluster) and before it defines its own commands. Each script
# defines have_bins (are the binaries there?) and cmd_stop DIR, which the functions below
# call: installing ends by asking have_bins, a start that fails part-way ends by cmd_stop.

die() { echo "$CLUSTER: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# apt_install MISSING WHAT AFTER PACKAGE...: install Debian's PACKAGEs (as root, or through
# a sudo that asks no password, else die saying MISSING); the log shows only on failure.
# WHAT names the install in the failure line, AFTER is the error if have_bins still fails.
apt_install() {
  local missing=$1 what=$2 after=$3 sudo= log
  shift 3
  if ! is_root; then
    sudo -n true 2>/dev/null || die "$missing"
    sudo="sudo -n"
  fi
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2; rm -f "$log"; die "apt-get install $what failed"
  fi
  rm -f "$log"
  have_bins || die "$after"
}

# The data of DIR's cluster: DATA_DIR in DIR/cluster.env (none when nothing was started).
data_of() { sed -n 's/^DATA_DIR=//p' "$1/cluster.env" 2>/dev/null | tail -n 1; }

# stop_pidfiles DIR: kill -9 every process with a pid file in DIR's data (continued first,
# as a test may have left it stopped), delete the data and DIR/cluster.env. A throwaway
# cluster needs no clean shutdown.
stop_pidfiles() {
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

# Between arm_cleanup DIR and disarm_cleanup, an exit (a failure, ^C) stops what was started.
STARTED_DIR=
on_exit() { [ -n "$STARTED_DIR" ] && cmd_stop "$STARTED_DIR"; }
arm_cleanup() { STARTED_DIR=$1; trap on_exit EXIT; trap 'exit 1' INT TERM; }
disarm_cleanup() { STARTED_DIR=; trap - EXIT INT TERM; }

fail() {  # fail REASON [LOGFILE]
  echo "$CLUSTER: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "--- tail of $2:" >&2; tail -n 15 "$2" >&2; }
  exit 1
}

# new_data_dir DIR PREFIX [OWNER]: refuse a DIR that holds a cluster, else set DATA to a
# fresh /tmp/PREFIX.XXXXXX (owned by OWNER when root), record it in DIR/cluster.env and
# arm the cleanup. In /tmp because socket paths must stay short and pytest's tmp dirs are
# mode 700.
new_data_dir() {
  mkdir -p "$1"
  [ -e "$1/cluster.env" ] && die "$1 already holds a cluster; run '$CLUSTER.sh stop $1' first"
  DATA=$(mktemp -d "/tmp/$2.XXXXXX")
  if [ -n "${3:-}" ] && is_root; then chown "$3": "$DATA"; fi
  echo "DATA_DIR=$DATA" >"$1/cluster.env"
  arm_cleanup "$1"
}

# free_ports N: N distinct free loopback ports, space-separated.
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# retry TENTHS CMD...: run CMD every 0.1 s until it succeeds, at most TENTHS times.
retry() {
  local i
  for i in $(seq "$1"); do
    "${@:2}" && return 0
    sleep 0.1
  done
  return 1
}
