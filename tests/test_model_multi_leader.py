"""Multi-leader conflict resolution: LWW loses updates under skew, version vectors keep both."""

from replicheck.model.config import parse_config, run
from replicheck.model.multi_leader import MultiLeaderConfig


def test_lww_with_a_fast_clock_loses_an_acknowledged_update():
    # One client at a time, n2's clock 500 ms ahead: n2's write beats later writes elsewhere.
    r = run(parse_config("multi-leader --nodes 2 --conflict lww --clients 2 --ops 6 --read-ratio 0 "
                         "--think-ms 20 --skew n2=500 --latency constant:1 --seed 4"))
    assert r.measurements["replicas_agree"] is True
    assert r.measurements["lost_updates"] > 0
    fair = run(parse_config("multi-leader --nodes 2 --conflict lww --clients 2 --ops 6 --read-ratio 0 "
                            "--think-ms 20 --latency constant:1 --seed 4"))
    assert fair.measurements["lost_updates"] == 0


def test_version_vectors_keep_both_concurrent_writes_as_siblings():
    r = run(parse_config("multi-leader --nodes 2 --conflict version-vectors --clients 2 --ops 2 --read-ratio 0 "
                         "--latency constant:20 --think-ms 0"))
    written = sorted(e["value"] for e in r.events if e["type"] == "ok" and e["f"] == "write")
    assert len(written) == 2
    assert all(s["state"][""] == written for s in r.final_states.values())
    lww = run(parse_config("multi-leader --nodes 2 --conflict lww --clients 2 --ops 2 --read-ratio 0 "
                           "--latency constant:20 --think-ms 0"))
    assert all(s["state"][""] in written for s in lww.final_states.values())


def test_merge_returns_the_union_and_graphs_all_converge():
    for graph in ("all-to-all", "ring", "star"):
        r = run(parse_config(f"multi-leader --nodes 4 --graph {graph} --conflict merge --ops 200 --seed 1"))
        assert r.measurements["replicas_agree"] is True
        assert all(isinstance(s["state"][""], list) for s in r.final_states.values())
    assert len(MultiLeaderConfig(5, "star").topology().edges()) == 4
    assert len(MultiLeaderConfig(5, "ring").topology().edges()) == 5
