"""One truth per system: the model agrees with itself, with the prover and with the checker.

Each test pins one finding of issue 13 and failed before its fix.
"""

from __future__ import annotations

import pytest

from replicheck import quorum as q
from replicheck.checker import History
from replicheck.checker.consistency import check_consistency
from replicheck.model.machines import audit_reads_disagree, history_meta, judge
from replicheck.model.quorum_run import simulate_quorum
from replicheck.model.schedules import run_schedule

# ---------------------------------------------------------------- sloppy quorums (finding 2)


def _z3_says_reads_meet_writes(n: int, w: int, r: int, k: int) -> bool:
    result = q.check(q.sloppy(n, w, r, k), [q.Intersects("read", "write")]).results[0]
    assert result.status in (q.PROVED, q.REFUTED)
    return result.status == q.PROVED


def _agree(n: int, w: int, r: int, k: int, seeds: range) -> None:
    # ABD is linearizable exactly when every read quorum meets every write quorum on a
    # home node; the simulator may only refute, so a refuted claim needs a seed that shows it.
    proved = _z3_says_reads_meet_writes(n, w, r, k)
    sim = simulate_quorum(n, w, r, fallbacks=k, read_repair="blocking", seeds=seeds, out_dir=None)
    assert proved == (sim.verdict is True), (n, w, r, k, proved, [x.valid for x in sim.runs])


@pytest.mark.parametrize("n,w,r,k,seeds", [(3, 3, 2, 1, range(8)), (3, 3, 3, 1, range(3))])
def test_z3_and_the_simulator_agree_on_sloppy_quorums(n, w, r, k, seeds):
    _agree(n, w, r, k, seeds)


@pytest.mark.slow
@pytest.mark.parametrize(
    "n,w,r,k,seeds",
    [
        (3, 2, 2, 1, range(2)),  # refuted
        (3, 3, 3, 2, range(8)),  # refuted: W + R > N + K, yet 1 + 1 home nodes
        (5, 4, 3, 1, range(8)),  # refuted
        (5, 4, 4, 1, range(4)),  # proved: W + R > N + 2K
        (5, 5, 5, 2, range(2)),  # proved
    ],
)
def test_z3_and_the_simulator_agree_on_more_sloppy_quorums(n, w, r, k, seeds):
    _agree(n, w, r, k, seeds)


def test_w_plus_r_above_n_plus_k_is_not_enough_when_hints_are_unreadable():
    # The system: N=3, W=3, R=2, K=1. Both quorums can meet only at f1.
    result = q.check(q.sloppy(3, 3, 2, 1), [q.Intersects("read", "write")]).results[0]
    assert result.status == q.REFUTED
    read, write = result.counterexample.quorums.values()
    assert not (set(read) & set(write)) - {"f1"}
    assert "hint" in result.note


# ---------------------------------------------------------------- multi-leader re-sends (finding 3)

CUT_UPDATE = [
    {"do": "write", "client": "c1"},  # c1's home is n2
    {"do": "partition", "groups": [["n1"], ["n2"]]},
    {"do": "run", "ms": 1},  # the update to n1 is cut by the partition
]


@pytest.mark.parametrize("conflict", ["lww", "version-vectors"])
def test_multi_leader_resends_an_update_cut_by_a_partition(conflict):
    c = run_schedule(f"multi-leader --nodes 2 --conflict {conflict}", CUT_UPDATE, audit=True)
    assert audit_reads_disagree(c.events) is None
    audit = [e["value"] for e in c.events if e.get("session") == "audit" and e["type"] == "ok"]
    assert audit == [1, 1]
    assert judge(c, "convergence").holds is True


def test_multi_leader_lww_convergence_survives_the_search():
    from replicheck.model.explore import explore

    r = explore("multi-leader --nodes 2 --conflict lww", "convergence", max_examples=60, steps=10)
    assert r.outcome != "broken", r.counterexample and r.counterexample.narration


# ---------------------------------------------------------------- convergence after settling (finding 4)

# Reads taken while a node is down or cut off, before the cluster settled: the searches
# found these, and every read after settling agrees.
DURING_FAULTS = {
    "leader-follower --replication async --reads pin-after-write:20": [
        {"do": "write", "client": "c0"},
        {"do": "crash", "node": "n3"},
        {"do": "run", "ms": 60},
        {"do": "read", "client": "c0", "node": "n3", "await": True},
        {"do": "read", "client": "c0", "node": "n2"},
        {"do": "run", "ms": 60},
        {"do": "read", "client": "c0", "node": "n3"},
    ],
    "leader-follower --replication async --failover auto --fencing --stale-clients 1": [
        {"do": "partition", "groups": [["n1"], ["n2", "n3", "orch"]]},
        {"do": "write", "client": "c1", "await": True},
        {"do": "read", "client": "c0", "await": True},
        {"do": "wait", "ms": 60},
        {"do": "run", "ms": 60},
    ],
    "leader-follower --replication async --reads wait-for-position": [
        {"do": "write", "client": "c0", "await": True},
        {"do": "crash", "node": "n2"},
        {"do": "write", "client": "c1", "await": True},
        {"do": "read", "client": "c0", "node": "n2"},
        {"do": "run", "ms": 60},
    ],
}


@pytest.mark.parametrize("design", sorted(DURING_FAULTS))
def test_convergence_is_judged_on_reads_after_the_cluster_settles(design):
    c = run_schedule(design, DURING_FAULTS[design], audit=True)
    meta = history_meta(c.events)
    assert meta["quiet_from"] == min(e["time"] for e in c.events if e.get("session") == "audit")
    assert audit_reads_disagree(c.events) is None
    assert judge(c, "convergence").holds is True
    # the saved file says the same: check reads quiet_from from the metadata
    res = check_consistency(History.from_events(c.events, meta=meta), None, ["convergence"])
    assert res.models["convergence"].valid is True


def test_reads_before_quiet_from_are_not_final():
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0},
        {"process": 0, "type": "ok", "f": "write", "value": 1, "time": 10},
        {"process": 1, "type": "invoke", "f": "read", "value": None, "time": 20, "node": "n2"},
        {"process": 1, "type": "ok", "f": "read", "value": None, "time": 30, "node": "n2"},
        {"process": 1, "type": "invoke", "f": "read", "value": None, "time": 100, "node": "n1"},
        {"process": 1, "type": "ok", "f": "read", "value": 1, "time": 110, "node": "n1"},
        {"process": 1, "type": "invoke", "f": "read", "value": None, "time": 120, "node": "n2"},
        {"process": 1, "type": "ok", "f": "read", "value": 1, "time": 130, "node": "n2"},
    ]
    meta = {"spec": "register", "init": None}
    models = ["convergence", "durability"]
    before = check_consistency(History.from_events(events, meta=meta), None, models).models
    assert before["convergence"].valid is False
    after = check_consistency(History.from_events(events, meta={**meta, "quiet_from": 100}), None, models)
    assert after.models["convergence"].valid is True and after.models["durability"].valid is True
