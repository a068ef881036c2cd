"""Multi-leader conflict resolution: LWW loses updates under skew, version vectors keep both."""

from replicheck.model.config import parse_config, run
from replicheck.model.multi_leader import MultiLeaderConfig


def test_lww_with_a_fast_clock_loses_an_acknowledged_update():
    # One client at a time, n2's clock 500 ms ahead: n2's write beats later writes elsewhere.
    r = run(
        parse_config(
            "multi-leader --nodes 2 --conflict lww --clients 2 --ops 6 --read-ratio 0 "
            "--think-ms 20 --skew n2=500 --latency constant:1 --seed 4"
        )
    )
    assert r.measurements["replicas_agree"] is True
    assert r.measurements["lost_updates"] > 0
    fair = run(
        parse_config(
            "multi-leader --nodes 2 --conflict lww --clients 2 --ops 6 --read-ratio 0 "
            "--think-ms 20 --latency constant:1 --seed 4"
        )
    )
    assert fair.measurements["lost_updates"] == 0


def test_version_vectors_keep_both_concurrent_writes_as_siblings():
    r = run(
        parse_config(
            "multi-leader --nodes 2 --conflict version-vectors --clients 2 --ops 2 --read-ratio 0 "
            "--latency constant:20 --think-ms 0"
        )
    )
    written = sorted(e["value"] for e in r.events if e["type"] == "ok" and e["f"] == "write")
    assert len(written) == 2
    assert all(s["state"][""] == written for s in r.final_states.values())
    lww = run(
        parse_config(
            "multi-leader --nodes 2 --conflict lww --clients 2 --ops 2 --read-ratio 0 "
            "--latency constant:20 --think-ms 0"
        )
    )
    assert all(s["state"][""] in written for s in lww.final_states.values())


def test_merge_returns_the_union_and_graphs_all_converge():
    for graph in ("all-to-all", "ring", "star"):
        r = run(parse_config(f"multi-leader --nodes 4 --graph {graph} --conflict merge --ops 200 --seed 1"))
        assert r.measurements["replicas_agree"] is True
        assert all(isinstance(s["state"][""], list) for s in r.final_states.values())
    assert len(MultiLeaderConfig(5, "star").topology().edges()) == 4
    assert len(MultiLeaderConfig(5, "ring").topology().edges()) == 5


# ---------------------------------------------------------------- checker verdicts


import pytest  # noqa: E402

from replicheck.checker import History, check  # noqa: E402
from replicheck.model.config import Client, ConfigError, HistoryLog, Workload, parse_network  # noqa: E402
from replicheck.model.multi_leader import MultiLeader, lost_updates  # noqa: E402
from replicheck.model.sim import Simulator  # noqa: E402

SLOW_LEADERS = {"latency": "constant:1", "link": ["n1-n2=constant:50", "n2-n1=constant:50"]}


def _two_leaders(conflict, skew_n1_ms=0.0):
    """Two leaders 50 ms apart, clients 1 ms from each; c0 lives at n1, c1 at n2."""
    net = parse_network(SLOW_LEADERS)
    sim = Simulator(0, net)
    proto = MultiLeader(sim, MultiLeaderConfig(2, "all-to-all", conflict))
    if skew_n1_ms:
        sim.set_skew("n1", skew_n1_ms)
    rec = HistoryLog()
    wl = Workload("register", sim.rng)
    clients = []
    for i in range(2):
        c = sim.add(Client(f"c{i}", proto, wl, rec, [0], timeout_ms=500, think_ms=1e6))
        proto.init_client(c, i)
        clients.append(c)

    def op(client, f, value=None):
        sim.advance(1)  # strictly after the previous operation
        client.workload.next = lambda: (f, None, value)
        client.budget[0] = 1
        client.invoke()
        sim.run(stop=lambda: client.current is None)
        return rec.events[-1]["value"]

    return sim, proto, rec, clients, op


def test_lww_read_back_at_each_leader_is_not_linearizable():
    sim, proto, rec, (c0, c1), op = _two_leaders("lww")
    op(c0, "write", 1)
    op(c1, "write", 2)  # begins after the write of 1 was acknowledged
    assert op(c0, "read") == 1  # n2's write is still on the slow link
    assert op(c1, "read") == 2
    result = check(History.from_events(rec.events), "register")
    assert result.valid is False
    assert result.op.f == "read"


def test_lww_with_a_fast_clock_loses_an_acknowledged_update_and_the_checker_sees_it():
    sim, proto, rec, (c0, c1), op = _two_leaders("lww", skew_n1_ms=100)
    op(c0, "write", 1)
    op(c1, "write", 2)  # later in real time, but n1's timestamp is 100 ms ahead
    sim.advance(200)  # both updates crossed the slow link; LWW settled on one
    assert op(c1, "read") == 1 and op(c0, "read") == 1  # the acknowledged write of 2 is gone
    assert lost_updates(rec.events, proto.final_states()["n1"]["state"]) == 1
    result = check(History.from_events(rec.events), "register")
    assert result.valid is False
    assert (result.op.f, result.op.output) == ("read", 1)
    # Same schedule without skew: 2 wins everywhere and reads after convergence are fine.
    sim, proto, rec, (c0, c1), op = _two_leaders("lww")
    op(c0, "write", 1)
    op(c1, "write", 2)
    sim.advance(200)
    assert op(c1, "read") == 2 and op(c0, "read") == 2
    assert check(History.from_events(rec.events), "register").valid is True


def test_version_vectors_keep_both_siblings_on_the_same_schedule():
    sim, proto, rec, (c0, c1), op = _two_leaders("version-vectors", skew_n1_ms=100)
    op(c0, "write", 1)
    op(c1, "write", 2)
    sim.advance(200)
    assert op(c0, "read") == [1, 2] and op(c1, "read") == [1, 2]  # clocks play no part
    assert lost_updates(rec.events, proto.final_states()["n1"]["state"]) == 0
    op(c0, "write", 3)  # n1 has seen both siblings: its write supersedes them
    sim.advance(200)
    assert op(c1, "read") == 3 and op(c0, "read") == 3


def test_seeded_lww_runs_with_slow_leader_links_are_judged_not_linearizable():
    base = (
        "multi-leader --nodes 2 --conflict lww --latency constant:1 --link n1-n2=constant:50 "
        "--link n2-n1=constant:50 --ops 60"
    )
    for seed in range(2):
        r = run(parse_config(f"{base} --seed {seed}"))
        assert check(History.from_events(r.events, meta=r.meta)).valid is False
        kv = run(parse_config(f"{base} --workload kv --seed {seed}"))
        assert kv.meta["spec"] == "kv" and check(History.from_events(kv.events, meta=kv.meta)).valid is False
    # One leader (every client at n1) has nothing to conflict with.
    solo = run(parse_config("multi-leader --nodes 2 --clients 1 --workload kv --ops 60 --seed 1"))
    assert check(History.from_events(solo.events, meta=solo.meta)).valid is True


@pytest.mark.parametrize(
    "text, words",
    [
        ("multi-leader --workload cas-register", "not supported on multi-leader"),
        ("multi-leader --workload kv --conflict version-vectors", "--conflict lww"),
        ("multi-leader --workload list-append --conflict merge", "siblings"),
    ],
)
def test_workloads_the_topology_cannot_express_are_config_errors(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_config(text)
