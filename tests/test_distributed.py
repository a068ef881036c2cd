"""The engine: one path in-process, on a local Dask cluster and on a remote scheduler.

The quick tests need no cluster. The slow ones start a real `dask scheduler` and two
`dask worker` processes on 127.0.0.1 (random free ports, bounded waits) and check that
results are identical to the in-process run with the same seed, that a worker killed
mid-campaign loses nothing and counts nothing twice, and that a scheduler that goes away
is an error, not a hang.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from bench_modules import gen_histories
from click.testing import CliRunner
from test_exhaustive import without_timing

import replicheck.engine as engine
from replicheck.cli.artifacts import hypothesis_home
from replicheck.cli.main import cli
from replicheck.engine import ClusterLost, Layout, derive_seed, run
from replicheck.model.campaign import campaign
from replicheck.model.exhaustive import exhaustive
from replicheck.model.explore import DESIGNS

ROOT = Path(__file__).resolve().parents[1]
HISTORIES = sorted(str(p) for p in (ROOT / "histories").glob("*.jsonl"))
CELLS = [
    ("ml-lww", DESIGNS["ml-lww"], "durability"),
    ("leaderless-abd", DESIGNS["leaderless-abd"], "linearizable"),
]


@pytest.fixture(autouse=True)
def _hypothesis_home():
    # as the CLI runs its searches: Hypothesis's files in a temporary directory
    with hypothesis_home(None):
        yield


def square(x: int) -> int:
    return x * x


def test_seeds_come_from_the_campaign_seed_and_index_only():
    assert derive_seed(7, 3) == derive_seed(7, 3)
    seeds = {derive_seed(s, i) for s in range(3) for i in range(50)}
    assert len(seeds) == 150  # nearby campaigns share no runs
    assert all(0 <= s < 2**32 for s in seeds)


def test_results_are_handed_on_in_task_order_whatever_order_they_finish_in():
    seen: list[int] = []
    order = engine._InOrder(lambda i, r: seen.append(i), stop=lambda r: r == "stop")
    for i, r in [(2, "b"), (0, "a"), (4, "stop"), (4, "stop"), (5, "late"), (1, "a"), (3, "stop")]:
        order.add(i, r)
    # 3 stops before 4 once it lands: 4 is dropped, 5 never counted, each index once
    assert seen == [0, 1, 2, 3]
    assert order.stopped_at == 3 and sorted(order.results) == [0, 1, 2, 3]
    assert order.done(10)


def test_in_process_run_stops_at_the_first_match_and_skips_the_rest():
    calls: list[int] = []
    out = run(
        square, [(i,) for i in range(10)], stop=lambda r: r >= 9, on_result=lambda i, r: calls.append(i)
    )
    assert out.ordered == [0, 1, 4, 9] and out.stopped_at == 3 and calls == [0, 1, 2, 3]
    assert out.layout == "in-process"


def test_layout_reads_the_scheduler_from_the_environment(monkeypatch):
    monkeypatch.setenv(engine.ENV_SCHEDULER, "tcp://10.0.0.5:8786")
    assert Layout.from_options(None, None) == Layout(1, "tcp://10.0.0.5:8786")
    assert Layout.from_options(3, "tcp://other:1").scheduler == "tcp://other:1"
    monkeypatch.delenv(engine.ENV_SCHEDULER)
    assert Layout.from_options(None, None).inline and not Layout.from_options(2, None).inline


def test_campaign_summary_as_data_with_counterexamples_that_replay(tmp_path):
    c = campaign(CELLS[:1], 3, seed=0, max_examples=30, steps=12, out_dir=str(tmp_path))
    js, txt = c.write(str(tmp_path))
    data = json.loads(Path(js).read_text())
    cell = data["cells"][0]
    assert cell["runs"] == 3 and cell["verdict"] == "broken" and cell["examples"] > 0
    assert [x["seed"] for x in cell["counterexamples"]] == [
        derive_seed(0, x["run"]) for x in cell["counterexamples"]
    ]
    saved = cell["counterexamples"][0]["out"]
    assert os.path.exists(saved) and "ml-lww / durability: broken" in Path(txt).read_text()
    replay = CliRunner().invoke(cli, ["explore", "--replay", saved, "--json"])
    assert json.loads(replay.output)["same_history"] is True


CAMPAIGN_IN_A_FRESH_PROCESS = """
import importlib, json, sys
sys.path.insert(0, {tests!r})
for name in {preload!r}:
    importlib.import_module(name)
