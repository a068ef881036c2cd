"""Bounded exhaustive exploration, and the random search measured against it.

Exhaustive searches here use a reduced fault menu where the full one is not the point:
the same search over fewer steps, so the tier stays fast.
"""

import json
import re

import pytest
from click.testing import CliRunner

from replicheck.checker import read_history
from replicheck.cli.main import cli
from replicheck.model.exhaustive import enabled_steps, exhaustive, fingerprint
from replicheck.model.explore import CLAIMS, explore, replay_counterexample, run_cell
from replicheck.model.schedules import SimulatedCluster

FAILOVER_ONLY = frozenset({"leader-timeout"})
RYW = "read-your-writes"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_finding_1_random_search_breaks_async_failover_ryw_with_the_default_budget(seed, tmp_path):
    # Before swarm testing and short rounds: "held for 374 examples" at seeds 0 and 1.
    r = CliRunner().invoke(
        cli,
        [
            *"explore leader-follower --replication async --failover auto --stale-clients 1".split(),
            *f"--property {RYW} --seed {seed} --json -q --out".split(),
            str(tmp_path / "cx.jsonl"),
        ],
    )
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert d["outcome"] == "broken" and d["counterexample"]["steps"] <= 4


def test_random_search_never_says_held_and_counts_its_limits():
    r = explore("lf-sync-leader-reads", RYW, max_examples=24, steps=6, seed=3)
    assert r.outcome == "no counterexample"
    assert r.cell() == "no counterexample in 24 examples of <= 6 steps"
    assert r.examples == 24  # exactly the limit: Hypothesis's late duplicates are not counted


@pytest.mark.slow
def test_exhaustive_finds_the_three_step_counterexample_and_none_shorter(tmp_path):
    short = exhaustive("lf-async-failover", RYW, depth=2, faults=FAILOVER_ONLY)
    assert short.outcome == "holds" and short.complete_depth == 2
    r = exhaustive("lf-async-failover", RYW, depth=3, faults=FAILOVER_ONLY)
    assert r.outcome == "broken"
    cx = r.counterexample
    assert cx.steps == 3
    assert [s["do"] for s in cx.schedule] == ["write", "leader-timeout", "read"]
    assert cx.schedule[0]["client"] == cx.schedule[2]["client"] == "c1"  # the client that re-discovers
    # the saved history replays and the checker alone calls it broken too
    again = replay_counterexample(cx.meta()["explore"])
    assert again.events == cx.events and again.judgement.holds is False


@pytest.mark.slow
def test_cli_exhaustive_saves_a_history_check_agrees_with(tmp_path):
    out = tmp_path / "cx.jsonl"
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            *"explore leader-follower --replication async --failover auto --stale-clients 1".split(),
            *f"--property {RYW} --exhaustive --depth 3 -q --out".split(),
            str(out),
        ],
    )
    assert r.exit_code == 1, r.output
    assert "BROKEN in 3 steps: the shortest counterexample" in r.output
    assert "judge it:   replicheck check --consistency read-your-writes" in r.output
    assert read_history(str(out)).meta["explore"]["schedule"]
    chk = runner.invoke(cli, ["check", "--consistency", RYW, "--session-field", "process", str(out)])
    assert chk.exit_code == 1 and "not read-your-writes" in chk.output
    rep = runner.invoke(cli, ["explore", "--replay", str(out)])
    assert rep.exit_code == 1 and "byte for byte" in rep.output


def test_holds_for_every_schedule_on_a_design_that_keeps_the_guarantee():
    r = exhaustive("lf-sync-leader-reads", RYW, depth=2)
    assert r.outcome == "holds" and r.complete_depth == 2
    assert r.states == sum(r.per_depth) > 100
    assert r.sentence().startswith("holds for every schedule of <= 2 steps (")
    assert r.cell() == f"holds <= 2 steps ({r.states:,} states)"


def test_a_budget_that_runs_out_says_unknown_with_the_depth_reached_never_holds():
    r = exhaustive("lf-sync-leader-reads", RYW, depth=5, max_states=40)
    assert r.outcome == "unknown" and r.complete_depth == 1
    assert r.sentence().startswith("unknown: explored all schedules to depth 1 < 5 (")
    t = exhaustive("lf-sync-leader-reads", RYW, depth=5, timeout=0.05)
    assert t.outcome == "unknown" and t.complete_depth < 5


def test_cli_exhaustive_holds_exits_0_and_unknown_exits_3():
    runner = CliRunner()
    design = "leader-follower --replication sync --reads leader".split()
    ok = runner.invoke(cli, ["explore", *design, "--property", RYW, "--exhaustive", "--depth", "1"])
    assert ok.exit_code == 0, ok.output
    assert "holds for every schedule of <= 1 steps (" in ok.output and "held" not in ok.output
    cut = runner.invoke(
        cli, ["explore", *design, "--property", RYW, "--exhaustive", "--depth", "4", "--max-states", "30"]
    )
    assert cut.exit_code == 3, cut.output
    assert "unknown: explored all schedules to depth" in cut.output


