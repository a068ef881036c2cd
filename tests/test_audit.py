"""Issue 14 and 18 findings re-tried as a new user would, after the session's merges: the
ones still open then, each with the input that showed it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("ms", ["x", [1], None, float("inf"), -5, 1e300])
def test_explore_replay_of_a_schedule_step_with_a_bad_time_is_exit_2(tmp_path, ms):
    schedule = [{"do": "write", "client": "c1"}, {"do": "run", "ms": ms}]
    meta = {
        "spec": "register",
        "explore": {"design": "leaderless", "property": "linearizable", "seed": 0, "schedule": schedule},
    }
    path = tmp_path / "cx.jsonl"
    event = {"process": 0, "type": "invoke", "f": "read", "value": None}
    path.write_text(json.dumps({"replicheck": meta}) + "\n" + json.dumps(event) + "\n")
    r = run("explore", "--replay", str(path))
    assert r.exit_code == 2, r.output
    # a time JSON cannot carry (inf) is refused by the reader, with the file and line
    assert ("'ms'" in r.output or "cx.jsonl:1:" in r.output) and "Traceback" not in r.output, r.output


def test_the_api_names_the_quiet_period_as_the_cli_and_the_metadata_do():
    # --quiet-period on the command line and quiet_period in the metadata: the API takes
    # the same word (the old quiet= still works); both at once is a mistake to say
    from replicheck.checker.consistency import check_consistency
    from replicheck.checker.formats import parse_history

    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0},
        {"process": 0, "type": "ok", "f": "write", "value": 1, "time": 10},
        {"process": 1, "type": "invoke", "f": "read", "value": None, "time": 30, "node": "n1"},
        {"process": 1, "type": "ok", "f": "read", "value": 1, "time": 40, "node": "n1"},
    ]
    h = parse_history("".join(json.dumps(e) + "\n" for e in events), format="jsonl")
    settled = check_consistency(h, "register", "convergence", quiet_period=5)
    assert settled.models["convergence"].valid is True
    too_soon = check_consistency(h, "register", "convergence", quiet_period=25)
    assert too_soon.models["convergence"].valid == "unknown"
    assert check_consistency(h, "register", "convergence", quiet=25).models["convergence"].valid == "unknown"
    with pytest.raises(TypeError, match="quiet_period"):
        check_consistency(h, "register", "convergence", quiet=5, quiet_period=5)


@pytest.mark.parametrize(
    "args, words",
    [
        (["simulate", "leader-follower", "-w", "2"], "Error: -w applies to leaderless"),
        (["simulate", "leader-follower", "-r", "2"], "Error: -r applies to leaderless"),
        (["simulate", "leaderless", "-w", "0"], "Error: -w '0': must be at least 1"),
        (["simulate", "leaderless", "-w", "x"], "Error: -w 'x': expected an integer"),
        (["simulate", "leaderless", "-r", "1.5"], "Error: -r '1.5': expected an integer"),
    ],
)
def test_a_mistake_with_a_short_flag_names_the_flag_as_typed(args, words):
    # "--w" is a flag that does not exist: the message must name the one the user typed
    r = run(*args, "--ops", "10")
    assert r.exit_code == 2 and words in r.output, r.output


def test_quorum_simulate_out_dir_that_cannot_be_made_names_the_flag(tmp_path):
    # as simulate, explore and check say it: the flag, the path and why
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad = str(blocker / "sub")
    r = run("quorum", "check", "-n", "3", "-w", "2", "-r", "2", "--simulate", "--runs", "1", "--ops", "20")
    assert r.exit_code == 0, r.output
    r = run(
        "quorum",
        "check",
        "-n",
        "3",
        "-w",
        "2",
        "-r",
        "2",
        "--simulate",
        "--runs",
        "1",
        "--ops",
        "20",
        "--out-dir",
        bad,
    )
    assert r.exit_code == 2 and f"Error: --out-dir {bad}: cannot create it" in r.output, r.output