from replicheck.model.campaign import campaign
from replicheck.model.explore import DESIGNS
pairs = (("ml-lww", "durability"), ("leaderless-abd", "linearizable"))
cells = [(n, DESIGNS[n], p) for n, p in pairs]
print(json.dumps(campaign(cells, {runs}, seed={seed}, max_examples={examples}, steps={steps}).comparable()))
"""


@pytest.mark.slow
def test_a_campaign_draws_the_same_whatever_modules_the_process_has_loaded():
    # Hypothesis draws constants from the local modules a process has loaded; a worker
    # loads other modules than the process that starts a campaign (these preloads changed
    # the examples drawn before explore turned that off)
    preloads = [
        [],
        ["replicheck.cli.check", "replicheck.cli.quorum", "replicheck.cli.record"]
        + ["replicheck.checker.consistency", "replicheck.quorum.prove", "oracle", "strategies"]
        + ["test_explore", "test_differential"],
    ]
    outputs = []
    for preload in preloads:
        code = CAMPAIGN_IN_A_FRESH_PROCESS.format(
            tests=str(ROOT / "tests"), preload=preload, runs=3, seed=11, examples=15, steps=8
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]


def test_campaign_stop_early_ends_at_the_first_counterexample_in_run_order():
    full = campaign(CELLS[:1], 4, seed=0, max_examples=30, steps=12)
    first = min(x["run"] for x in full.cells[0].counterexamples)
    early = campaign(CELLS[:1], 4, seed=0, max_examples=30, steps=12, stop_early=True)
    assert early.stopped_early and early.cells[0].runs == first + 1
    assert [x["run"] for x in early.cells[0].counterexamples] == [first]


def test_unreachable_scheduler_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = CliRunner().invoke(cli, ["check", "--scheduler", f"127.0.0.1:{port}", *HISTORIES[:2]])
    assert r.exit_code == 2, r.output
    assert "cannot reach the Dask scheduler" in r.output and "Traceback" not in r.output


def test_explore_campaign_writes_its_summary_and_counterexamples_under_out_dir(tmp_path):
    design = ["multi-leader", "--nodes", "2", "--conflict", "lww", "--property", "durability"]
    args = [*design, "--campaign", "3", "--max-examples", "30", "--steps", "12", "--out-dir", str(tmp_path)]
    r = CliRunner().invoke(cli, ["explore", *args])
    assert r.exit_code == 1, r.output  # a counterexample was found
    data = json.loads((tmp_path / "campaign.json").read_text())
    assert (tmp_path / "campaign.txt").read_text().strip() in r.output
    found = data["cells"][0]["counterexamples"]
    assert found and all(Path(x["out"]).parent == tmp_path for x in found)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--jobs", "2"], "--jobs and --scheduler apply to --campaign, --matrix and --exhaustive"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--jobs and --scheduler apply"),
        (["--stop-early"], "--stop-early applies to --campaign"),
        (["--matrix", "--stop-early"], "--stop-early applies to --campaign"),
        (["--campaign", "2", "--out", "x.jsonl"], "--out takes one search"),
    ],
)
def test_engine_flags_a_run_would_ignore_are_usage_errors(args, says):
    r = CliRunner().invoke(cli, ["explore", "leader-follower", "--property", "durability", *args])
    assert r.exit_code == 2 and says in r.output, r.output


def test_a_scheduler_in_the_environment_does_not_touch_a_single_search(monkeypatch):
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 0.1)  # would fail fast if it were reached
    args = ["explore", "leader-follower", "--property", "durability", "--max-examples", "3", "--steps", "5"]
    r = CliRunner().invoke(cli, args, env={engine.ENV_SCHEDULER: "tcp://127.0.0.1:9"})
    assert r.exit_code in (0, 1) and "durability" in r.output, r.output


# --- a real cluster on loopback ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask() -> list[str]:
    exe = shutil.which("dask", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "distributed.cli.dask_scheduler"]


def _wait_for_workers(address: str, n: int, timeout: float = 30.0) -> None:
    """Until the scheduler answers and has ``n`` workers (bounded: Dask raises past it)."""
    from distributed import Client

    with Client(address, timeout=10, set_as_default=False) as c:
        if n:
            c.wait_for_workers(n, timeout=timeout)


class LoopbackCluster:
    def __init__(self) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, *args: str) -> subprocess.Popen:
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        p = subprocess.Popen(
            [*_dask(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        self.procs.append(p)
        return p

    def start_scheduler(self) -> None:
        self._spawn("scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard")

    def start_worker(self) -> subprocess.Popen:
        # --no-nanny: the process we hold is the worker itself, so killing it kills the worker
        w = self._spawn(
            "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"
        )
        self.workers.append(w)
        return w

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=3)  # a worker whose scheduler is gone retries for long: kill it
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


@pytest.fixture
def loopback():
    c = LoopbackCluster()
    try:
        c.start_scheduler()
        c.start_worker()
        c.start_worker()
        _wait_for_workers(c.address, 2)
        yield c
    finally:
        c.close()


def _cells(data: dict) -> list[dict]:
    timing = ("elapsed", "found_after", "shrink_time", "out")
    return [{k: v for k, v in cell.items() if k not in timing} for cell in data["cells"]]


@pytest.mark.slow
def test_matrix_campaign_and_batch_check_on_a_real_cluster_match_the_in_process_run(
    loopback, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the matrix saves its counterexamples under ./histories/
    runner = CliRunner()
    matrix = ["explore", "--matrix", "--max-examples", "2", "--steps", "5", "--seed", "5", "--json"]
    matrix += ["--cell-seconds", "0.05"]
    here = runner.invoke(cli, matrix, env={engine.ENV_SCHEDULER: ""})
    there = runner.invoke(cli, [*matrix, "--scheduler", loopback.address])
    assert here.exit_code in (0, 1) and there.exit_code in (0, 1), there.output
    # the exhaustive part of a cell is bounded by time (its depth may differ); the random
    # search after it is bounded by examples and seeded, so it must be the same
    mine_cells, their_cells = json.loads(here.output)["cells"], json.loads(there.output)["cells"]
    assert [(c["name"], c["property"]) for c in mine_cells] == [
        (c["name"], c["property"]) for c in their_cells
    ]
    same = [
        (a["random"], b["random"]) for a, b in zip(mine_cells, their_cells) if a["random"] and b["random"]
    ]
    assert same and all(_cells({"cells": [a]}) == _cells({"cells": [b]}) for a, b in same)

    # the exhaustive search: each level's chunks on the workers, the very same result
    bounded = ["explore", *DESIGNS["lf-async-failover"].split(), "--property", "read-your-writes"]
    bounded += ["--exhaustive", "--depth", "3", "--json"]
    alone = runner.invoke(cli, bounded, env={engine.ENV_SCHEDULER: ""})
    spread = runner.invoke(cli, [*bounded, "--scheduler", loopback.address])
    assert alone.exit_code == spread.exit_code == 1, spread.output
    assert without_timing(json.loads(alone.output)) == without_timing(json.loads(spread.output))

    theirs = campaign(CELLS, 3, seed=11, max_examples=15, steps=8, layout=Layout(scheduler=loopback.address))
    mine = campaign(CELLS, 3, seed=11, max_examples=15, steps=8)  # in this very process
    assert theirs.layout.startswith("Dask scheduler") and mine.comparable() == theirs.comparable()

    check = ["check", *HISTORIES]
    local = runner.invoke(cli, check, env={engine.ENV_SCHEDULER: ""})
    remote = runner.invoke(cli, check, env={engine.ENV_SCHEDULER: loopback.address})
    assert local.exit_code == remote.exit_code and local.output == remote.output
    assert local.output.count("\t") == len(HISTORIES)

    quorum = [
        "quorum",
        "check",
        "-n",
        "3",
        "-w",
        "1",
        "-r",
        "1",
        "--simulate",
        "--runs",
        "3",
        "--ops",
        "150",
        "--json",
    ]
    alone = runner.invoke(cli, quorum, env={engine.ENV_SCHEDULER: ""})
    spread = runner.invoke(cli, [*quorum, "--scheduler", loopback.address])
    assert alone.exit_code == spread.exit_code and alone.output == spread.output
    assert [r["seed"] for r in json.loads(spread.output)["simulation"]["runs"]] == [0, 1, 2]


@pytest.mark.slow
def test_a_worker_killed_mid_campaign_loses_nothing_and_counts_nothing_twice(loopback):
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if not killed:  # after the first result, while the others are running
            victim = loopback.workers[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    args = dict(seed=3, max_examples=25, steps=10)
    there = campaign(CELLS, 4, **args, layout=Layout(scheduler=loopback.address), progress=kill_one_worker)
    assert killed and loopback.workers[0].wait(timeout=10) == -signal.SIGKILL
    assert [c.runs for c in there.cells] == [4, 4]  # every run counted, once
    assert there.comparable() == campaign(CELLS, 4, **args).comparable()


@pytest.mark.slow
def test_the_scheduler_going_away_is_an_error_not_a_hang(loopback, monkeypatch):
    monkeypatch.setattr(engine, "LOST_AFTER", 3.0)

    def kill_scheduler(done: int, total: int) -> None:
        if loopback.procs[0].poll() is None:
            loopback.procs[0].kill()

    started = time.monotonic()
    with pytest.raises(ClusterLost, match="unfinished"):
        campaign(
            CELLS,
            6,
            seed=1,
            max_examples=60,
            steps=10,
            layout=Layout(scheduler=loopback.address),
            progress=kill_scheduler,
        )
    assert time.monotonic() - started < 60  # a bound against a hang, not a timing claim


@pytest.mark.slow
def test_a_scheduler_without_workers_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr(engine, "NO_WORKERS_AFTER", 1.0)
    lonely = LoopbackCluster()
    try:
        lonely.start_scheduler()
        _wait_for_workers(lonely.address, 0)
        with pytest.raises(ClusterLost, match="no workers"):
            run(abs, [(-i,) for i in range(3)], layout=Layout(scheduler=lonely.address))
        # the exhaustive search first sends each level's shared data to the workers
        with pytest.raises(ClusterLost, match="dask worker"):
            exhaustive("lf-sync-leader-reads", "durability", depth=2, layout=Layout(scheduler=lonely.address))
    finally:
        lonely.close()


# --- one history's keys as tasks -------------------------------------------------------------


def _multi_key(tmp_path: Path, valid: bool) -> str:
    """8,000 kv operations over 60 keys (seed 1): four tasks of >= 2,000 operations; the
    invalid version has one stale read, on a key of the third task."""
    gh = gen_histories()
    gen = gh.generate("kv", 8000, keys=60, seed=1, linearizable=valid)
    path = tmp_path / f"kv-8k-{'valid' if valid else 'invalid'}.jsonl"
    gh.write_history(gen, str(path), "jsonl")
    return str(path)


def _untimed(output: str, as_json: bool) -> Any:
    """A check's report without its one timing (the search's seconds)."""
    if as_json:
        d = json.loads(output)
        assert d.pop("elapsed") >= 0
        return d
    return re.sub(r"configurations in [\d.]+ [µm]?s", "configurations in T", output)


def _configs_apart(report: Any, valid: bool) -> Any:
    if valid:
        return report
    if isinstance(report, dict):
        return {k: v for k, v in report.items() if k != "configs"}
    return re.sub(r"\d+ configurations", "N configurations", report)


def _on_engine(layout: Layout, h: Any, stats: dict | None = None, **kw: Any) -> Any:
    from replicheck.checker import check
    from replicheck.checker.linearizable import PARTITION_SEARCH
    from replicheck.cli.fanout import partitions_on

    token = PARTITION_SEARCH.set(partitions_on(layout, quiet=True, stats=stats))
    try:
        return check(h, jobs=1, **kw)
    finally:
        PARTITION_SEARCH.reset(token)


@pytest.mark.parametrize("valid", [False, True])
def test_one_history_by_key_reports_the_same_in_process_forked_and_as_engine_tasks(
    tmp_path, monkeypatch, valid
):
    from replicheck.cli import fanout

    path = _multi_key(tmp_path, valid)
    runner = CliRunner()
    tasks: list[int] = []
    judge = fanout.judge_partitions

    def counted(*args):
        tasks.append(1)
        return judge(*args)

    for as_json in (False, True):
        fmt = ["--json"] if as_json else []
        alone = runner.invoke(cli, ["check", path, "--jobs", "1", *fmt], env={engine.ENV_SCHEDULER: ""})
        forked = runner.invoke(cli, ["check", path, "--jobs", "2", *fmt], env={engine.ENV_SCHEDULER: ""})
        with monkeypatch.context() as m:
            # the engine's path (cut into tasks, one merge) with the tasks run in this process
            m.setattr("replicheck.cli.fanout.Layout.inline", property(lambda self: True))
            m.setattr(fanout, "judge_partitions", counted)
            tasks.clear()
            engine_run = runner.invoke(cli, ["check", path, "--scheduler", "tcp://127.0.0.1:9", *fmt])
        assert alone.exit_code == forked.exit_code == engine_run.exit_code == (0 if valid else 1)
        mine = _untimed(alone.output, as_json)
        # the forked pool takes results as they finish, so an invalid run's configurations
        # count whatever later keys finished before the deciding one: compared apart
        assert _configs_apart(_untimed(forked.output, as_json), valid) == _configs_apart(mine, valid)
        assert _untimed(engine_run.output, as_json) == mine
        # really cut: four tasks, or three when the third holds the invalid key (the run stops there)
        assert len(tasks) == (4 if valid else 3)
    d = json.loads(alone.output)
    assert d["partitions"] == 60 and d["ops"] == 8000
    if not valid:
        assert d["op"]["f"] == "get" and d["key"] is not None


def test_the_partition_tasks_carry_checks_memory_budget(tmp_path, monkeypatch):
    from replicheck.checker import read_history
    from replicheck.cli import fanout

    h = read_history(_multi_key(tmp_path, True))
    seen: list[Any] = []
    judge = fanout.judge_partitions

    def recorded(parts, spec, deadline, memory):
        seen.append((deadline, memory))
        return judge(parts, spec, deadline, memory)

    monkeypatch.setattr(fanout, "judge_partitions", recorded)
    assert _on_engine(Layout(), h, max_memory_mb=3000).valid is True
    assert seen and all(s == (None, 3000) for s in seen)
    seen.clear()
    started = time.time()
    assert _on_engine(Layout(), h, max_memory_mb=None, timeout=60).valid is True
    # the check's deadline, on the clock machines share: not a fresh timeout per task
    assert seen and all(
        memory is None and started < deadline <= time.time() + 60 for deadline, memory in seen
    )
    assert len({deadline for deadline, _ in seen}) == 1


def test_a_partition_task_that_starts_after_the_checks_deadline_searches_nothing(tmp_path):
    from replicheck.checker import read_history, resolve_spec
    from replicheck.checker.linearizable import searchable_parts
    from replicheck.cli.fanout import judge_partitions, pack_partitions

    h = read_history(_multi_key(tmp_path, True))
    spec = resolve_spec(h, None)
    parts = searchable_parts(h.ops, spec)[:3]
    _, late = judge_partitions(pack_partitions(parts), spec, time.time() - 5, None)
    assert [(r.valid, r.reason) for r in late] == [("unknown", "time budget exhausted")] * 3
    _, timely = judge_partitions(pack_partitions(parts), spec, time.time() + 60, None)
    assert [r.valid for r in timely] == [True] * 3


def test_a_partition_task_on_a_worker_thread_stays_within_the_memory_budget(tmp_path, monkeypatch):
    """As on a Dask worker: a thread that is not the main one (no timer signal, no
    RLIMIT_DATA ceiling there), so the search's own checks enforce the budget. A budget
    below what the process already holds leaves every partition unknown, naming the
    budget and the worker; without a budget the same task decides them."""
    import threading
    from types import SimpleNamespace

    from replicheck.checker import read_history, resolve_spec
    from replicheck.checker.linearizable import searchable_parts
    from replicheck.cli import fanout

    h = read_history(_multi_key(tmp_path, True))
    spec = resolve_spec(h, None)
    parts = searchable_parts(h.ops, spec)[:5]
    worker = SimpleNamespace(address="tcp://10.0.0.7:40000", state=SimpleNamespace(nthreads=1))
    monkeypatch.setattr(fanout, "_dask_worker", lambda: worker)
    out: dict[str, Any] = {}

    def task(name: str, memory: float | None) -> None:
        out[name] = fanout.judge_partitions(fanout.pack_partitions(parts), spec, None, memory)

    threads = [threading.Thread(target=task, args=a) for a in (("starved", 1.0), ("free", None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    starved, free = out["starved"][1], out["free"][1]
    assert [r.valid for r in free] == [True] * 5
    for r in starved:
        assert r.valid == "unknown"
        assert r.reason.startswith("memory budget exhausted (resident size")
        assert r.reason.endswith("budget 1 MB) on the Dask worker tcp://10.0.0.7:40000")


def test_a_worker_running_tasks_in_several_threads_shares_the_budget_among_them(monkeypatch):
    from types import SimpleNamespace

    from replicheck.checker import linearizable
    from replicheck.cli import fanout

    calls: list[tuple] = []

    def judge_parts(parts, spec, timeout, memory, *, base, shares):
        calls.append((memory, base, shares))
        return []

    monkeypatch.setattr(linearizable, "judge_parts", judge_parts)
    for threads in (1, 3):
        worker = SimpleNamespace(address="tcp://w:1", state=SimpleNamespace(nthreads=threads))
        monkeypatch.setattr(fanout, "_dask_worker", lambda w=worker: w)
        fanout.judge_partitions(fanout.pack_partitions([]), None, None, 500.0)
    monkeypatch.setattr(fanout, "_dask_worker", lambda: None)
    fanout.judge_partitions(fanout.pack_partitions([]), None, None, 500.0)
    (m1, base1, shares1), (m3, base3, shares3), (m0, base0, shares0) = calls
    assert m1 == m3 == m0 == 500.0
    # one thread (and in-process): the whole budget over the whole process, as check's own
    assert (base1, shares1) == (base0, shares0) == (0, 1)
    # three threads: each may grow by a third of what the budget leaves above the worker
    assert shares3 == 3 and base3 > 0


@pytest.mark.slow
def test_one_history_by_key_on_a_real_cluster_matches_the_in_process_check_within_the_budget(
    loopback, tmp_path
):
    from replicheck.checker import check, read_history

    runner = CliRunner()
    for valid in (False, True):
        path = _multi_key(tmp_path, valid)
        for as_json in (False, True):
            fmt = ["--json"] if as_json else []
            here = runner.invoke(cli, ["check", path, "--jobs", "1", *fmt], env={engine.ENV_SCHEDULER: ""})
            there = runner.invoke(cli, ["check", path, "--scheduler", loopback.address, *fmt])
            assert here.exit_code == there.exit_code == (0 if valid else 1), there.output
            assert _untimed(there.output, as_json) == _untimed(here.output, as_json)
        # the same through the API, to see the cut and the results the workers sent back
        h = read_history(path)
        stats: dict = {}
        mine, theirs = check(h, jobs=1), _on_engine(Layout(scheduler=loopback.address), h, stats)
        assert stats["of"] == 4 and stats["tasks"] == (4 if valid else 3) and stats["task_seconds"] > 0
        assert (
            theirs.valid,
            theirs.key,
            theirs.partitions,
            theirs.searched,
            theirs.configs,
            theirs.decided,
        ) == (
            mine.valid,
            mine.key,
            mine.partitions,
            mine.searched,
            mine.configs,
            mine.decided,
        )
        if valid:
            assert theirs.witness == mine.witness
        else:
            assert theirs.op.id == mine.op.id and theirs.key is not None
    # the same cluster (starting one takes seconds): check's --memory holds on its workers
    _memory_budget_holds_on_a_real_worker(loopback, tmp_path)


def _memory_budget_holds_on_a_real_worker(loopback: LoopbackCluster, tmp_path: Path) -> None:
    from replicheck.checker import read_history, resolve_spec
    from replicheck.checker.linearizable import searchable_parts
    from replicheck.cli.fanout import judge_partitions, pack_partitions

    h = read_history(_multi_key(tmp_path, True))
    spec = resolve_spec(h, None)
    parts = searchable_parts(h.ops, spec)[:5]
    # 1 MB: less than any worker process holds, so the budget alone decides
    out = run(
        judge_partitions,
        [(pack_partitions(parts), spec, None, 1.0), (pack_partitions(parts), spec, None, None)],
        layout=Layout(scheduler=loopback.address),
    )
    (_, starved), (_, free) = out.ordered
    assert [r.valid for r in free] == [True] * 5
    for r in starved:
        assert r.valid == "unknown" and r.reason.startswith("memory budget exhausted (resident size")
        assert "budget 1 MB)" in r.reason and "on the Dask worker tcp://127.0.0.1:" in r.reason


def test_partitions_travel_packed_and_unpack_to_equal_operations(tmp_path):
    from replicheck.checker import read_history, resolve_spec
    from replicheck.checker.history import UNKNOWN
    from replicheck.checker.linearizable import searchable_parts
    from replicheck.cli.fanout import pack_partitions, unpack_partitions

    h = read_history(_multi_key(tmp_path, False))
    parts = searchable_parts(h.ops, resolve_spec(h, None))
    back = unpack_partitions(pack_partitions(parts))
    assert back == parts
    pairs = [(a, b) for p, q in zip(parts, back) for a, b in zip(p, q)]
    assert all(a.line == b.line and a.ret_line == b.ret_line and a.extra == b.extra for a, b in pairs)
    crashed = [b for a, b in pairs if a.crashed]
    assert crashed and all(b.output is UNKNOWN for b in crashed)  # the sentinel, not a copy


_THREADED_BLOB = """
import json, resource, sys, threading
from blobspec import Blob
from test_budgets import blob_events
from replicheck.checker import History
from replicheck.checker.linearizable import searchable_parts
from replicheck.cli.fanout import judge_partitions, pack_partitions