def test_symmetry_reduction_gives_the_same_verdicts_with_fewer_states():
    # c0 and c1 start alike in lf-sync-leader-reads: only one of them takes a first step
    menu = frozenset({"deliver"})
    for prop in (RYW, "linearizable"):
        with_ = exhaustive("lf-sync-leader-reads", prop, depth=2, faults=menu)
        without = exhaustive("lf-sync-leader-reads", prop, depth=2, faults=menu, symmetry=False)
        assert with_.outcome == without.outcome == "holds"
        assert with_.states < without.states


@pytest.mark.slow
def test_symmetry_and_hashing_keep_a_counterexample_and_its_length():
    base = exhaustive("lf-async-failover", RYW, depth=3, faults=FAILOVER_ONLY)
    plain = exhaustive("lf-async-failover", RYW, depth=3, faults=FAILOVER_ONLY, symmetry=False, hashing=False)
    assert base.outcome == plain.outcome == "broken"
    assert base.counterexample.steps == plain.counterexample.steps == 3
    assert base.transitions <= plain.transitions


def test_hashing_merges_orders_that_reach_the_same_state_only():
    c = SimulatedCluster("leader-follower --replication async --reads leader --nodes 3")
    c.apply({"do": "write", "client": "c0"})
    c.apply({"do": "deliver-client-traffic"})
    a, b = [m.id for m in c.pending() if m.dst in ("n2", "n3")]
    one, two = SimulatedCluster(c.design), SimulatedCluster(c.design)
    for s in c.schedule:
        one.apply(s)
        two.apply(s)
    one.apply({"do": "deliver", "message": a})
    one.apply({"do": "deliver", "message": b})
    two.apply({"do": "deliver", "message": b})
    two.apply({"do": "deliver", "message": a})
    assert fingerprint(one) == fingerprint(two)  # two followers' appends commute
    three = SimulatedCluster(c.design)
    for s in c.schedule:
        three.apply(s)
    three.apply({"do": "deliver", "message": a})
    assert fingerprint(three) != fingerprint(one)


def test_every_step_the_exhaustive_search_offers_replays():
    c = SimulatedCluster("leader-follower --replication async --failover auto --stale-clients 1")
    c.apply({"do": "write", "client": "c1"})
    for step in enabled_steps(c):
        again = SimulatedCluster(c.design)
        for s in c.schedule + [step]:
            again.apply(s)  # a step the machine could take here is a valid schedule step


@pytest.mark.slow
@pytest.mark.parametrize(
    "design,prop,faults",
    [
        ("lf-async-failover", RYW, FAILOVER_ONLY),
        ("lf-async-failover", "durability", FAILOVER_ONLY),
        ("ml-lww", "durability", frozenset({"deliver", "skew"})),
    ],
)
def test_random_and_exhaustive_searches_agree_on_small_depths(design, prop, faults):
    # Every counterexample the random search finds has one at least as short among the
    # exhaustive search's; every cell the exhaustive search breaks, the random one breaks.
    rnd = explore(design, prop, max_examples=600, steps=4, derandomize=True, faults=faults)
    assert rnd.outcome == "broken", rnd.cell()
    n = rnd.counterexample.steps
    ex = exhaustive(design, prop, depth=n, faults=faults)
    assert ex.outcome == "broken" and ex.counterexample.steps <= n


@pytest.mark.slow
def test_random_search_finds_nothing_where_every_short_schedule_holds():
    ex = exhaustive("lf-sync-leader-reads", RYW, depth=3, faults=FAILOVER_ONLY)
    assert ex.outcome == "holds"
    rnd = explore("lf-sync-leader-reads", RYW, max_examples=150, steps=3, seed=0, faults=FAILOVER_ONLY)
    assert rnd.outcome == "no counterexample"


@pytest.mark.slow
def test_a_matrix_cell_that_disagrees_with_the_field_says_so():
    c = run_cell("lf-async-failover", "lf-async-failover", RYW, seconds=3, max_examples=300, steps=20)
    assert c.outcome == "broken" and c.claim == CLAIMS[("lf-async-failover", RYW)] == "broken"
    assert c.agrees is True and c.cell().startswith("BROKEN in ")
    c.claim = "holds"
    assert c.agrees is False


# Cells the exhaustive search breaks within two minutes (docs/explore.md's table).
EXHAUSTIVELY_BROKEN = [
    ("lf-async-failover", "linearizable"),
    ("lf-async-failover", RYW),
    ("lf-async-failover", "durability"),
    ("lf-async-failover", "single-leader"),
    ("lf-async-failover", "convergence"),
    ("lf-async-failover-fencing", "linearizable"),
    ("lf-async-failover-fencing", RYW),
    ("lf-async-failover-fencing", "durability"),
    ("lf-async-failover-fencing", "single-leader"),
    ("lf-sync-failover-fencing", "linearizable"),
    ("lf-pin-after-write", "linearizable"),
    ("lf-pin-after-write", RYW),
    ("lf-wait-for-position", "linearizable"),
    ("leaderless-quorum", "durability"),
    ("leaderless-sloppy", "linearizable"),
    ("leaderless-sloppy", RYW),
    ("leaderless-sloppy", "durability"),
    ("ml-lww", "linearizable"),
    ("ml-lww", "durability"),
]


