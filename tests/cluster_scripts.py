"""Starting and stopping the throwaway clusters of scripts/*-cluster.sh for the tests that
record from real servers; a test skips, with the script's own reason, only when the
script cannot install or start the server."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def started(script: str, where: Path, *args: str) -> Iterator[dict[str, str]]:
    """The cluster's printed NAME_DSN='...' lines as {NAME: DSN}; stopped afterwards."""
    path = ROOT / "scripts" / script
    try:
        res = subprocess.run(
            ["bash", str(path), "start", str(where), *args], capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"{script} start took over 15 min")
    if res.returncode != 0:
        reason = " / ".join(res.stderr.strip().splitlines()[:3]) or f"exit {res.returncode}"
        subprocess.run(["bash", str(path), "stop", str(where)], capture_output=True, timeout=120)
        pytest.skip(f"{script} could not install or start the servers: {reason}")
    dsns = {}
    for line in res.stdout.splitlines():
        if "_DSN=" in line:
            name, value = line.split("=", 1)
            dsns[name.removesuffix("_DSN")] = value.strip("'")
    try:
        yield dsns
    finally:
        subprocess.run(["bash", str(path), "stop", str(where)], capture_output=True, timeout=120)


def record(system: str, out: Path, *args: str) -> dict:
    res = CliRunner().invoke(cli, ["record", system, "--out", str(out), "--json", *args])
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


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def nemesis(path: Path) -> list[tuple[str, object]]:
    return [(e["f"], e["value"]) for e in events(path) if e["process"] == "nemesis"]
