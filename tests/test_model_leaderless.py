"""Leaderless quorums: what W + R buys, and what only ABD buys."""

from replicheck.checker import History, check
from replicheck.model.config import Client, HistoryLog, Workload, parse_config, run
from replicheck.model.leaderless import Leaderless, LeaderlessConfig
from replicheck.model.sim import Simulator

SLOW_N3 = "--link n1-n3=constant:30 --link n2-n3=constant:30"


def verdict(text):
    r = run(parse_config(text))
    return r, check(History.from_events(r.events, meta=r.meta)).valid


def test_w_plus_r_not_above_n_returns_stale_reads():
    for seed in range(3):
        _, ok = verdict(f"leaderless --nodes 3 --w 1 --r 1 --ops 300 --seed {seed} {SLOW_N3}")
        assert ok is False


def test_abd_is_linearizable_under_random_schedules_and_crashes():
    for seed in range(4):
        _, ok = verdict(
            f"leaderless --nodes 5 --w 3 --r 3 --read-repair blocking --ops 300 --seed {seed} "
            "--latency pareto-exp:1,0.05,5,1.5 --crash n2@30 --reorder 0.1"
        )
        assert ok is True


def _scripted(read_repair):
    """Drive the step-by-step seam: a write reaches one replica, two reads straddle it.

    N=3, W=2, R=2. The write of 1 (coordinated by n1) reaches n1 only. Reader A (via n2)
    hears from n1 and n2 and sees 1; then reader B (via n3) hears from n2 and n3 and sees
    the old value, although it began after A finished. The write is still in progress,
    so only the two reads order it: quorum overlap alone is not linearizability.
    """
    sim = Simulator(0, auto_deliver=False)
    proto = Leaderless(sim, LeaderlessConfig(3, 2, 2, read_repair))
    rec = HistoryLog()
    wl = Workload("register", sim.rng, read_ratio=0.0)
    writer, ra, rb = (
        sim.add(Client(f"c{i}", proto, wl, rec, [10], timeout_ms=1e6, think_ms=1e6)) for i in range(3)
    )
    proto.route = lambda client, f: {"c0": "n1", "c1": "n2", "c2": "n3"}[client.id]

    def deliver_all_but(held):
        moved = True
        while moved:
            moved = False
            for m in sim.pending():
                in_progress_write = m.src == "n1" and m.dst != "n1" and m.payload[0] == "put"
                if (m.src, m.dst, m.payload[0]) not in held and not in_progress_write:
                    sim.deliver(m.id)
                    moved = True
        sim.advance(1)  # step mode does not move the clock by itself

    def op(client, f, value=None):
        client.workload.next = lambda: (f, None, value)
        client.budget[0] = 1
        client.invoke()

    write_held = set()  # besides n1's puts, which never leave it: the write stays in progress
    op(writer, "write", 1)
    deliver_all_but(write_held)
    op(ra, "read")  # coordinated by n2; its quorum is n1 and n2
    deliver_all_but({("n2", "n3", "get")})
    op(rb, "read")  # coordinated by n3, strictly after A returned; its quorum is n2 and n3
    deliver_all_but({("n2", "n3", "get"), ("n3", "n1", "get")})
    return rec.events


def test_quorum_overlap_without_read_repair_is_not_linearizable():
    events = _scripted("none")
    reads = [e["value"] for e in events if e["type"] == "ok" and e["f"] == "read"]
    assert reads == [1, None]
    assert check(History.from_events(events, meta={"spec": "register"}), "register").valid is False


def test_abd_same_schedule_is_linearizable():
    events = _scripted("blocking")
    reads = [e["value"] for e in events if e["type"] == "ok" and e["f"] == "read"]
    assert reads[0] == 1
    assert check(History.from_events(events), "register").valid is True


# ---------------------------------------------------------------- sloppy quorums


def _cluster(cfg, seed=0, latency="constant:1"):
    """A seeded cluster with three clients whose coordinators the test picks per operation."""
    from replicheck.model.config import parse_network

    sim = Simulator(seed, parse_network({"latency": latency}))
    proto = Leaderless(sim, cfg)
    rec = HistoryLog()
    wl = Workload("register", sim.rng)
    clients = [sim.add(Client(f"c{i}", proto, wl, rec, [0], timeout_ms=50, think_ms=1e6)) for i in range(3)]
    target = {}
    proto.route = lambda client, f: target[client.id]

    def op(client, via, f, value=None):
        sim.advance(1)  # strictly after the previous operation: equal times count as concurrent
        target[client.id] = via
        client.workload.next = lambda: (f, None, value)
        client.budget[0] = 1
        client.invoke()
        sim.run(stop=lambda: client.current is None)
        last = rec.events[-1]
        return last["type"], last["value"]

    return sim, proto, rec, clients, op


SLOPPY = LeaderlessConfig(3, 2, 2, "none", sloppy=True, fallbacks=2)