@pytest.mark.slow
@pytest.mark.parametrize("design,prop", EXHAUSTIVELY_BROKEN)
def test_what_the_exhaustive_search_breaks_the_random_search_breaks_with_its_default_budget(design, prop):
    r = explore(design, prop, seed=0, max_examples=300, steps=30)  # the CLI's defaults
    assert r.outcome == "broken", r.cell()


@pytest.mark.slow
def test_a_two_step_exhaustive_counterexample_and_none_shorter():
    r = exhaustive("lf-async-failover", "durability", depth=2)
    assert r.outcome == "broken" and r.counterexample.steps == 2 and r.complete_depth == 1
    assert r.sentence().startswith("BROKEN in 2 steps: the shortest counterexample")


def without_timing(d: dict) -> dict:
    """An exhaustive result's dict (``to_dict()`` or ``--json``) less what measures time:
    the search's and the checker's."""
    d = {k: v for k, v in d.items() if k not in ("elapsed", "summary")}
    if "counterexample" in d:
        cx = dict(d["counterexample"])
        cx["explanation"] = re.sub(r"[0-9.]+ ms", "T ms", cx["explanation"])
        d["counterexample"] = cx
    return d


def _same(r) -> dict:
    return without_timing(r.to_dict())


def test_how_a_level_is_cut_into_tasks_changes_nothing_in_the_result(monkeypatch):
    # Layouts differ only in where each level's chunks run; the chunks themselves and
    # their merge decide the result. One chunk per level is the plain one-by-one search.
    import replicheck.model.exhaustive as ex

    args = [("lf-async-failover", RYW, 3, FAILOVER_ONLY), ("lf-sync-leader-reads", "durability", 2, None)]
    for design, prop, depth, faults in args:
        default = exhaustive(design, prop, depth=depth, faults=faults)
        for chunks in (1, 3):
            monkeypatch.setattr(ex, "CHUNKS", chunks)
            assert _same(exhaustive(design, prop, depth=depth, faults=faults)) == _same(default)
        monkeypatch.setattr(ex, "CHUNKS", 64)


@pytest.mark.slow
def test_a_local_two_process_cluster_gives_the_in_process_result_exactly():
    from replicheck.engine import Layout

    for design, prop, depth, faults in [
        ("lf-async-failover", RYW, 3, FAILOVER_ONLY),
        ("leaderless-quorum", "linearizable", 2, None),
    ]:
        here = exhaustive(design, prop, depth=depth, faults=faults)
        there = exhaustive(design, prop, depth=depth, faults=faults, layout=Layout(jobs=2))
        assert _same(there) == _same(here)


# One cell per way a history is judged, each cheap to break exhaustively (docs/explore.md's
# table has them all; read-your-writes is the test above): design, property, the shortest
# counterexample's length. Single-leader is judged on acknowledgements, by --replay.
JUDGED_ON_THE_HISTORY = [
    ("lf-pin-after-write", "linearizable", 3),
    ("lf-async-failover", "durability", 2),
    ("ml-lww", "durability", 3),
    ("lf-async-failover", "convergence", 2),
]


@pytest.mark.slow
@pytest.mark.parametrize("design,prop,steps", JUDGED_ON_THE_HISTORY)
def test_the_command_explore_prints_to_judge_a_counterexample_gives_the_same_verdict(
    design, prop, steps, tmp_path
):
    import shlex

    from replicheck.model.designs import DESIGNS

    out = tmp_path / "cx.jsonl"
    args = ["explore", *shlex.split(DESIGNS[design]), "--property", prop, "--exhaustive"]
    r = CliRunner().invoke(cli, [*args, "--depth", str(steps), "--no-progress", "--out", str(out)])
    assert r.exit_code == 1, r.output
    assert f"BROKEN in {steps} steps: the shortest counterexample" in r.output
    said = next(line for line in r.output.splitlines() if line.startswith("judge it:"))
    command = shlex.split(said.removeprefix("judge it:").split("  (")[0])
    assert command[0] == "replicheck"
    judged = CliRunner().invoke(cli, command[1:])
    assert judged.exit_code == 1, judged.output  # violated, as explore said: not unknown, not valid


_FINGERPRINTS = """
import hashlib
from replicheck.model.designs import DESIGNS
from replicheck.model.exhaustive import clone, enabled_steps, fingerprint
from replicheck.model.schedules import SimulatedCluster

h = hashlib.sha256()
for text in DESIGNS.values():
    root = SimulatedCluster(text, 0)
    for step in enabled_steps(root):
        one = clone(root)
        one.apply(step)
        for then in enabled_steps(one)[::3]:
            two = clone(one)
            two.apply(then)
            h.update(fingerprint(two))
print(h.hexdigest())
"""


def test_a_state_has_one_fingerprint_in_every_process():
    # Workers are other processes, each with its own string hashing: a fingerprint that
    # followed a set's hash order would make one state two, and the layouts disagree.
    import os
    import subprocess
    import sys

    digests = {
        subprocess.run(
            [sys.executable, "-c", _FINGERPRINTS],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1, digests
