"""The whole loop on a real PostgreSQL primary and streaming replica: record, then check.

scripts/pg-cluster.sh starts both servers on loopback (installing Debian's PostgreSQL
if it is missing) with the replica's replay held back by ``recovery_min_apply_delay``,
so replication lag is always there to be seen. These tests skip only when that script
cannot install or start PostgreSQL, and say why.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pg-cluster.sh"
DELAY_MS = 300  # replica replay delay; pin-after-write below uses a shorter window
OPS = ["--clients", "8", "--ops", "400", "--keys", "8", "--think", "10", "--seed", "7"]

# a real cluster starts in seconds and each workload runs in real time
pytestmark = pytest.mark.slow


@contextlib.contextmanager
def started_cluster(where: Path, *args: str):
    """A primary and replica from scripts/pg-cluster.sh, stopped afterwards."""
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(where), *args], capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        pytest.skip("PostgreSQL could not be installed or started: pg-cluster.sh start took over 15 min")
    if started.returncode != 0:
        reason = " / ".join(started.stderr.strip().splitlines()[:3]) or f"exit {started.returncode}"
        pytest.skip(f"PostgreSQL could not be installed or started: {reason}")
    # PRIMARY_DSN, REPLICA_DSN, REPLICA2_DSN...: in that order
    dsns = [line.split("=", 1)[1].strip("'") for line in started.stdout.splitlines() if "_DSN=" in line]
    try:
        yield tuple(dsns)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(where)], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with started_cluster(tmp_path_factory.mktemp("pg"), "--delay", str(DELAY_MS)) as dsns:
        yield dsns


def record(cluster, out: Path, *args: str) -> dict:
    primary, *replicas = cluster
    res = CliRunner().invoke(
        cli,
        [
            "record",
            "postgres",
            "--primary",
            primary,
            *[w for r in replicas for w in ("--replica", r)],
            "--out",
            str(out),
            "--json",
            *args,
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert (
        summary["operations"]
        == summary["ok"] + summary["fail"] + summary["info"] + summary["never_completed"]
    )
    return summary


def check(path: Path, *args: str) -> tuple[int, dict]:
    res = CliRunner().invoke(cli, ["check", str(path), "--json", *args])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.output)


def ryw(path: Path) -> tuple[int, dict]:
    code, out = check(path, "--consistency", "read-your-writes")
    return code, out["models"]["read-your-writes"]


def assert_ryw_violated_by_a_replica_read(path: Path) -> None:
    code, model = ryw(path)
    assert code == 1 and model["valid"] is False
    ops = model["witness"]["ops"]
    assert all(isinstance(op["line"], int) for op in ops)
    # every edge of the cycle rests on reads; here they were served by the replica
    assert "on replica" in " ".join(edge["why"] for edge in model["witness"]["cycle"])
    # the witness: the session's own write, acknowledged by the primary, and a later
    # read of the same user's row on the replica that does not show it...
    reads = [op for op in ops if op["f"] == "read" and op["node"] == "replica"]
    writes = [op for op in ops if op["f"] in ("append", "write") and op["node"] == "primary"]
    if not reads:  # ...or, on a register, two writes that reads put in opposite orders
        assert len(writes) == len(ops) >= 2 and all(op["f"] == "write" for op in ops)
        return

    def misses(read: dict, write: dict) -> bool:
        seen = read["output"] if isinstance(read["output"], list) else [read["output"]]
        return write["key"] == read["key"] and write["value"] not in seen

    assert any(misses(r, w) for w in writes for r in reads)


@pytest.mark.parametrize("workload", ["list-append", "register"])
def test_replica_reads_lose_your_own_writes(cluster, tmp_path, workload):
    out = tmp_path / "replica.jsonl"
    s = record(cluster, out, "--routing", "replica", "--workload", workload, *OPS)
    assert s["reads"]["primary"] == 0 and s["reads"]["replica"] > 0
    assert s["replay_delay_ms"] == {"replica": DELAY_MS}
    assert_ryw_violated_by_a_replica_read(out)
    # every row read at the end on both servers once the replica has caught up and the
    # lag has passed (the history's quiet_period): nothing acknowledged was lost, and
    # the servers agree
    assert s["final_reads"] == {"primary": 8, "replica": 8}
    for model in ("durability", "convergence"):
        code, result = check(out, "--consistency", model)
        assert (code, result["models"][model]["valid"]) == (0, True), result


def test_pinning_reads_for_less_than_the_lag_still_loses_them(cluster, tmp_path):
    out = tmp_path / "pin.jsonl"
    s = record(cluster, out, "--routing", f"pin-after-write:{DELAY_MS // 6}", *OPS)
    assert s["reads"]["primary"] > 0 and s["reads"]["replica"] > 0
    assert_ryw_violated_by_a_replica_read(out)


def test_waiting_for_the_commit_lsn_keeps_read_your_writes(cluster, tmp_path):
    out = tmp_path / "lsn.jsonl"
    s = record(cluster, out, "--routing", "wait-for-lsn", *OPS)
    assert s["reads"]["replica"] > 0 and s["reads"]["primary"] == 0
    assert s["replay_wait_ms"]["reads_waited"] > 0  # the lag was real, and waited out
    code, model = ryw(out)
    assert (code, model["valid"]) == (0, True), model
    # One replica replays the primary's single commit order and each session reads no
    # earlier than its own last commit: a sequentially consistent store. Not more: other
    # users' writes may still be missing, so linearizability depends on timing.
    code, out = check(out, "--consistency", "sequential")
    assert (code, out["models"]["sequential"]["valid"]) == (0, True), out


def test_primary_reads_are_linearizable(cluster, tmp_path):
    for workload in ("list-append", "register"):
        out = tmp_path / f"primary-{workload}.jsonl"
        s = record(cluster, out, "--routing", "primary", "--workload", workload, *OPS)
        assert s["reads"]["replica"] == 0 and s["reads"]["primary"] > 0
        code, result = check(out)
        assert (code, result["valid"]) == (0, True), result


def _while_recording(cluster, out: Path, args: list[str], fault) -> dict:
    """Record in a thread and inject ``fault(psycopg connection)`` until it finishes."""
    import psycopg

    primary = cluster[0]
    done: dict = {}
    t = threading.Thread(target=lambda: done.setdefault("s", record(cluster, out, *args)))
    t.start()
    while t.is_alive() and (not out.exists() or out.read_text().count("\n") < 20):
        time.sleep(0.01)  # the table is set up and the clients are running
    with psycopg.connect(primary, autocommit=True) as admin:
        while t.is_alive():
            fault(admin)
            time.sleep(0.05)
    t.join()
    return done["s"]


def test_lost_connections_are_indeterminate_and_still_linearizable(cluster, tmp_path):
    out = tmp_path / "killed.jsonl"

    import psycopg

    state = {"closed": False}

    def kill_clients(admin):
        kill = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'replicheck' AND pid <> pg_backend_pid()"
        )
        if state["closed"]:
            admin.execute(kill)
            return
        state["closed"] = True  # the first time, refuse new connections for a moment too
        with psycopg.connect(cluster[0], dbname="template1", autocommit=True) as other:
            other.execute("ALTER DATABASE postgres WITH ALLOW_CONNECTIONS false")
            try:
                admin.execute(kill)
                time.sleep(0.2)
            finally:
                other.execute("ALTER DATABASE postgres WITH ALLOW_CONNECTIONS true")

    s = _while_recording(
        cluster,
        out,
        ["--routing", "primary", "--clients", "8", "--ops", "3000", "--think", "1", "--seed", "3"],
        kill_clients,
    )
    assert s["info"] > 0, s  # writes whose connection died: committed or not, nobody knows
    events = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert any(e["type"] == "info" and "error" in e for e in events)
    # with nowhere to send it, an operation certainly did not happen: fail, not info
    refused = [e for e in events if "NoConnection" in e.get("error", "")]
    assert refused and all(e["type"] == "fail" for e in refused)
    code, result = check(out)
    assert (code, result["valid"]) == (0, True), result


def test_statement_timeouts_are_recorded_not_dropped(cluster, tmp_path):
    out = tmp_path / "timeouts.jsonl"
    state = {"locked": 0}

    def hold_lock(admin):
        if state["locked"] < 2:  # twice, each time for longer than the statement timeout
            with admin.transaction():
                admin.execute("LOCK TABLE replicheck_rows IN ACCESS EXCLUSIVE MODE")
                time.sleep(0.6)
            state["locked"] += 1

    s = _while_recording(
        cluster,
        out,
        ["--routing", "primary", "--ops", "2000", "--think", "2", "--timeout", "0.2", "--seed", "4"],
        hold_lock,
    )
    events = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    timed_out = [e for e in events if "statement timeout" in e.get("error", "")]
    assert any(e["type"] == "info" for e in timed_out)  # a write: it may yet have committed
    assert any(e["type"] == "fail" for e in timed_out)  # a read: it changed nothing
    assert s["info"] + s["fail"] == sum(1 for e in events if e["type"] in ("info", "fail"))
    code, result = check(out)
    assert (code, result["valid"]) == (0, True), result


def test_a_replica_that_is_not_a_standby_is_refused(cluster, tmp_path):
    primary = cluster[0]
    res = CliRunner().invoke(
        cli,
        [
            "record",
            "postgres",
            "--primary",
            primary,
            "--replica",
            primary,
            "--out",
            str(tmp_path / "h.jsonl"),
            "--ops",
            "10",
        ],
    )
    assert res.exit_code == 2
    assert "is not a standby" in res.output and "Traceback" not in res.output


def test_an_unreachable_server_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "record",
            "postgres",
            "--primary",
            "host=127.0.0.1 port=1 password=hunter2",
            "--replica",
            "host=127.0.0.1 port=1",
            "--timeout",
            "1",
            "--out",
            str(tmp_path / "h.jsonl"),
        ],
    )
    assert res.exit_code == 2
    assert res.output.startswith("error: cannot connect to the primary") and res.output.count("\n") == 1
    assert "hunter2" not in res.output


def test_failing_over_asynchronous_replication_loses_acknowledged_writes(tmp_path):
    with started_cluster(tmp_path / "pg") as dsns:  # its own: the failover leaves it promoted
        out = tmp_path / "failover.jsonl"
        # 4000 ops at >= 2 ms each over 8 clients: at least a second, past the promotion
        s = record(
            dsns,
            out,
            "--routing",
            "primary",
            "--clients",
            "8",
            "--ops",
            "4000",
            "--think",
            "2",
            "--failover-after",
            "300",
            "--failover-gap",
            "200",
            "--seed",
            "5",
        )
    assert "error" not in s["failover"], s["failover"]
    assert s["failover"]["promoted_at_ms"] >= s["failover"]["cut_at_ms"] + 200
    # the promoted replica is all there is; rows retire after 128 writes, so more than 8
    assert s["final_reads"] == {"primary": 0, "replica": s["keys_used"]} and s["keys_used"] > 8
    events = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert [e["f"] for e in events if e["process"] == "nemesis"] == ["stop-replication", "promote"]
    code, result = check(out, "--consistency", "durability")
    model = result["models"]["durability"]
    assert (code, model["valid"]) == (1, False), model
    # the witness: a write the old primary acknowledged, and a final read of its row on
    # the promoted replica that does not have it
    write, read = model["witness"]["ops"]
    assert (write["f"], write["status"], write["node"]) == ("append", "ok", "primary")
    assert (read["f"], read["node"], read["key"]) == ("read", "replica", write["key"])
    assert write["value"] not in read["output"]
    assert events[read["line"] - 2]["session"] == "final"


def test_reads_spread_over_replicas_with_different_lag_go_back_in_time(tmp_path):
    # one replica replays at once, the other 300 ms late: a session's read on the first
    # can show appends that its next read, on the second, has lost again
    with started_cluster(tmp_path / "pg", "--replicas", "2", "--delay", f"0,{DELAY_MS}") as dsns:
        out = tmp_path / "two.jsonl"
        s = record(dsns, out, "--routing", "replica", *OPS)
    assert s["reads"]["primary"] == 0 and s["reads"]["replica"] > 0 and s["reads"]["replica2"] > 0
    assert s["replay_delay_ms"] == {"replica": 0, "replica2": DELAY_MS}
    assert s["final_reads"] == {"primary": 8, "replica": 8, "replica2": 8}
    code, result = check(out, "--consistency", "monotonic-reads")
    model = result["models"]["monotonic-reads"]
    assert (code, model["valid"]) == (1, False), model
    reads = [op for op in model["witness"]["ops"] if op["f"] == "read"]
    assert {op["node"] for op in reads} == {"replica", "replica2"}


def test_the_text_summary_names_the_seed_the_counts_and_the_next_step(cluster, tmp_path):
    primary, replica = cluster
    out = tmp_path / "h.jsonl"
    res = CliRunner().invoke(
        cli,
        ["record", "postgres", "--primary", primary, "--replica", replica, "--ops", "40", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "recorded 56 operations from 8 clients" in res.output  # 40, and 8 rows read on 2 servers
    assert "seed " in res.output and f"recovery_min_apply_delay: replica {DELAY_MS} ms" in res.output
    assert res.output.rstrip().endswith(f"next: replicheck check {out} --consistency read-your-writes")
    meta = json.loads(out.read_text().splitlines()[0])["replicheck"]
    seed = meta["recorded"]["seed"]
    assert f"seed {seed})" in res.output and f"--seed {seed}" in meta["source"]  # replayable choices


def test_an_unwritable_history_path_is_refused_before_the_database_is_touched(tmp_path):
    # the primary is unreachable too: the path must be what is reported, checked first
    res = CliRunner().invoke(
        cli,
        [
            "record",
            "postgres",
            "--primary",
            "host=127.0.0.1 port=1",
            "--routing",
            "primary",
            "--out",
            str(tmp_path / "no" / "h.jsonl"),
        ],
    )
    assert res.exit_code == 2
    assert res.output.startswith("error: cannot write the history to") and "Traceback" not in res.output


def test_reading_from_replicas_without_one_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(
        cli, ["record", "postgres", "--primary", "host=127.0.0.1 port=1", "--out", str(tmp_path / "h.jsonl")]
    )
    assert res.exit_code == 2 and "needs a replica (--replica DSN)" in res.output


def test_rows_retire_after_their_last_write_so_reads_stay_short(cluster, tmp_path):
    out = tmp_path / "rotate.jsonl"
    s = record(
        cluster,
        out,
        "--routing",
        "primary",
        "--ops",
        "600",
        "--keys",
        "4",
        "--max-writes-per-key",
        "10",
        "--seed",
        "11",
    )
    assert s["keys_used"] > 4 and s["final_reads"]["primary"] == s["keys_used"]
    events = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    lists = [e["value"][0][2] for e in events if e["type"] == "ok" and e["value"][0][0] == "r"]
    assert lists and max(len(xs) for xs in lists) <= 10
    for args in ((), ("--consistency", "durability")):
        code, result = check(out, *args)
        assert (code, result["valid"]) == (0, True), result
