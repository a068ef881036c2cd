"""Leaderless quorums: what W + R buys, and what only ABD buys."""

from replicheck.checker import History, check
from replicheck.model.config import Client, Recorder, Workload, parse_config, run
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
        _, ok = verdict(f"leaderless --nodes 5 --w 3 --r 3 --read-repair blocking --ops 300 --seed {seed} "
                        "--latency pareto-exp:1,0.05,5,1.5 --crash n2@30 --reorder 0.1")
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
    rec = Recorder()
    wl = Workload("register", sim.rng, read_ratio=0.0)
    writer, ra, rb = (sim.add(Client(f"c{i}", proto, wl, rec, [10], timeout_ms=1e6, think_ms=1e6)) for i in range(3))
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