spec = Blob()
packed = pack_partitions(searchable_parts(History.from_events(blob_events(14)).ops, spec))
out = []
task = threading.Thread(target=lambda: out.append(judge_partitions(packed, spec, None, float(sys.argv[1]))))
task.start()  # as a Dask worker runs a task: in a thread, so no timer signal, no RLIMIT_DATA
task.join()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
print(json.dumps([peak, [(r.valid, r.reason) for r in out[0][1]]]))
"""


def test_a_search_in_a_worker_thread_is_stopped_near_the_memory_budget(tmp_path):
    """States of megabytes, 1,024 configurations between the search's own checks: without
    the watchdog thread a 500 MB budget let this task reach 13 GB."""
    from test_budgets import BLOB_SPEC

    (tmp_path / "blobspec.py").write_text(textwrap.dedent(BLOB_SPEC).replace("BLOCK", "1_000_000"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "tests")])}
    run_it = subprocess.run(
        [sys.executable, "-c", _THREADED_BLOB, "300"], capture_output=True, text=True, env=env, timeout=120
    )
    assert run_it.returncode == 0, run_it.stderr
    peak, results = json.loads(run_it.stdout)
    assert [valid for valid, _ in results] == ["unknown"]
    assert results[0][1].startswith("memory budget exhausted")
    assert peak < 1.2 * 300e6, f"peak RSS {peak / 1e6:.0f} MB for a 300 MB budget"


def test_a_timeout_interrupts_a_slow_step_in_a_worker_thread_too():
    """A Dask task's search has no timer signal; the watchdog thread interrupts it past
    the deadline, where the search's own checks would wait 1,024 slow steps."""
    import threading

    from test_budgets import BLOB_SPEC, blob_events

    from replicheck.checker import History, check

    space: dict = {}
    exec(textwrap.dedent(BLOB_SPEC).replace("BLOCK", "1"), space)
    h = History.from_events(blob_events(14))
    out: list = []
    task = threading.Thread(target=lambda: out.append(check(h, space["Slow"](), timeout=0.5, jobs=1)))
    task.start()
    task.join(timeout=60)  # a bound against a hang (1,024 steps of 50 ms), not a timing claim
    assert not task.is_alive() and out
    assert out[0].valid == "unknown" and out[0].reason.startswith("time budget exhausted")
