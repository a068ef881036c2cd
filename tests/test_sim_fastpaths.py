"""The simulator's fast paths against the code they replaced: the same run, byte for byte.

Settling a run (``SimulatedCluster.finish``) is most of what judging one explored state
costs, so its loop has shortcuts: the oldest message found by min() of the ids and
delivered in one loop (``Simulator.deliver_oldest``), whole idle slices jumped over at
once, a branch-free send in step mode, the timer push inlined into ``Node.after`` and a
lean ``run(until_ns)``. Each must leave every history event, message id, counter, random
draw and the state itself as the straightforward code did. The reference versions below
are that code as it was; each schedule is run with them swapped in and without.
"""

from __future__ import annotations

import heapq
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replicheck.model import schedules as sched
from replicheck.model import sim as simmod
from replicheck.model.designs import DESIGNS
from replicheck.model.exhaustive import fingerprint
from replicheck.model.schedules import ConfigError, SimulatedCluster, schedules
from replicheck.model.sim import Message, Node, Simulator, ms_to_ns


def _send(self, src, dst, payload):
    self.stats["sent"] += 1
    net = self.network
    rng = self.rng
    if net.loss and rng.random() < net.loss:
        self.stats["lost"] += 1
        return
    copies = 2 if (net.duplicate and rng.random() < net.duplicate) else 1
    if copies == 2:
        self.stats["duplicated"] += 1
    lat = net.links.get((src, dst), net.latency) if net.links else net.latency
    for _ in range(copies):
        self._next_msg += 1
        due = self.now
        if self.auto_deliver:
            d = ms_to_ns(lat.sample(rng))
            if net.reorder and rng.random() < net.reorder:
                d += int(rng.random() * 10 * max(d, simmod.NS_PER_MS))
            due += d
        msg = Message(self._next_msg, src, dst, payload, self.now, due)
        self.in_flight[msg.id] = msg
        if self.auto_deliver:
            self._seq += 1
            heapq.heappush(self._queue, (due, self._seq, self._deliver_event, msg))


def _run(self, until_ns=None, stop=None):
    q = self._queue
    while q:
        if until_ns is not None and q[0][0] > until_ns:
            self.now = max(self.now, until_ns)
            return
        t, _, fn, arg = heapq.heappop(q)
        if t > self.now:
            self.now = t
        fn(arg)
        if stop is not None and stop():
            return
    if until_ns is not None:
        self.now = max(self.now, until_ns)


def _after(self, delay_ns, fn, *args):
    self.sim.timer(self, delay_ns, fn, args)


def _deliver_all(self, only_clients=False):
    n = 0
    while n < sched.MAX_DELIVERIES:
        msgs = self.sim.pending()
        if only_clients:
            msgs = [m for m in msgs if m.src in self.clients or m.dst in self.clients]
        if not msgs:
            break
        self.sim.deliver(msgs[0].id)
        n += 1
    return n


def _run_network(self, ms):
    end = self.sim.now + ms_to_ns(ms)
    while True:
        self.deliver_all()
        left = (end - self.sim.now) / 1e6
        if left <= 0:
            break
        self.sim.advance(min(sched.SLICE_MS, left))
    self.deliver_all()


REFERENCE = [
    (Simulator, "send", _send),
    (Simulator, "run", _run),
    (Node, "after", _after),
    (SimulatedCluster, "deliver_all", _deliver_all),
    (SimulatedCluster, "run_network", _run_network),
]


def _outcome(design: str, schedule: list[dict], audit: bool) -> tuple:
    c = SimulatedCluster(DESIGNS[design], 0)
    for step in schedule:
        try:
            c.apply(step)
        except ConfigError:
            continue
    before = (pickle.dumps(c.events), fingerprint(c), [m.id for m in c.pending()])
    c.finish(audit)
    sim = c.sim
    after = (sim.now, sim._seq, sim._next_msg, dict(sim.stats), sim.rng.getstate(), list(c.acks))
    return before, pickle.dumps(c.events), fingerprint(c), after


def _reference_outcome(design: str, schedule: list[dict], audit: bool) -> tuple:
    saved = [(cls, name, cls.__dict__[name]) for cls, name, _ in REFERENCE]
    try:
        for cls, name, fn in REFERENCE:
            setattr(cls, name, fn)
        return _outcome(design, schedule, audit)
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


@pytest.mark.parametrize("design", sorted(DESIGNS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), audit=st.booleans())
def test_settling_is_what_the_plain_loop_made(design, data, audit):
    schedule = data.draw(schedules(DESIGNS[design], max_steps=10))
    assert _outcome(design, schedule, audit) == _reference_outcome(design, schedule, audit)


def test_a_seeded_run_is_what_the_plain_loop_made():
    from replicheck.model.config import parse_config, run

    text = "leader-follower --failover auto --ops 60 --loss 0.05 --duplicate 0.05 --reorder 0.1 --seed 3"

    def outcome() -> tuple:
        r = run(parse_config(text))
        return pickle.dumps(r.events), r.network, r.end_ms, r.final_states

    saved = [(cls, name, cls.__dict__[name]) for cls, name, _ in REFERENCE]
    try:
        for cls, name, fn in REFERENCE:
            setattr(cls, name, fn)
        reference = outcome()
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)
    assert outcome() == reference
