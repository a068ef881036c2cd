"""Artifacts in one place: every command run in an empty current directory leaves it
empty; with --out-dir DIR what the run writes lands in DIR."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
STALE = str(ROOT / "histories" / "stale-replica-read.jsonl")


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


EXPLORE = "explore leaderless --nodes 3 -w 1 -r 1 --property linearizable --max-examples 50".split()
QUORUM = "quorum check --nodes 3 -w 2 -r 2 --no-measure --simulate --runs 1".split()


@pytest.mark.parametrize(
    "args, code",
    [
        (EXPLORE, 1),
        (QUORUM, 1),
        (["simulate", "leaderless", "--ops", "30"], 0),
        (["check", STALE, "--minimize"], 1),
    ],
    ids=["explore", "quorum-simulate", "simulate", "check"],
)
def test_a_run_writes_nothing_to_the_current_directory(cwd, args, code):
    r = run(*args)
    assert r.exit_code == code, r.output
    assert sorted(os.listdir(cwd)) == []


def test_explore_out_dir_holds_the_counterexample_and_its_html(cwd, tmp_path):
    out = tmp_path / "out"
    r = run(*EXPLORE, "--out-dir", str(out))
    assert r.exit_code == 1, r.output
    assert os.listdir(cwd) == []
    names = sorted(os.listdir(out))
    assert any(n.endswith(".jsonl") for n in names) and any(n.endswith(".html") for n in names)
    saved = next(out / n for n in names if n.endswith(".jsonl"))
    assert f"replicheck explore --replay {saved}" in r.output
    assert run("explore", "--replay", str(saved)).exit_code == 1


def test_explore_without_out_dir_says_the_counterexample_was_not_saved(cwd):
    r = run(*EXPLORE)
    assert "not saved" in r.output and "--out-dir" in r.output


def test_quorum_simulate_out_dir_holds_the_histories(cwd, tmp_path):
    out = tmp_path / "out"
    r = run(*QUORUM, "--out-dir", str(out))
    assert r.exit_code == 1 and os.listdir(cwd) == []
    assert [n for n in os.listdir(out) if n.endswith(".jsonl")]


def test_simulate_out_dir_holds_the_history(cwd, tmp_path):
    out = tmp_path / "out"
    r = run("simulate", "leaderless", "--ops", "30", "--seed", "4", "--out-dir", str(out))
    assert r.exit_code == 0 and os.listdir(cwd) == []
    assert os.listdir(out) == ["simulate-leaderless-seed4.jsonl"]
    assert run("check", str(out / "simulate-leaderless-seed4.jsonl")).exit_code in (0, 1)


def test_check_out_dir_holds_html_and_minimal_history(cwd, tmp_path):
    out = tmp_path / "out"
    r = run("check", STALE, "--out-dir", str(out))
    assert r.exit_code == 1 and os.listdir(cwd) == []
    assert sorted(os.listdir(out)) == ["stale-replica-read.html", "stale-replica-read.minimal.jsonl"]
    assert run("check", str(out / "stale-replica-read.minimal.jsonl")).exit_code == 1


def test_check_out_dir_names_two_files_of_one_name_apart(cwd, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "h.jsonl").write_text(Path(STALE).read_text())
    out = tmp_path / "out"
    r = run("check", str(a / "h.jsonl"), str(b / "h.jsonl"), "--out-dir", str(out))
    assert r.exit_code == 1, r.output
    assert {"h.html", "h-2.html", "h.minimal.jsonl", "h-2.minimal.jsonl"} <= set(os.listdir(out))


def test_check_out_dir_with_consistency_is_a_usage_error(tmp_path):
    r = run("check", STALE, "--consistency", "read-your-writes", "--out-dir", str(tmp_path))
    assert r.exit_code == 2 and "--out-dir" in r.output


def test_json_output_names_no_file_in_cwd(cwd):
    r = run("simulate", "leaderless", "--ops", "30", "--json")
    assert json.loads(r.output)["out"] is None and os.listdir(cwd) == []


def test_hypothesis_files_go_under_out_dir_or_a_removed_temporary_directory(tmp_path):
    from hypothesis.configuration import storage_directory

    from replicheck.cli.artifacts import hypothesis_home

    with hypothesis_home(str(tmp_path / "out")):
        assert storage_directory("constants").path.is_relative_to(tmp_path / "out" / ".hypothesis")
    with hypothesis_home(None):
        temporary = storage_directory("constants").path
        assert not temporary.is_relative_to(Path.cwd())
    assert not temporary.exists()
