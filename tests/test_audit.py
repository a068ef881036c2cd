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
    assert "'ms'" in r.output and "Traceback" not in r.output, r.output
