"""`replicheck simulate` and `replicheck compare` from the command line."""

import json

import pytest
from click.testing import CliRunner

from replicheck.checker import check, read_history
from replicheck.cli.main import cli


def test_simulate_writes_a_history_the_checker_judges_alone(tmp_path):
    out = tmp_path / "h.jsonl"
    r = CliRunner().invoke(
        cli,
        [
            "simulate",
            "leader-follower",
            "--replication",
            "sync",
            "--seed",
            "3",
            "--ops",
            "150",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "seed 3" in r.output and "replicas at the end" in r.output and "replication lag" in r.output
    h = read_history(out)
    assert h.meta["seed"] == 3 and h.meta["spec"] == "register"
    assert check(h).valid is True


def test_simulate_prints_a_seed_when_none_given():
    r = CliRunner().invoke(cli, ["simulate", "leaderless", "--ops", "20", "--json"])
    assert r.exit_code == 0, r.output
    assert isinstance(json.loads(r.output)["seed"], int)


@pytest.mark.parametrize(
    "args, words",
    [
        (["leaderless", "-w", "4", "--nodes", "3"], "write quorum cannot exceed"),
        (["ring-buffer"], "unknown topology"),
        (["leader-follower", "--latency", "constant:-2"], "cannot be negative"),
        (["leader-follower", "--reads", "pin-after-write:soon"], "pin-after-write"),
        (["leader-follower", "--replication", "semi-sync:9"], "semi-sync:K"),
        (["leader-follower", "--crash", "n1"], "NODE@MS"),
        (["leader-follower", "--partition", "10:n1"], "GROUP|GROUP"),
        (["leader-follower", "--seed", "abc"], "seed"),
    ],
)
def test_bad_configuration_is_one_clear_error_and_exit_2(args, words):
    r = CliRunner().invoke(cli, ["simulate", *args, "--ops", "10"])
    assert r.exit_code == 2
    assert words in r.output
    assert "Traceback" not in r.output
    # exit 2 comes from click's usage error, which CliRunner reports as SystemExit
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)


def test_compare_table_and_json():
    r = CliRunner().invoke(cli, ["compare", "--ops", "300", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["replication"]: row for row in json.loads(r.output)["rows"]}
    assert rows["sync"]["write_availability_replica_down"] == 0.0
    assert rows["async"]["write_availability_replica_down"] == 1.0
    assert (
        rows["async"]["acked_writes_lost_on_leader_crash"]
        > 0
        == rows["sync"]["acked_writes_lost_on_leader_crash"]
    )
    assert rows["sync"]["write_latency_median_ms"] > rows["async"]["write_latency_median_ms"]
    assert rows["sync"]["stale_read_rate"] < rows["async"]["stale_read_rate"]
    t = CliRunner().invoke(cli, ["compare", "--ops", "100"])
    assert t.exit_code == 0 and "semi-sync:1" in t.output and "write p99 ms" in t.output


def test_simulate_sloppy_leaderless_reports_hints(tmp_path):
    out = tmp_path / "s.jsonl"
    r = CliRunner().invoke(
        cli,
        [
            "simulate",
            "leaderless",
            "--sloppy",
            "--fallback",
            "2",
            "--read-repair",
            "blocking",
            "--partition",
            "20:n1,f1,f2|n2,n3",
            "--heal",
            "150",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "f1: up" in r.output and "sloppy:" in r.output
    h = read_history(out)
    assert "--sloppy --fallback 2" in h.meta["protocol"]
    assert check(h).valid is False  # stale reads on the side without the hinted writes


@pytest.mark.parametrize(
    "args, words",
    [
        (["leaderless", "--fallback", "2"], "add --sloppy"),
        (["leaderless", "--sloppy", "--fallback", "-1"], "--fallback"),
        (["leaderless", "--workload", "cas-register"], "not supported on leaderless"),
        (["multi-leader", "--workload", "kv", "--conflict", "merge"], "--conflict lww"),
    ],
)
def test_sloppy_and_workload_misconfigurations_exit_2(args, words):
    r = CliRunner().invoke(cli, ["simulate", *args, "--ops", "10"])
    assert r.exit_code == 2
    assert words in r.output
