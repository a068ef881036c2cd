"""Each input mistake issue 14 found taken silently is now a clean usage error (exit 2,
saying how to write it) or gives the right result."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from replicheck.cli.check import parse_init
from replicheck.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def register_history(tmp_path):
    """write 1 then a read of 1: linearizable whatever the initial value."""
    path = tmp_path / "h.jsonl"
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 0, "type": "invoke", "f": "read", "value": None},
        {"process": 0, "type": "ok", "f": "read", "value": 1},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


@pytest.mark.parametrize("text", ["zero", "None", '{"x":1', "True", "[a]", "1 2", '{"a":1}', "{:a 1}"])
def test_init_that_is_not_one_json_or_edn_value_is_exit_2(register_history, text):
    r = run("check", register_history, "--spec", "register", "--init", text)
    assert r.exit_code == 2, r.output
    assert "--init" in r.output and ("JSON" in r.output or "map" in r.output)
    assert "Traceback" not in r.output


def test_init_word_error_says_how_to_quote_it(register_history):
    r = run("check", register_history, "--init", "zero")
    assert "'\"zero\"'" in r.output


@pytest.mark.parametrize(
    "text, value",
    [
        ("0", 0),
        ("nil", None),
        ("null", None),
        ('"zero"', "zero"),
        ("[1,2]", (1, 2)),
        ("[1 2]", (1, 2)),
        (":x", ":x"),
        ("true", True),
        ("-3", -3),
        ("#{1 2}", frozenset({1, 2})),
    ],
)
def test_init_reads_json_and_edn(text, value):
    assert parse_init(text) == value


def test_a_right_init_gives_the_right_verdict(register_history):
    assert run("check", register_history, "--spec", "register", "--init", "0").exit_code == 0
    assert run("check", register_history, "--spec", "register", "--init", '"zero"').exit_code == 0


@pytest.mark.parametrize(
    "flag, value, words",
    [
        ("--skew", "n1=1e308", "at most"),
        ("--skew", "n1=nan", "finite"),
        ("--read-ratio", "nan", "finite"),
        ("--loss", "inf", "finite"),
        ("--crash", "n1@inf", "finite"),
        ("--heal", "1e300", "at most"),
        ("--latency", "constant:1e308", "at most"),
        ("--link", "n1-n9=constant:5", "no node 'n9'"),
        ("--skew", "n7=5", "no node 'n7'"),
    ],
)
def test_simulate_bad_value_is_one_usage_error(flag, value, words):
    r = run("simulate", "leader-follower", "--ops", "10", flag, value)
    assert r.exit_code == 2, r.output
    error = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and words in error[0] and "Traceback" not in r.output


def test_explore_replay_of_a_seed_that_is_not_an_integer_is_exit_2(tmp_path):
    meta = {
        "spec": "register",
        "explore": {"design": "leaderless", "property": "linearizable", "seed": "x", "schedule": []},
    }
    path = tmp_path / "cx.jsonl"
    event = {"process": 0, "type": "invoke", "f": "read", "value": None}
    path.write_text(json.dumps({"replicheck": meta}) + "\n" + json.dumps(event) + "\n")
    r = run("explore", "--replay", str(path))
    assert r.exit_code == 2 and 'seed "x" is not an integer' in r.output, r.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["explore", "--matrix", "--out", "x.jsonl"], "--out does not apply to --matrix"),
        (["explore", "--matrix", "--html", "x.html"], "--html does not apply to --matrix"),
        (["explore", "--matrix", "leaderless"], "TOPOLOGY does not apply to --matrix"),
        (["explore", "--matrix", "--replication", "sync"], "--replication does not apply to --matrix"),
        (["explore", "--replay", "cx.jsonl", "--seed", "3"], "--seed does not apply to --replay"),
        (["explore", "--replay", "cx.jsonl", "--out-dir", "d"], "--out-dir does not apply to --replay"),
        (
            ["quorum", "check", "-n", "3", "-w", "2", "-r", "2", "--out-dir", "d"],
            "--out-dir applies to --simulate",
        ),
        (["check", "h.jsonl", "--consistency", "sequential", "--html", "x.html"], "linearizability"),
    ],
)
def test_a_flag_that_does_not_apply_is_a_usage_error(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code == 2 and words in r.output, r.output
    assert os.listdir(tmp_path) == []  # refused before anything ran


def test_latency_means_the_same_in_simulate_and_quorum_staleness():
    from replicheck.model.sim import parse_latency as sim_latency
    from replicheck.quorum.staleness import parse_latency as pbs_latency

    for text in (
        "exp:5",
        "exponential:5",
        "constant:2",
        "uniform:1,3",
        "pareto:1,2",
        "0.5*exp:1+0.5*constant:9",
    ):
        a, b = sim_latency(text), pbs_latency(text).dist
        assert a.describe() in b.describe(), (text, a.describe(), b.describe())
    assert sim_latency("exp:5").mean_ms == 5  # a mean in ms, not a rate


def test_quorum_simulate_prints_the_spelling_quorum_takes():
    r = run(*"quorum check --nodes 3 -w 2 -r 2 --no-measure --simulate --runs 1".split())
    assert "replicheck simulate leaderless --nodes 3 -w 2 -r 2" in r.output
    again = run(*"quorum check --nodes 3 -w 2 -r 2 --no-measure".split())
    assert again.exit_code == 0


@pytest.mark.parametrize(
    "old, new",
    [
        (
            "simulate leader-follower --ops 10 --timeout-ms 70",
            "simulate leader-follower --ops 10 --client-timeout-ms 70",
        ),
        ("check {h} -q", "check {h} --no-progress"),
        ("check {h} --spec register", "check {h} --model register"),
    ],
)
def test_old_spellings_still_work_and_mean_the_same(register_history, old, new):
    a = run(*old.format(h=register_history).split())
    b = run(*new.format(h=register_history).split())
    assert a.exit_code == b.exit_code == 0, (a.output, b.output)
    assert a.output.splitlines()[0] == b.output.splitlines()[0]  # the verdict; later lines time it


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--quiet-period", "5"], "apply to --consistency"),
        (["--session-field", "client"], "apply to --consistency"),
        (["--consistency", "sequential", "--jobs", "2"], "--jobs applies to linearizability"),
        (["--consistency", "sequential", "--out-dir", "d"], "--out-dir go with linearizability"),
    ],
)
def test_check_flags_for_the_other_mode_are_usage_errors(register_history, extra, words):
    r = run("check", register_history, *extra)
    assert r.exit_code == 2 and words in r.output, r.output


def test_record_failover_gap_without_failover_is_a_usage_error(tmp_path):
    out = tmp_path / "h.jsonl"
    r = run(
        "record",
        "postgres",
        "--primary",
        "host=/nonexistent",
        "--routing",
        "primary",
        "--out",
        str(out),
        "--failover-gap",
        "50",
    )
    assert r.exit_code == 2 and "--failover-gap applies with --failover-after" in r.output
    assert not out.exists()
