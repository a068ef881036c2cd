"""The consistency map on histories the protocol models produce (replicheck.model).

Each history goes through the file the simulator writes (`simulate --out`) and back,
so what is judged is exactly what a user would judge. Seeds are fixed; the runs are
a few hundred operations.
"""

from __future__ import annotations

import io

import pytest

from replicheck.checker import parse_history, write_jsonl
from replicheck.checker.consistency import check_consistency
from replicheck.model.config import parse_config, run

LIST_APPEND = "--workload list-append --keys 3 --ops 300"
LWW_SKEWED = "multi-leader --nodes 2 --conflict lww --clients 2 --ops 200 --think-ms 20 --skew n2=500 --latency constant:1"


def simulated(text: str):
    r = run(parse_config(text))
    buf = io.StringIO()
    write_jsonl(buf, r.events, r.meta)
    return r, parse_history(buf.getvalue(), path="sim.jsonl")


@pytest.mark.parametrize("seed", [0, 1])
def test_async_replica_reads_violate_read_your_writes(seed):
    _, h = simulated(f"leader-follower --replication async --reads replica {LIST_APPEND} --seed {seed}")
    res = check_consistency(h, None, "all")
    ryw = res.models["read-your-writes"]
    assert ryw.valid is False and ryw.how == "checked" and ryw.exact
    # the witness: the session's own append, then its read from a replica that lacks it
    write, read = ryw.witness.ops
    assert write.f == "append" and read.f == "read" and write.extra["session"] == read.extra["session"]
    assert write.value not in read.output
    assert read.node != "n1"  # n1 leads: the stale read came from a follower
    assert res.violated[0] == "read-your-writes"
    assert res.models["sequential"].valid is False and not res.conflicts


@pytest.mark.parametrize("seed", [0, 1])
def test_wait_for_position_keeps_read_your_writes(seed):
    _, h = simulated(
        f"leader-follower --replication async --reads wait-for-position {LIST_APPEND} --seed {seed}"
    )
    res = check_consistency(h, None, "all")
    assert res.models["read-your-writes"].valid is True
    assert res.models["PRAM"].valid is True
    # waiting for the session's own position is not waiting for everyone's: other
    # sessions still read stale, so real time is broken but one order of sessions exists
    assert res.models["linearizable"].valid is False
    assert res.models["sequential"].valid is True and res.strongest == ["sequential"]
    assert not res.conflicts


def test_multi_leader_lww_converges_but_loses_writes():
    r, h = simulated(f"{LWW_SKEWED} --seed 2")
    assert r.measurements["lost_updates"] > 0  # what the model itself knows it lost
    res = check_consistency(h, None, "all")
    assert res.models["convergence"].valid is True
    dur = res.models["durability"]
    assert dur.valid is False and dur.exact is False  # registers: judged by real time
    lost, final_read = dur.witness.ops
    assert lost.ok and lost.f == "write" and final_read.output != lost.value
    assert res.models["linearizable"].valid is False
    assert "eventually consistent" in res.summary() and "loses acknowledged writes" in res.summary()


def test_lww_without_skew_loses_nothing_on_the_same_seed():
    r, h = simulated(LWW_SKEWED.replace(" --skew n2=500", "") + " --seed 2")
    assert r.measurements["lost_updates"] == 0
    assert check_consistency(h, None, "durability").models["durability"].valid is not False
