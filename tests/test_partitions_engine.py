"""One history's partitions (keys) judged as engine tasks agree with the check in one process."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_budgets import many_keys

from replicheck.checker import check, resolve_spec, write_jsonl
from replicheck.checker.linearizable import PARTITION_SEARCH, partition_groups, searchable_parts
from replicheck.cli.fanout import partitions_on
from replicheck.cli.main import cli
from replicheck.engine import Layout


def _on(layout: Layout, h):
    token = PARTITION_SEARCH.set(partitions_on(layout, quiet=True))
    try:
        return check(h, jobs=1)
    finally:
        PARTITION_SEARCH.reset(token)


def _tasks(h) -> int:
    parts = searchable_parts(h.ops, resolve_spec(h, None))
    return len(partition_groups(parts, sorted(range(len(parts)), key=lambda k: len(parts[k]))))


@pytest.mark.parametrize("bad", [set(), {450}, {30, 470}])
def test_partitions_as_tasks_give_the_same_verdict_and_failing_key(bad):
    h = many_keys(500, bad, seed=7)
    assert _tasks(h) >= 2  # really cut into tasks
    here = check(h, jobs=1)
    split = _on(Layout(), h)
    assert here.valid is split.valid is (not bad)
    assert here.partitions == split.partitions == 500
    if bad:
        assert split.key == here.key and split.op.id == here.op.id
        assert split.key in bad
    else:
        assert split.witness == here.witness


@pytest.mark.slow
def test_partitions_on_a_local_two_worker_cluster_match_the_check_in_one_process():
    for bad in ({450}, {30, 470}, set()):
        h = many_keys(500, bad, seed=7)
        here = check(h, jobs=1)
        there = _on(Layout(jobs=2), h)
        assert here.valid is there.valid is (not bad)
        assert there.key == here.key
        if bad:
            assert there.op.id == here.op.id


def test_the_hook_is_left_unset_after_a_check_on_the_command_line(tmp_path, monkeypatch):
    path = tmp_path / "h.jsonl"
    h = many_keys(500, {450}, seed=7)
    write_jsonl(str(path), h.events, h.meta)
    monkeypatch.setattr("replicheck.cli.fanout.Layout.inline", property(lambda self: True))
    r = CliRunner().invoke(cli, ["check", str(path), "--scheduler", "tcp://127.0.0.1:9", "--json"])
    assert r.exit_code == 1, r.output
    assert json.loads(r.output)["key"] == check(h).key
    assert PARTITION_SEARCH.get() is None
