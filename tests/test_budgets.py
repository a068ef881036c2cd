"""Budgets users rely on: --memory bounds the process, --timeout is honoured, --jobs does
not change verdicts, and a history with nothing to check is valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicheck.checker import History, check, write_jsonl
from replicheck.checker.consistency import SEARCH_TIMEOUT, check_consistency
from replicheck.cli.main import cli

# A spec whose states are megabytes: each crashed append adds a 1 MB block, and a read
# of -1 fits no state, so the search tries every order of every subset of the appends
# (each a new, distinct state) before it could say "invalid". It is the test's own, so
# smarter pruning of the built-in specs cannot make it easy.
BLOB_SPEC = """
class Blob:
    name = "blob"

    def init(self):
        return b""

    def partition(self, ops):
        by_key = {}
        for op in ops:
            by_key.setdefault(op.key, []).append(op)
        return list(by_key.values())

    def step(self, state, op):
        if op.f == "append":
            return True, state + bytes([op.value % 256]) * BLOCK
        return op.output == len(state), state


class Slow(Blob):
    def step(self, state, op):
        import time

        end = time.perf_counter() + 0.05  # 50 ms a step: 1,024 steps are most of a minute
        while time.perf_counter() < end:
            pass
        return super().step(state, op)
"""


def blob_events(appends: int, key: str = "k", filler_keys: int = 0) -> list[dict]:
    events = []
    for k in range(filler_keys):  # trivially valid keys, so that there are tasks to share
        for _ in range(10):
            events += [
                {"process": f"f{k}", "type": "invoke", "f": "read", "key": f"f{k}", "value": None},
                {"process": f"f{k}", "type": "ok", "f": "read", "key": f"f{k}", "value": 0},
            ]
    for p in range(appends):
        events.append({"process": f"{key}{p}", "type": "invoke", "f": "append", "key": key, "value": p})
    events.append({"process": f"{key}r", "type": "invoke", "f": "read", "key": key, "value": None})
    events.append({"process": f"{key}r", "type": "ok", "f": "read", "key": key, "value": -1})
    return events


@pytest.fixture
def blob(tmp_path, monkeypatch):
    (tmp_path / "blobspec.py").write_text(textwrap.dedent(BLOB_SPEC).replace("BLOCK", "1_000_000"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def run_measured(args: list[str], cwd: Path) -> tuple[int, int, str]:
    """Run `replicheck ARGS` in a fresh process; its exit code, peak RSS in bytes, output.

    A wrapper process runs it, so that RUSAGE_CHILDREN sees that run alone."""
    wrapper = textwrap.dedent("""
        import json, resource, subprocess, sys
        r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024
        print(json.dumps([r.returncode, peak, r.stdout + r.stderr]))
    """)
    replicheck = [sys.executable, "-c", "import sys; from replicheck.cli.main import main; sys.exit(main())"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *replicheck, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
    )
    code, peak, output = json.loads(out.stdout)
    return code, peak, output


def test_memory_budget_bounds_the_process_peak_rss(blob):
    # Unbounded, this search grows by gigabytes a second; the budget is the process's.
    write_jsonl(blob / "h.jsonl", History.from_events(blob_events(14)).events)
    args = ["check", "h.jsonl", "--spec", "blobspec:Blob", "--memory", "300"]
    code, peak, output = run_measured(args, blob)
    assert code == 3, output
    assert "Unknown: memory budget exhausted" in output
    assert peak < 300e6, f"peak RSS {peak / 1e6:.0f} MB over the 300 MB budget"


@pytest.mark.slow
def test_memory_budget_is_shared_by_workers(blob):
    # Two hard keys among many easy ones: two workers, each held to its share, then the
    # keys that ran out of a share tried again with the whole budget once workers are gone.
    events = blob_events(14, "a", filler_keys=450) + blob_events(14, "b")
    write_jsonl(blob / "h.jsonl", History.from_events(events).events)
    args = ["check", "h.jsonl", "--spec", "blobspec:Blob", "--memory", "300", "--jobs", "2"]
    code, peak, output = run_measured(args, blob)
    assert code == 3, output
    assert "450 of 452 partitions were decided" in output
    assert peak < 300e6, f"a process peaked at {peak / 1e6:.0f} MB"


def test_timeout_is_honoured_within_a_second_however_slow_a_step(blob):
    # Before, the clock was read every 1,024 steps: here, 51 s.
    write_jsonl(blob / "h.jsonl", History.from_events(blob_events(14)).events)
    started = time.monotonic()
    args = ["check", str(blob / "h.jsonl"), "--spec", "blobspec:Slow", "--timeout", "1"]
    res = CliRunner().invoke(cli, args)
    elapsed = time.monotonic() - started
    assert res.exit_code == 3, res.output
    assert "Unknown: time budget exhausted" in res.output
    assert elapsed < 1 + 1.5, f"--timeout 1 took {elapsed:.1f} s"


def test_library_timeout_interrupts_a_slow_step_too(blob):
    from blobspec import Slow  # type: ignore[import-not-found]

    started = time.monotonic()
    result = check(History.from_events(blob_events(14)), Slow(), timeout=0.5, max_memory_mb=None)
    assert result.valid == "unknown" and "time budget" in result.reason
    assert time.monotonic() - started < 0.5 + 1.5


def test_consistency_searches_have_a_default_time_budget(monkeypatch):
    # The default is what `check --consistency sequential` uses without --timeout.
    from replicheck.checker import consistency

    assert SEARCH_TIMEOUT == 60.0
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 1, "type": "invoke", "f": "read", "value": None},
        {"process": 1, "type": "ok", "f": "read", "value": 1},
    ]
    h = History.from_events(events, meta={"spec": "register"})
    # No time at all left of the default: the search says unknown, and how to get more.
    res = check_consistency(h, "register", "sequential", started=time.monotonic() - SEARCH_TIMEOUT)
    seq = res.models["sequential"]
    assert seq.valid == "unknown"
    assert "time budget exhausted after 60 s (the default" in seq.reason and "--timeout" in seq.reason
    assert consistency.check_consistency.__kwdefaults__["timeout"] == SEARCH_TIMEOUT


def many_keys(keys: int, bad: set[int], seed: int) -> History:
    import random

    rng = random.Random(seed)
    events = []
    for k in range(keys):
        value = 0
        for i in range(10):
            p = 3 * k + i % 3
            if rng.random() < 0.5 and not (k in bad and i == 9):
                value = rng.randrange(4)
                events += [
                    {"process": p, "type": "invoke", "f": "write", "key": k, "value": value},
                    {"process": p, "type": "ok", "f": "write", "key": k, "value": value},
                ]
            else:
                seen = value + 9 if k in bad and i == 9 else value
                events += [
                    {"process": p, "type": "invoke", "f": "read", "key": k, "value": None},
                    {"process": p, "type": "ok", "f": "read", "key": k, "value": seen},
                ]
    return History.from_events(events, meta={"spec": "cas-register", "init": 0})


@pytest.mark.parametrize("bad", [set(), {450}, {30, 470}])
def test_jobs_give_the_same_verdict_and_culprit(bad):
    h = many_keys(500, bad, seed=7)
    one = check(h, jobs=1)
    two = check(h, jobs=2)
    assert one.valid is two.valid is (not bad)
    assert one.partitions == two.partitions == 500
    if bad:
        # The first invalid key in size order decides, whichever worker finished first.
        assert one.key == two.key and one.op.id == two.op.id
    else:
        assert one.witness == two.witness


@pytest.mark.parametrize(
    "events",
    [
        [],
        [
            {"process": "nemesis", "type": "info", "f": "start", "value": None},
            {"process": "nemesis", "type": "info", "f": "stop", "value": None},
        ],
    ],
    ids=["empty", "nemesis-only"],
)
def test_a_history_without_operations_is_valid_with_a_note(tmp_path, events):
    path = tmp_path / "h.jsonl"
    write_jsonl(path, History.from_events(events).events, {"spec": "register"})
    res = CliRunner().invoke(cli, ["check", str(path)])
    assert res.exit_code == 0, res.output
    assert "note:" in res.output and "no client operations" in res.output
    data = json.loads(CliRunner().invoke(cli, ["check", str(path), "--json"]).output)
    assert data["valid"] is True and "no client operations" in data["note"]
    res = CliRunner().invoke(cli, ["check", str(path), "--consistency", "sequential"])
    assert res.exit_code == 0 and "no client operations" in res.output


def test_an_empty_edn_vector_is_a_valid_history(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text("[]\n")
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "cas-register"])
    assert res.exit_code == 0, res.output


def test_timeout_counts_and_interrupts_reading(tmp_path):
    # 800k events take over a second to read on any machine (the fast readers do ~300k
    # events/s): a 0.1 s budget ends during the reading.
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        fh.write('{"replicheck": {"spec": "register"}}\n')
        fh.writelines(
            f'{{"process": {i % 10}, "type": "invoke", "f": "write", "value": {i}}}\n'
            f'{{"process": {i % 10}, "type": "ok", "f": "write", "value": {i}}}\n'
            for i in range(400_000)
        )
    started = time.monotonic()
    res = CliRunner().invoke(cli, ["check", str(path), "--timeout", "0.1", "--json"])
    assert res.exit_code == 3, res.output
    assert json.loads(res.output) == {"valid": "unknown", "reason": "time budget exhausted while reading"}
    assert time.monotonic() - started < 0.1 + 1.5