def test_sloppy_quorum_gives_stale_reads_with_w_plus_r_above_n_then_hints_converge():
    sim, proto, rec, (a, b, c), op = _cluster(SLOPPY)
    assert op(a, "n2", "write", 1) == ("ok", 1)
    sim.partition([{"n1", "f1", "f2"}, {"n2", "n3"}])  # clients still reach everyone
    # n2 and n3 are silent to n1: after --sloppy-wait-ms f1 and f2 stand in with hints.
    assert op(a, "n1", "write", 2) == ("ok", 2)
    assert proto.replicas[0].store[None][1] == 2
    hinted = {t: h for r in proto.replicas for t, h in r.hints.items() if h}
    assert set(hinted) <= {"n2", "n3"} and hinted and all(h[None][1] == 2 for h in hinted.values())
    # The read quorum {n2, n3} meets the write quorum {n1, f*} nowhere, W + R > N notwithstanding.
    assert op(b, "n2", "read") == ("ok", 1)
    history = History.from_events(rec.events, meta={"spec": "register"})
    assert check(history, "register").valid is False

    sim.heal()
    sim.advance(3 * SLOPPY.handoff_ms)  # hand-off retries until the intended replica acks
    assert all(not h for r in proto.replicas for h in r.hints.values())
    for via, client in (("n2", b), ("n3", c), ("n1", a)):
        assert op(client, via, "read") == ("ok", 2)
    # W=2 copies of 2 were promised; n1 and one hinted replica hold them now.
    assert sum(1 for r in proto.replicas[:3] if r.store[None][1] == 2) >= 2


def test_without_sloppy_the_same_partition_blocks_the_write_instead():
    strict = LeaderlessConfig(3, 2, 2, "none")
    sim, proto, rec, (a, b, c), op = _cluster(strict)
    op(a, "n2", "write", 1)
    sim.partition([{"n1"}, {"n2", "n3"}])
    assert op(a, "n1", "write", 2)[0] == "info"  # only n1 acknowledges: no quorum, fate unknown
    assert op(b, "n2", "read") == ("ok", 1)
    assert check(History.from_events(rec.events), "register").valid is True


def test_sloppy_breaks_even_abd_under_a_seeded_partition_while_strict_abd_holds():
    part = "--partition 20:n1,f1,f2|n2,n3 --heal 150 --ops 200"
    for seed in range(3):
        r, ok = verdict(
            f"leaderless --nodes 3 -w 2 -r 2 --read-repair blocking --sloppy --fallback 2 {part} --seed {seed}"
        )
        assert ok is False
        sloppy = r.measurements["sloppy"]
        assert sloppy["operations_with_fallbacks"] > 0 and sloppy["hints_handed_off"] > 0
        assert sloppy["hints_pending"] == 0 and r.measurements["replicas_agree"] is True
        _, ok = verdict(
            f"leaderless --nodes 3 -w 2 -r 2 --read-repair blocking --partition 20:n1|n2,n3 "
            f"--heal 150 --ops 200 --seed {seed}"
        )
        assert ok is True


def test_sloppy_runs_are_deterministic():
    text = (
        "leaderless --sloppy --fallback 1 --partition 10:n1,f1|n2,n3 --heal 80 --ops 150 --loss 0.05 --seed 9"
    )
    assert run(parse_config(text)).events == run(parse_config(text)).events


def test_duplicated_acknowledgements_do_not_make_a_quorum():
    # W = 2 with n2 and n3 partitioned away: n1's ack, duplicated, must not count twice.
    sim, proto, rec, (a, b, c), op = _cluster(LeaderlessConfig(3, 2, 2, "none"))
    sim.network.duplicate = 1.0
    sim.partition([{"n1"}, {"n2", "n3"}])
    assert op(a, "n1", "write", 1)[0] == "info"


# ---------------------------------------------------------------- workloads


def test_kv_and_list_append_run_and_appends_are_read_modify_write():
    # One client: nothing is concurrent, so ABD's read-then-write append is linearizable.
    r, ok = verdict("leaderless --workload kv --clients 1 --read-repair blocking --ops 150 --seed 2")
    assert ok is True and r.meta["spec"] == "kv"
    assert any(e["f"] == "append" and e["type"] == "ok" for e in r.events)
    # Concurrent appends each read the old value and write back their own: one is lost.
    _, ok = verdict(
        "leaderless --workload kv --clients 4 --read-repair blocking --read-ratio 0.2 --keys 1 "
        "--ops 200 --seed 2"
    )
    assert ok is False
    la = run(parse_config("leaderless --workload list-append --ops 150 --seed 1"))
    History.from_events(la.events, meta=la.meta)
    states = {json_state(s) for n, s in la.final_states.items()}
    assert len(states) == 1  # the three replicas converged


def json_state(s):
    return tuple(sorted((k, tuple(v)) for k, v in s["state"].items()))


def test_cas_register_is_refused_with_the_reason():
    import pytest

    from replicheck.model.config import ConfigError

    with pytest.raises(ConfigError, match="not supported on leaderless"):
        parse_config("leaderless --workload cas-register")
    with pytest.raises(ConfigError, match="add --sloppy"):
        parse_config("leaderless --fallback 2")
