"""The exhaustive search split by schedule prefixes agrees with the unsplit one."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli
from replicheck.engine import Layout
from replicheck.model.exhaustive import exhaustive
from replicheck.model.split import split_exhaustive

RYW = "read-your-writes"
FAILOVER_ONLY = frozenset({"leader-timeout"})


def _agree(design: str, prop: str, depth: int, layout: Layout, **kw) -> None:
    whole = exhaustive(design, prop, depth=depth, **kw)
    split = split_exhaustive(design, prop, depth=depth, layout=layout, tasks=6, **kw)
    assert split.tasks >= 6 and split.prefix_depth >= 1  # really cut into tasks
    assert split.outcome == whole.outcome
    assert split.complete_depth == whole.complete_depth
    if whole.counterexample is not None:
        assert split.shortest
        assert split.counterexample.steps == whole.counterexample.steps
    # per task, a state is counted once in each task that reaches it: never fewer than unsplit
    assert split.states >= whole.states


def test_split_search_finds_the_same_shortest_counterexample_in_process():
    _agree("lf-async-failover", RYW, 3, Layout(), faults=FAILOVER_ONLY)


def test_split_search_holds_where_the_unsplit_one_holds():
    _agree("lf-sync-leader-reads", RYW, 2, Layout())


def test_split_search_out_of_budget_in_a_task_says_unknown_never_holds():
    r = split_exhaustive("lf-sync-leader-reads", RYW, depth=4, tasks=4, max_states=30)
    assert r.outcome == "unknown" and r.complete_depth < 4
    assert r.reason and r.reason.startswith("prefix ")


def test_the_reported_counterexample_is_the_same_however_many_times_it_is_run():
    a = split_exhaustive("lf-async-failover", RYW, depth=3, tasks=6, faults=FAILOVER_ONLY)
    b = split_exhaustive("lf-async-failover", RYW, depth=3, tasks=6, faults=FAILOVER_ONLY)
    assert a.counterexample.schedule == b.counterexample.schedule


def test_cli_exhaustive_jobs_1_is_the_unsplit_search():
    r = CliRunner().invoke(
        cli,
        ["explore", "leader-follower", "--replication", "sync", "--property", RYW, "--exhaustive"]
        + ["--depth", "2", "--json"],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["outcome"] == "holds" and "tasks" not in data


@pytest.mark.slow
def test_split_search_on_a_local_two_worker_cluster_matches_in_process():
    kw = dict(depth=3, tasks=6, faults=FAILOVER_ONLY)
    here = split_exhaustive("lf-async-failover", RYW, layout=Layout(), **kw)
    there = split_exhaustive("lf-async-failover", RYW, layout=Layout(jobs=2), **kw)
    assert there.outcome == here.outcome == "broken"
    assert there.counterexample.schedule == here.counterexample.schedule
    assert (there.states, there.tasks) == (here.states, here.tasks)
    _agree("lf-async-failover", RYW, 3, Layout(jobs=2), faults=FAILOVER_ONLY)


@pytest.mark.slow
def test_cli_exhaustive_with_jobs_2_splits_and_agrees():
    args = ["explore", "leader-follower", "--replication", "sync", "--property", RYW, "--exhaustive"]
    args += ["--depth", "3", "--json"]
    one = json.loads(CliRunner().invoke(cli, args).output)
    r = CliRunner().invoke(cli, args + ["--jobs", "2"])
    assert r.exit_code == 0, r.output
    two = json.loads(r.output)
    assert two["outcome"] == one["outcome"] == "holds"
    assert two["tasks"] >= 1 and two["states_counted"] == "per prefix"
