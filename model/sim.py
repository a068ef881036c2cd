"""A deterministic discrete-event simulator: virtual clock, event queue, network, faults.

One ``random.Random(seed)`` owned by the :class:`Simulator` decides every latency, drop,
duplicate and random choice a protocol or client makes, and ties in the event queue are
broken by a sequence number, so the same seed replays the same run event for event.

Time is an ``int`` of nanoseconds of virtual time (``sim.now``). Endpoints — replicas,
clients, an orchestrator — are :class:`Node` subclasses that react to messages and timers.

Two ways to drive it
--------------------
*Seeded* (``auto_deliver=True``, the default): every message gets a delivery event at
``now + latency``, and :meth:`Simulator.run` pops events in time order.

*Step by step* (``auto_deliver=False``): messages wait in :attr:`Simulator.in_flight`
until an outside scheduler decides their fate, which is the seam a Hypothesis state
machine uses. Its vocabulary is::

    sim.pending()                # in-flight messages, oldest first (ids are stable)
    sim.deliver(k)               # deliver message k now
    sim.drop(k)                  # lose message k
    sim.duplicate(k)             # a second copy of k joins in_flight
    sim.crash("n1", lose_unflushed=True); sim.restart("n1")
    sim.partition([{"n1", "n2"}, {"n3"}]); sim.heal()
    sim.set_skew("n2", ms=-300)
    sim.advance(ms=5)            # fire timers (heartbeats, timeouts) due in the next 5 ms
    sim.step()                   # fire the next queued event (timer or delivery)

Delivery and timers never draw from the random source in step mode, so a schedule
written down as such calls replays exactly.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from replicheck.quorum.latency import (  # noqa: F401  (re-exported: the model's latency vocabulary)
    LATENCY_SYNTAX,
    Constant,
    Exponential,
    Latency,
    Mixture,
    Pareto,
    ParetoExponential,
    Uniform,
    parse_latency,
)

NS_PER_MS = 1_000_000


def ms_to_ns(ms: float) -> int:
    return int(round(ms * NS_PER_MS))


# Latency distributions and their grammar live in replicheck.quorum.latency, shared with
# PBS/WARS; they sample milliseconds, turned into nanoseconds at the send.


# ---------------------------------------------------------------- network


@dataclass
class NetworkConfig:
    """How messages travel. ``links`` overrides ``latency`` for one direction ``(src, dst)``.

    ``reorder`` is the probability that a message is held back by an extra delay of up to
    ten times its latency, so that it can overtake or be overtaken even on constant links.
    """

    latency: Latency = field(default_factory=lambda: Exponential(1.0))
    links: dict[tuple[str, str], Latency] = field(default_factory=dict)
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {p}")

    def to_dict(self) -> dict:
        return {
            "latency": self.latency.describe(),
            "links": {f"{a}->{b}": lat.describe() for (a, b), lat in sorted(self.links.items())},
            "loss": self.loss,
            "duplicate": self.duplicate,
            "reorder": self.reorder,
        }


class Message:
    """A message in flight. ``id`` is stable and unique within a run."""

    __slots__ = ("id", "src", "dst", "payload", "sent", "due")

    def __init__(self, id: int, src: str, dst: str, payload: Any, sent: int, due: int):
        self.id = id
        self.src = src
        self.dst = dst
        self.payload = payload
        self.sent = sent
        self.due = due

    def __repr__(self) -> str:
        return f"Message({self.id}, {self.src}->{self.dst}, {self.payload!r})"


class Node:
    """An endpoint on the network: a replica, a client or an orchestrator.

    Subclasses implement :meth:`on_message` and, where state survives or not,
    :meth:`on_crash` and :meth:`on_restart`. Timers set with :meth:`after` die with the
    incarnation that set them: a crash cancels them all.
    """

    def __init__(self, id: str):
        self.id = id
        self.sim: Simulator = None  # type: ignore[assignment]  # set by Simulator.add
        self.up = True
        self.incarnation = 0
        self.skew_ns = 0

    def clock(self) -> int:
        """This node's wall clock: virtual time plus its skew (what breaks LWW)."""
        return self.sim.now + self.skew_ns

    def send(self, dst: str, payload: Any) -> None:
        self.sim.send(self.id, dst, payload)

    def after(self, delay_ns: int, fn: Callable, *args: Any) -> None:
        # Simulator.timer, inlined: heartbeats set one timer per node every few ms
        sim = self.sim
        sim._seq += 1
        heapq.heappush(
            sim._queue,
            (sim.now + max(0, delay_ns), sim._seq, sim._fire_timer, (self, self.incarnation, fn, args)),
        )

    def on_message(self, src: str, payload: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def on_crash(self, lose_unflushed: bool) -> None:
        """Volatile state is gone; ``lose_unflushed`` also drops writes not yet on disk."""

    def on_restart(self) -> None:
        """Back up with whatever state survived the crash."""

    def describe(self) -> dict:
        return {"up": self.up}


N = TypeVar("N", bound=Node)


class Simulator:
    """Virtual time, one event queue, one network, one random source."""

    def __init__(self, seed: int, network: NetworkConfig | None = None, *, auto_deliver: bool = True):
        self.seed = seed
        self.rng = random.Random(seed)
        self.network = network or NetworkConfig()
        self.auto_deliver = auto_deliver
        self.now = 0
        self.nodes: dict[str, Node] = {}
        self.in_flight: dict[int, Message] = {}
        self._queue: list = []
        self._seq = 0
        self._next_msg = 0
        self._group: dict[str, int] = {}
        self.faults: list[dict] = []  # what was injected, when: for summaries and histories
        self.stats = {"sent": 0, "delivered": 0, "lost": 0, "duplicated": 0, "partitioned": 0}

    # -- set-up

    def add(self, node: N) -> N:
        if node.id in self.nodes:
            raise ValueError(f"duplicate node id {node.id!r}")
        node.sim = self
        self.nodes[node.id] = node
        return node

    # -- the event queue

    def _push(self, t: int, fn: Callable, arg: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, fn, arg))

    def timer(self, node: Node, delay_ns: int, fn: Callable, args: tuple = ()) -> None:
        self._seq += 1
        heapq.heappush(
            self._queue,
            (self.now + max(0, delay_ns), self._seq, self._fire_timer, (node, node.incarnation, fn, args)),
        )

    def at(self, t_ns: int, fn: Callable, *args: Any) -> None:
        """Call ``fn(*args)`` at virtual time ``t_ns``, whatever state nodes are in (nemesis)."""
        self._push(max(t_ns, self.now), self._fire_call, (fn, args))

    @staticmethod
    def _fire_timer(arg: tuple) -> None:
        node, inc, fn, args = arg
        if node.up and node.incarnation == inc:
            fn(*args)

    @staticmethod
    def _fire_call(arg: tuple) -> None:
        fn, args = arg
        fn(*args)

    def step(self) -> bool:
        """Fire the next event; False when nothing is queued."""
        if not self._queue:
            return False
        t, _, fn, arg = heapq.heappop(self._queue)
        if t > self.now:
            self.now = t
        fn(arg)
        return True

    def run(self, until_ns: int | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Fire events in time order until the queue empties, ``until_ns`` or ``stop()``."""
        q = self._queue
        pop = heapq.heappop
        if stop is None and until_ns is not None:
            # advance()'s case, the explorer's every slice: the loop below without its
            # per-event tests of what this call did not ask for
            while q and q[0][0] <= until_ns:
                t, _, fn, arg = pop(q)
                if t > self.now:
                    self.now = t
                fn(arg)
            if until_ns > self.now:
                self.now = until_ns
            return
        while q:
            if until_ns is not None and q[0][0] > until_ns:
                self.now = max(self.now, until_ns)
                return
            t, _, fn, arg = pop(q)
            if t > self.now:
                self.now = t
            fn(arg)
            if stop is not None and stop():
                return
        if until_ns is not None:
            self.now = max(self.now, until_ns)

    def advance(self, ms: float) -> None:
        """Step mode: let ``ms`` of virtual time pass, firing what falls due."""
        self.run(until_ns=self.now + ms_to_ns(ms))

    # -- the network

    def reachable(self, a: str, b: str) -> bool:
        ga = self._group.get(a)
        gb = self._group.get(b)
        return ga is None or gb is None or ga == gb

    def send(self, src: str, dst: str, payload: Any) -> None:
        self.stats["sent"] += 1
        net = self.network
        if not (self.auto_deliver or net.loss or net.duplicate):
            # Step mode on a lossless network (the explorer's): what the general path
            # below does then, without its branches: no draw, one copy, due now.
            self._next_msg += 1
            self.in_flight[self._next_msg] = Message(self._next_msg, src, dst, payload, self.now, self.now)
            return
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
                    d += int(rng.random() * 10 * max(d, NS_PER_MS))
                due += d
            msg = Message(self._next_msg, src, dst, payload, self.now, due)
            self.in_flight[msg.id] = msg
            if self.auto_deliver:
                self._seq += 1
                heapq.heappush(self._queue, (due, self._seq, self._deliver_event, msg))

    def _deliver_event(self, msg: Message) -> None:
        if self.in_flight.pop(msg.id, None) is not None:
            self._hand_over(msg)

    def _hand_over(self, msg: Message) -> None:
        node = self.nodes.get(msg.dst)
        # A partition or a crash that begins while a message is in flight loses it too.
        if node is None or not node.up:
            self.stats["lost"] += 1
            return
        if self._group and not self.reachable(msg.src, msg.dst):
            self.stats["partitioned"] += 1
            return
        self.stats["delivered"] += 1
        node.on_message(msg.src, msg.payload)

    def pending(self) -> list[Message]:
        """Messages in flight, by id (= send order)."""
        return [self.in_flight[k] for k in sorted(self.in_flight)]

    def deliver(self, msg_id: int) -> None:
        msg = self.in_flight.pop(msg_id, None)
        if msg is None:
            raise KeyError(f"no message {msg_id} in flight")
        self._hand_over(msg)

    def deliver_oldest(self, limit: int) -> int:
        """Step mode: deliver the oldest message in flight (the smallest id), then the
        next, those sent meanwhile included, until none is left or ``limit`` were
        delivered; returns how many were. The same as ``deliver(pending()[0].id)`` in a
        loop, without sorting every message for each delivery (settling delivers a
        hundred messages a run, and the explorer settles thousands of runs)."""
        in_flight, nodes, stats = self.in_flight, self.nodes, self.stats
        n = 0
        while n < limit and in_flight:
            msg = in_flight.pop(min(in_flight))
            n += 1
            # _hand_over, inlined
            node = nodes.get(msg.dst)
            if node is None or not node.up:
                stats["lost"] += 1
            elif self._group and not self.reachable(msg.src, msg.dst):
                stats["partitioned"] += 1
            else:
                stats["delivered"] += 1
                node.on_message(msg.src, msg.payload)
        return n

    def drop(self, msg_id: int) -> None:
        if self.in_flight.pop(msg_id, None) is None:
            raise KeyError(f"no message {msg_id} in flight")
        self.stats["lost"] += 1

    def duplicate(self, msg_id: int) -> int:
        msg = self.in_flight[msg_id]
        self._next_msg += 1
        copy = Message(self._next_msg, msg.src, msg.dst, msg.payload, msg.sent, msg.due)
        self.in_flight[copy.id] = copy
        self.stats["duplicated"] += 1
        if self.auto_deliver:
            self._push(max(msg.due, self.now), self._deliver_event, copy)
        return copy.id

    # -- faults (each is recorded in self.faults)

    def note_fault(self, f: str, value: Any) -> None:
        self.faults.append({"time": self.now, "f": f, "value": value})

    def crash(self, node_id: str, *, lose_unflushed: bool = False) -> None:
        node = self.nodes[node_id]
        if not node.up:
            return
        node.up = False
        node.incarnation += 1
        node.on_crash(lose_unflushed)
        self.note_fault("crash", {"node": node_id, "lose_unflushed": lose_unflushed})

    def restart(self, node_id: str) -> None:
        node = self.nodes[node_id]
        if node.up:
            return
        node.up = True
        node.incarnation += 1
        self.note_fault("restart", node_id)
        node.on_restart()

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Cut the network into ``groups``; nodes named in no group still reach everyone."""
        self._group = {}
        described = []
        for i, g in enumerate(groups):
            members = sorted(g)
            described.append(members)
            for n in members:
                self._group[n] = i
        self.note_fault("partition", described)

    def heal(self) -> None:
        self._group = {}
        self.note_fault("heal", None)

    def set_skew(self, node_id: str, ms: float) -> None:
        self.nodes[node_id].skew_ns = ms_to_ns(ms)
        self.note_fault("skew", {"node": node_id, "ms": ms})
