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
    # CPU time, not wall time: on a loaded machine the wall clock runs on while this
    # process waits for a core, and what matters is that the reading stopped early
    started = time.process_time()
    res = CliRunner().invoke(cli, ["check", str(path), "--timeout", "0.1", "--json"])
    assert res.exit_code == 3, res.output
    assert json.loads(res.output) == {"valid": "unknown", "reason": "time budget exhausted while reading"}
    assert time.process_time() - started < 0.1 + 1.5


# -- issue 18: budgets that bound everything before the search, and quorum sizes ---------

# A spec whose preparation never ends (pruning loops) or grows without end (splitting
# allocates a megabyte at a time): before the search starts, where no check of the search's
# own can stop it.
ENDLESS_SPEC = """
class Endless:
    name = "endless"

    def init(self):
        return 0

    def step(self, state, op):
        return True, state

    def prune(self, ops):
        n = 0
        while True:  # a prune quadratic in a huge history, in miniature
            n += 1


class Hungry(Endless):
    def prune(self, ops):
        return ops

    def partition(self, ops):
        hoard = []
        while True:
            hoard.append(bytearray(1_000_000))
"""


def run_bounded(args: list[str], cwd: Path, data_limit: int = 2_000_000_000) -> tuple[int, int, str]:
    """`run_measured`, but a run that never ends fails the test after 120 s, and one whose
    memory is unbounded stops at ``data_limit`` bytes instead of exhausting the machine."""
    wrapper = textwrap.dedent(f"""
        import json, resource, subprocess, sys
        def cap():
            resource.setrlimit(resource.RLIMIT_DATA, ({data_limit}, resource.RLIM_INFINITY))
        try:
            r = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120, preexec_fn=cap)
            code, out = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            code, out = None, "still running after 120 s"
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024
        print(json.dumps([code, peak, out]))
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


@pytest.fixture
def endless(tmp_path):
    (tmp_path / "endlessspec.py").write_text(textwrap.dedent(ENDLESS_SPEC))
    events = []
    for p in range(3):
        events += [
            {"process": p, "type": "invoke", "f": "write", "value": p},
            {"process": p, "type": "ok", "f": "write", "value": p},
        ]
    write_jsonl(tmp_path / "h.jsonl", History.from_events(events).events)
    return tmp_path


@pytest.mark.parametrize("model", [None, "linearizable", "sequential", "all"])
def test_timeout_bounds_the_work_before_the_search(endless, model):
    # Before, validating, splitting and pruning ran outside the budget: this never ended.
    args = ["check", "h.jsonl", "--spec", "endlessspec:Endless", "--timeout", "0.5"]
    args += ["--consistency", model] if model else []
    code, _, output = run_bounded(args, endless)
    assert code == 3 if model != "all" else code in (0, 3), output
    assert "time budget exhausted" in output
    assert "Traceback" not in output


def test_memory_budget_bounds_the_work_before_the_search(endless):
    args = ["check", "h.jsonl", "--spec", "endlessspec:Hungry", "--memory", "300"]
    code, peak, output = run_bounded(args, endless)
    assert code == 3, output
    assert "Unknown: memory budget exhausted" in output
    assert peak < 300e6, f"peak RSS {peak / 1e6:.0f} MB over the 300 MB budget"


def test_issue_18_kv_history_of_megabyte_appends_stays_in_its_budgets(tmp_path):
    # Every append is seen by the one get (so no prune applies), in an order no search finds:
    # the states are concatenations of up to 11 MB, each distinct.
    values = [chr(97 + p) * 1_000_000 for p in range(11)]
    events = [
        {"process": p, "type": "invoke", "f": "append", "key": "k", "value": v} for p, v in enumerate(values)
    ]
    events += [
        {"process": 99, "type": "invoke", "f": "get", "key": "k", "value": None},
        {"process": 99, "type": "ok", "f": "get", "key": "k", "value": "".join(values) + "X"},
    ]
    write_jsonl(tmp_path / "h.jsonl", History.from_events(events).events)
    code, peak, output = run_bounded(
        ["check", "h.jsonl", "--spec", "kv", "--timeout", "2", "--memory", "200"], tmp_path
    )
    assert code == 3, output
    assert "Unknown: memory budget exhausted" in output or "Unknown: time budget exhausted" in output
    assert peak < 200e6, f"peak RSS {peak / 1e6:.0f} MB over the 200 MB budget"


@pytest.mark.slow
def test_issue_18_set_history_stays_in_its_memory_budget(tmp_path):
    # A read that shows every added element and one never added: no prune applies, and the
    # search meets every subset of 24 crashed adds.
    events = [{"process": p, "type": "invoke", "f": "add", "value": p} for p in range(24)]
    events += [
        {"process": 99, "type": "invoke", "f": "read", "value": None},
        {"process": 99, "type": "ok", "f": "read", "value": [*range(24), -1]},
    ]
    write_jsonl(tmp_path / "h.jsonl", History.from_events(events).events)
    code, peak, output = run_bounded(["check", "h.jsonl", "--spec", "set", "--memory", "150"], tmp_path)
    assert code == 3, output
    assert "Unknown: memory budget exhausted" in output
    assert peak < 150e6, f"peak RSS {peak / 1e6:.0f} MB over the 150 MB budget"


def quorum_cli(*args: str) -> tuple[int | None, str]:
    """`replicheck quorum ARGS` in a fresh process; a run that never ends fails the test."""
    cmd = [sys.executable, "-c", "import sys; from replicheck.cli.main import main; sys.exit(main())"]
    try:
        r = subprocess.run([*cmd, "quorum", *args], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "still running after 120 s"
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize(
    "args, what",
    [
        (
            ["check", "--nodes", "1000000000", "-w", "500000001", "-r", "500000000"],
            "N=1000000000 has 1,000,000,000",
        ),
        (["check", "--nodes", "1000000", "-w", "500001", "-r", "500000"], "N=1000000 has 1,000,000"),
        (["check", "--grid", "1000x1000"], "--grid 1000x1000 has 1,000,000"),
        (
            ["check", "--dc", "east=1000000,west=3", "--write", "QUORUM", "--read", "QUORUM"],
            "has 1,000,003 nodes",
        ),
        (["check", "--nodes", "200000", "-w", "1", "-r", "1", "--sloppy", "--fallback", "5"], "200,005"),
        (["staleness", "--nodes", "1000000000", "-w", "1", "-r", "1"], "N=1000000000 has"),
        (["solve", "--write-failures", "200000", "--max-n", "1000000000"], "N=200001"),
    ],
)
def test_quorum_refuses_sizes_past_the_stated_limit(args, what):
    # Before: N = 10**6 took 50 s; 10**9 and a 1000x1000 grid never ended.
    code, output = quorum_cli(*args)
    assert code == 2, output
    assert what in output and "past the limit of 100,000" in output
    assert "Traceback" not in output


def test_quorum_limit_message_gives_the_threshold_arithmetic():
    code, output = quorum_cli("check", "--nodes", "1000000000", "-w", "500000001", "-r", "500000000")
    assert code == 2 and "W + R > N" in output


def test_quorum_per_node_encoding_has_its_own_limit():
    code, output = quorum_cli(
        "check", "--nodes", "20000", "-w", "10001", "-r", "10000", "--encoding", "per-node"
    )
    assert code == 2, output
    assert "per-node encoding is limited to 10,000 nodes" in output


@pytest.mark.slow
def test_quorum_threshold_at_the_limit_is_answered():
    # At the limit no solver is asked: the answer is arithmetic.
    code, output = quorum_cli("check", "--nodes", "100000", "-w", "50000", "-r", "50000", "--f", "50001")
    assert code == 1, output
    assert "REFUTED   read-write intersection" in output
    assert "write fault tolerance = 50000" in output
    assert "write load = 1/2" in output


def test_quorum_staleness_with_an_unprintable_exact_fraction_is_not_a_traceback():
    code, output = quorum_cli("staleness", "--nodes", "100000", "-w", "50000", "-r", "40000", "--trials", "2")
    assert code == 0, output
    assert "too long to print" in output


@pytest.mark.parametrize("n_max", [3, pytest.param(6, marks=pytest.mark.slow)])
def test_quorum_arithmetic_answers_agree_with_the_solver(n_max):
    # Never a wrong verdict: the arithmetic path gives what Z3 gives, on every threshold and
    # Flexible Paxos system up to n_max nodes, for every property and failure count.
    from replicheck import quorum as q
    from replicheck.quorum.prove import Encoder
    from replicheck.quorum.systems import Available, default_properties, holds

    compared = 0
    for n in range(1, n_max + 1):
        for w in range(1, n + 1):
            for r in range(1, n + 1):
                for system in (q.threshold(n, w, r), q.flexible_paxos(n, w, r)):
                    fast, solver = Encoder(system), Encoder(system, arithmetic=False)
                    assert fast.arithmetic and not solver.arithmetic
                    props = default_properties(system)
                    props += [Available(kind, f) for kind in system.kinds for f in range(n + 2)]
                    for prop in props:
                        a, b = fast.decide(prop), solver.decide(prop)
                        assert (a.status, a.value, a.note) == (b.status, b.value, b.note), (system, prop)
                        assert (a.counterexample is None) == (b.counterexample is None)
                        ce = a.counterexample
                        if ce is not None and ce.quorums:
                            (ka, qa), (kb, qb) = ce.quorums.items()
                            assert not set(qa) & set(qb)
                            assert holds(system.predicate(ka.split()[0]), qa)
                            assert holds(system.predicate(kb.split()[0]), qb)
                        if ce is not None and ce.failed:
                            kind = prop.kind  # type: ignore[union-attr]
                            alive = [x for x in system.nodes if x not in set(ce.failed)]
                            assert not holds(system.predicate(kind), alive)
                        compared += 1
    assert compared > 100


@pytest.mark.parametrize("model", ["PRAM", "monotonic-reads", "sequential"])
def test_session_guarantees_are_bounded_by_the_timeout(monkeypatch, model):
    # On 100k operations the dependency graph took over a minute, outside any budget.
    from replicheck.checker import consistency

    def slow_guarantees(*args, **kwargs):
        end = time.monotonic() + 30  # far past the budget: long enough to fail, not to hang
        while time.monotonic() < end:
            pass
        return True, None

    monkeypatch.setattr(consistency, "check_guarantees", slow_guarantees)
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 1, "type": "invoke", "f": "read", "value": None},
        {"process": 1, "type": "ok", "f": "read", "value": 1},
    ]
    h = History.from_events(events, meta={"spec": "register"})
    res = check_consistency(h, "register", model, timeout=0.5)
    got = res.models[model]
    if model == "sequential":  # PRAM ran out, so the search decides, within what is left
        assert got.valid in (True, "unknown")
    else:
        assert got.valid == "unknown" and "time budget exhausted after 0.5 s" in got.reason


def test_what_consistency_reads_before_searching_is_bounded_too(monkeypatch):
    from replicheck.checker import consistency

    real = consistency.observe

    def slow_observe(*args, **kwargs):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(consistency, "observe", slow_observe)
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
    ]
    res = check_consistency(History.from_events(events, meta={"spec": "register"}), "register", timeout=0.5)
    assert res.models and all(m.valid == "unknown" for m in res.models.values())
    assert all("time budget exhausted after 0.5 s, before searching" in m.reason for m in res.models.values())
