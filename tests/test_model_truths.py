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


# seed 7 is the first of 0..31 where the system (N=3 W=3 R=2 K=1) goes stale
@pytest.mark.parametrize("n,w,r,k,seeds", [(3, 3, 2, 1, range(7, 8)), (3, 3, 3, 1, range(2))])
def test_z3_and_the_simulator_agree_on_sloppy_quorums(n, w, r, k, seeds):
    _agree(n, w, r, k, seeds)


@pytest.mark.slow
@pytest.mark.parametrize(
    "n,w,r,k,seeds",
    [
        (3, 3, 2, 1, range(8)),  # refuted: the system, W + R > N + K
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
        {"do": "partition", "groups": [["n2"], ["n1", "n3"]]},
        {"do": "write", "client": "c0", "await": True},
        {"do": "read", "client": "c1", "node": "n2", "await": True},  # n2 is cut off: nil
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
    # without it, a read taken during the fault counts as final and convergence "breaks"
    del meta["quiet_from"]
    res = check_consistency(History.from_events(c.events, meta=meta), None, ["convergence"])
    assert res.models["convergence"].valid is False


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


# ---------------------------------------------------------------- multi-value register (finding 5)

VV_RUN = (
    "multi-leader --nodes 3 --conflict version-vectors --ops 200 "
    "--partition '20:n1|n2,n3' --heal 100 --seed 3"
)


def _events(*ops: tuple) -> list[dict]:
    """(process, f, value, output, invoke time, ok time, node) -> invoke/ok event pairs."""
    out = []
    for p, f, value, output, t0, t1, node in ops:
        out.append({"process": p, "type": "invoke", "f": f, "value": value, "time": t0})
        out.append({"process": p, "type": "ok", "f": f, "value": output, "time": t1, "node": node})
    return out


def test_sibling_reads_are_checkable_on_a_correct_version_vector_design():
    from replicheck.model.config import parse_config, run

    result = run(parse_config(VV_RUN))
    assert result.meta["spec"] == "mv-register"
    assert any(isinstance(e["value"], list) for e in result.events if e["f"] == "read")  # siblings seen
    res = check_consistency(History.from_events(result.events, meta=result.meta), None, "all")
    text = res.summary() + "".join(str(m.witness and m.witness.summary) for m in res.models.values())
    assert "thin air" not in text and "nobody wrote" not in text
    assert res.models["convergence"].valid is True
    assert res.models["durability"].valid is True
    # siblings are concurrent versions no single copy shows: not linearizable, truthfully
    assert res.models["linearizable"].valid is False
    # nor sequentially consistent; the session guarantees are not judged on sibling sets
    assert {m for m, r in res.models.items() if r.valid is False} == {"linearizable", "sequential"}


def test_the_multi_value_register_spec():
    from replicheck.checker.specs import make_spec

    spec = make_spec("mv-register")
    concurrent = _events((0, "write", 1, 1, 0, 10, "n1"), (1, "write", 2, 2, 0, 10, "n2"))
    settled = concurrent + _events(
        (2, "read", None, (1, 2), 20, 30, "n1"), (3, "read", None, (1, 2), 20, 30, "n2")
    )
    meta = {"spec": "mv-register", "init": None}
    res = check_consistency(History.from_events(settled, meta=meta), None, ["convergence", "durability"])
    assert res.models["convergence"].valid is True and res.models["durability"].valid is True
    # a sibling nobody wrote is still a value from thin air; a lost sibling is lost
    thin = concurrent + _events((2, "read", None, (1, 7), 20, 30, "n1"))
    assert (
        check_consistency(History.from_events(thin, meta=meta), None, ["convergence"])
        .models["convergence"]
        .valid
        is False
    )
    lost = concurrent + _events((2, "write", 3, 3, 12, 14, "n1"), (3, "read", None, (2,), 20, 30, "n2"))
    dur = check_consistency(History.from_events(lost, meta=meta), None, ["durability"]).models["durability"]
    assert dur.valid is False  # write 3 came after 2 completed, yet only 2 survives
    # one value at a time, sequentially: a read of one sibling is a plain register read
    assert spec.step(spec.init(), History.from_events(settled, meta=meta).ops[0])[1] == frozenset({1})
    # a read/write history is never taken for a multi-value register
    from replicheck.checker.specs import infer_spec

    assert infer_spec(History.from_events(concurrent)) == "cas-register"


# ---------------------------------------------------------------- explore vs check (finding 6)


def test_simulate_histories_end_with_final_reads_of_every_key_on_every_live_node():
    from replicheck.model.config import parse_config, run

    result = run(parse_config("leaderless --nodes 3 --workload kv --keys 2 --ops 60 --crash n3@5 --seed 1"))
    finals = [e for e in result.events if e.get("session") == "final" and e["type"] != "invoke"]
    assert {(e["node"], e["key"]) for e in finals} == {(n, k) for n in ("n1", "n2") for k in ("k0", "k1")}
    assert all(e["time"] >= result.meta["quiet_from"] for e in finals)
    assert result.summary()["operations"] == 60  # the final reads are not the workload's


# list-append, where a history shows exactly which appends survive (a register's
# final value cannot tell an overwritten write from a lost one)
LOSSY = (
    "leader-follower --replication async --failover auto --ops 400 --read-ratio 0.9 "
    "--partition '60:n1|n2,n3' --crash n1@100 --workload list-append"
)


def test_simulate_names_the_acknowledged_writes_it_lost_and_check_agrees():
    from replicheck.model.config import parse_config, run

    seen_loss = False
    for seed in range(2):
        result = run(parse_config(f"{LOSSY} --seed {seed}"))
        m = result.measurements
        assert len(m["lost_writes"]) == m["acked_writes_lost"]
        acked = {
            mop[2]
            for e in result.events
            if e["type"] == "ok" and e["f"] == "txn"
            for mop in e["value"]
            if mop[0] == "append"
        }
        assert {w["value"] for w in m["lost_writes"]} <= acked
        verdict = check_consistency(
            History.from_events(result.events, meta=result.meta), None, ["durability"]
        )
        dur = verdict.models["durability"]
        if m["lost_writes"]:
            seen_loss = True
            assert dur.valid is False, seed
            assert dur.exact and dur.witness.ops[0].value in {w["value"] for w in m["lost_writes"]}
        else:
            assert dur.valid is not False, seed
    assert seen_loss


@pytest.mark.slow
@pytest.mark.parametrize("design", ["lf-async-failover", "ml-lww"])
def test_explore_and_check_agree_that_durability_is_broken(design):
    from replicheck.model.explore import explore

    r = explore(design, "durability", max_examples=200, steps=20)
    assert r.outcome == "broken"
    cx = r.counterexample
    saved = History.from_events(cx.events, meta=cx.meta())
    assert check_consistency(saved, None, ["durability"]).models["durability"].valid is False


def test_a_fenced_deposed_leader_rejoins_and_drops_its_divergent_write():
    # n1, cut off and replaced by n2, acknowledges a stale client's write after the heal;
    # the first to refuse it is n2 itself, which names no leader. n1 must still find n2
    # and drop the write, or the replicas never converge.
    design = "leader-follower --replication async --failover auto --fencing --stale-clients 1"
    schedule = [
        {"do": "leader-timeout", "how": "isolate"},
        {"do": "heal"},
        {"do": "write", "client": "c0", "await": True},
    ]
    c = run_schedule(design, schedule, audit=True)
    assert judge(c, "convergence").holds is True
    assert judge(c, "durability").holds is False  # async: the acknowledged write is gone
