"""Schedules: the steps an explorer takes against a simulated cluster, and their strategies.

A *schedule* is a list of plain steps, each a dict with a ``"do"`` field::

    {"do": "write", "client": "c0"}                 # the client invokes a write (unique value)
    {"do": "read", "client": "c1", "node": "n2"}    # node: where to send it (leaderless: the
                                                    # coordinator); left out, the protocol routes
    {"do": "write", "client": "c0", "await": true}  # ... and the network runs until it completes
    {"do": "deliver", "message": 7}                 # message 7 arrives now (others stay delayed)
    {"do": "drop", "message": 7}                    # message 7 is lost
    {"do": "deliver-client-traffic"}                # requests and replies arrive; replication waits
    {"do": "wait", "ms": 25}                        # time passes, nothing arrives (timers fire)
    {"do": "run", "ms": 25}                         # time passes with the network delivering
    {"do": "partition", "groups": [["n1"], ["n2", "n3", "orch"]]}
    {"do": "heal"}
    {"do": "crash", "node": "n1"}; {"do": "restart", "node": "n1"}
    {"do": "skew", "node": "n2", "ms": -100}        # n2's clock runs 100 ms behind
    {"do": "leader-timeout", "how": "crash"}         # the leader is cut off ("crash" or
                                                    # "isolate") and the failover timeout passes

:class:`SimulatedCluster` applies steps to a step-mode simulator (``auto_deliver=False``),
so a schedule, the design and the simulator's seed decide the history byte for byte: that
is what makes a counterexample replayable outside Hypothesis. Steps name messages by
their id, which is stable for a given prefix of the schedule.

The strategies at the bottom (:func:`steps`, :func:`schedules`, :func:`histories`) draw
schedules for a design, for users who want plain ``@given`` tests rather than the state
machines of :mod:`replicheck.model.machines`.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from . import topology as registry
from .clients import Client, HistoryLog, Workload
from .config import ConfigError, RunConfig, build_protocol, parse_config, record_faults
from .options import MAX_MS
from .sim import Simulator, ms_to_ns
from .topology import Topology

SLICE_MS = 5.0  # "run" delivers everything, then lets this much time pass, and repeats
SETTLE_MS = 200.0  # at the end: heal, restart, and let replication and failover finish
_SLICE_NS = ms_to_ns(SLICE_MS)
MAX_DELIVERIES = 20_000  # a bound on one delivery loop, so a chatty protocol cannot hang a run
DEFAULT_CLIENTS = 2


@dataclass(frozen=True)
class Design:
    """A replication design to explore: a ``replicheck simulate`` configuration string.

    ``leader-follower --replication async --failover auto``; only the protocol options
    and ``--clients``, ``--timeout-ms`` matter here (latency and loss are the explorer's
    to choose, step by step).
    """

    text: str
    config: RunConfig = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Design:
        words = shlex.split(text)
        cfg = parse_config(text)  # ConfigError says what to write instead
        if "--clients" not in words and not any(w.startswith("--clients=") for w in words):
            cfg.clients = DEFAULT_CLIENTS
        return cls(text, cfg)

    @property
    def topology(self) -> str:
        return self.config.topology

    @property
    def protocol(self) -> Any:
        return self.config.protocol

    @property
    def kind(self) -> Topology:
        """The registered topology: what the explorer may ask of this design."""
        topo = registry.get(self.topology)
        assert topo is not None, "a parsed design names a registered topology"
        return topo

    @property
    def leader_based(self) -> bool:
        return self.kind.leader_based

    @property
    def has_failover(self) -> bool:
        return self.kind.has_failover(self.protocol)

    @property
    def uses_clocks(self) -> bool:
        """Does any decision read a node's wall clock (so skew can matter)?"""
        return self.kind.uses_clocks(self.protocol)

    @property
    def client_picks_node(self) -> bool:
        """Any node coordinates, so a client step names the node it goes to."""
        return self.kind.client_picks_node

    def replica_ids(self) -> list[str]:
        """Every storage node: preferred replicas, then a sloppy quorum's fallbacks."""
        return self.kind.replica_ids(self.protocol)

    def other_nodes(self) -> list[str]:
        """Nodes that are not replicas but that a partition must place (an orchestrator)."""
        return self.kind.other_nodes(self.protocol)

    def client_ids(self) -> list[str]:
        return [f"c{i}" for i in range(self.config.clients)]

    def describe(self) -> str:
        return self.protocol.describe()


class _OneOpWorkload(Workload):
    """A register workload whose next operation is whatever the schedule says."""

    def __init__(self, rng: Any) -> None:
        super().__init__("register", rng)
        self.queued: tuple[str, Any, Any] | None = None

    def next(self) -> tuple[str, Any, Any]:
        op, self.queued = self.queued, None
        assert op is not None, "a client invoked without a step asking it to"
        return op


class _AsClientsSeeIt:
    """The protocol object as clients see it, with the two seams an explorer needs.

    ``route_to`` sends the next operation to a chosen node (a leaderless coordinator, a
    replica to audit) instead of where the protocol would; ``plain`` drops the routing
    metadata so an audit read is a local read. ``on_reply`` also notes which epoch
    acknowledged each write: what the single-leader property is about.
    """

    def __init__(self, protocol: Any, cluster: SimulatedCluster) -> None:
        self._protocol = protocol
        self._cluster = cluster
        self.route_to: str | None = None
        self.plain = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # copy.deepcopy asks a half-built copy for __setstate__ before _protocol is set
            raise AttributeError(name)
        return getattr(self._protocol, name)

    def route(self, client: Any, f: str) -> str:
        return self.route_to if self.route_to is not None else self._protocol.route(client, f)

    def request_meta(self, client: Any, f: str, dst: str) -> dict:
        return {} if self.plain else self._protocol.request_meta(client, f, dst)

    def on_reply(self, client: Any, f: str, status: str, meta: dict) -> None:
        if status == "ok" and f != "read" and client.current is not None:
            self._cluster.acks.append(
                {
                    "time": self._cluster.sim.now,
                    "client": client.id,
                    "node": client.current[4],
                    "epoch": meta.get("epoch"),
                    "value": client.current[3],
                }
            )
        self._protocol.on_reply(client, f, status, meta)


class SimulatedCluster:
    """A design on a step-mode simulator, driven one schedule step at a time.

    ``schedule`` holds the steps applied so far (plain data, replayable) and ``narration``
    one sentence per step for people. ``events`` is the client history, with nemesis
    events for the faults, in the shape ``replicheck check`` reads.
    """

    def __init__(self, design: Design | str, seed: int = 0) -> None:
        self.design = Design.parse(design) if isinstance(design, str) else design
        self.seed = seed
        cfg = self.design.config
        self.sim = Simulator(seed, cfg.network, auto_deliver=False)
        self.protocol = build_protocol(self.sim, cfg)
        self.history = HistoryLog()
        self.acks: list[dict] = []
        self.view = _AsClientsSeeIt(self.protocol, self)
        self.clients: dict[str, Client] = {}
        for i, cid in enumerate(self.design.client_ids()):
            self.clients[cid] = self._add_client(cid, i)
        self.replicas = self.design.replica_ids()
        self.schedule: list[dict] = []
        self.narration: list[str] = []
        self.operations = 0
        self._next_value = 0
        self.writes: dict[int, tuple[str, int]] = {}  # value -> (client, op number)
        self._faults_seen = 0
        self.finished = False

    def _add_client(self, cid: str, index: int) -> Client:
        c = Client(
            cid,
            self.view,
            _OneOpWorkload(self.sim.rng),
            self.history,
            [0],
            timeout_ms=self.design.config.timeout_ms,
            think_ms=0,
        )
        self.sim.add(c)
        self.protocol.init_client(c, index)
        return c

    # -- what the explorer can see

    @property
    def events(self) -> list[dict]:
        return self.history.events

    def pending(self) -> list:
        return self.sim.pending()

    def idle_clients(self) -> list[str]:
        return [cid for cid, c in self.clients.items() if c.current is None]

    def down(self) -> list[str]:
        return [n for n in self.replicas if not self.sim.nodes[n].up]

    def leader(self) -> str | None:
        return self.protocol.current_leader() if self.design.leader_based else None

    # -- steps

    def apply(self, step: dict) -> None:
        """Apply one step and record it; a step that names nothing real is a usage error."""
        do = step.get("do")
        handler = _STEPS.get(do)  # type: ignore[arg-type]
        if handler is None:
            raise ConfigError(f"unknown step {do!r}; steps are: {', '.join(sorted(_STEPS))}")
        try:
            said = handler(self, step)
        except KeyError as e:
            raise ConfigError(f"step {step}: {e.args[0] if e.args else e}") from None
        self.schedule.append(dict(step))
        self.narration.append(said)
        self._note_faults()

    def _note_faults(self) -> None:
        record_faults(self.history, self.sim.faults[self._faults_seen :])
        self._faults_seen = len(self.sim.faults)

    def _invoke(self, cid: str, f: str, node: str | None, *, plain: bool = False) -> Any:
        c = self.clients[cid]
        if c.current is not None:
            raise KeyError(f"client {cid} is still waiting for its last operation")
        if node is not None and node not in self.sim.nodes:
            raise KeyError(f"no node {node!r}")
        value = None
        if f == "write":
            self._next_value += 1
            value = self._next_value
        # Histories have closed intervals: an operation invoked at the very instant another
        # completed counts as concurrent with it. A microsecond between steps keeps
        # one step's operations after the last step's, as a person reads the schedule.
        self.sim.advance(0.001)
        workload = c.workload
        assert isinstance(workload, _OneOpWorkload)  # every explorer client gets one (_add_client)
        workload.queued = (f, None, value)
        c.budget[0] = 1
        self.view.route_to, self.view.plain = node, plain
        try:
            c.invoke()
        finally:
            self.view.route_to, self.view.plain = None, False
        self.operations += 1
        return value

    def deliver_all(self, only_clients: bool = False) -> int:
        """Deliver the oldest message in flight (or the oldest to or from a client), and
        again, until none is left; returns how many were delivered."""
        # The oldest is the smallest id: taking min() of the ids, rather than sorting every
        # message (sim.pending()) for each delivery, is what keeps settling cheap.
        sim, in_flight, clients = self.sim, self.sim.in_flight, self.clients
        if not only_clients:
            return sim.deliver_oldest(MAX_DELIVERIES)
        n = 0
        while n < MAX_DELIVERIES and in_flight:
            k = min((k for k, m in in_flight.items() if m.src in clients or m.dst in clients), default=None)
            if k is None:
                break
            sim.deliver(k)
            n += 1
        return n

    def run_network(self, ms: float) -> None:
        sim = self.sim
        deliver_all = sim.deliver_oldest  # what self.deliver_all() does, a call less
        end = sim.now + ms_to_ns(ms)
        while True:
            deliver_all(MAX_DELIVERIES)
            left = (end - sim.now) / 1e6
            if left <= 0:
                break
            if not sim.in_flight:
                # Whole slices in which no timer falls due and nothing is in flight only
                # move the clock: jump over them at once (settling spends most of its
                # 200 ms so). The slice grid, and so every later delivery time, is the
                # same as slice by slice; a partial last slice is left to the loop.
                full = (end - sim.now) // _SLICE_NS
                if sim._queue:
                    full = min(full, (sim._queue[0][0] - sim.now - 1) // _SLICE_NS)
                if full > 0:
                    sim.now += full * _SLICE_NS
                    continue
            sim.advance(min(SLICE_MS, left))
        deliver_all(MAX_DELIVERIES)

    def finish(self, audit: bool) -> None:
        """Heal, restart, let the system settle; with ``audit``, read every replica once.

        The audit reads (session ``audit``, one per replica, each a local read there or, for
        leaderless, a read coordinated there) are the final reads convergence and durability
        are judged on. Deterministic, so it is not part of the schedule.
        """
        if self.finished:
            return
        self.finished = True
        if self.sim._group:
            self.sim.heal()
        for n in self.down():
            self.sim.restart(n)
        self._note_faults()
        self.run_network(SETTLE_MS)
        if audit:
            auditor = self._add_client("audit", len(self.clients))
            self.clients["audit"] = auditor
            for n in self.replicas:
                if self.clients["audit"].current is None:
                    self._invoke("audit", "read", n, plain=True)
                    self.run_network(self.design.config.timeout_ms + SLICE_MS)
        self._note_faults()

    def _await(self, cid: str) -> str:
        """Run the network until the client's operation completes (or its timeout fires)."""
        before = len(self.history.events)
        limit = self.sim.now + ms_to_ns(self.design.config.timeout_ms + SLICE_MS)
        while self.clients[cid].current is not None and self.sim.now <= limit:
            self.run_network(SLICE_MS)
        done = [e for e in self.history.events[before:] if e.get("session") == cid and e["type"] != "invoke"]
        if not done:
            return " and waits, with the network running"
        e = done[-1]
        got = f" -> {e['value']!r}" if e["f"] == "read" and e["type"] == "ok" else ""
        return f" and waits, with the network running: {e['type']}{got}"

    def _node(self, name: str) -> str:
        if name not in self.sim.nodes:
            raise KeyError(f"no node {name!r}")
        return name

    def _describe(self, m: Any) -> str:
        p = m.payload
        if not isinstance(p, tuple) or not p:
            return f"{m.src} -> {m.dst} {type(p).__name__}"
        if p[0] == "req":
            return f"{m.src} -> {m.dst} {p[2]} request"
        if p[0] == "resp":
            return f"{m.src} -> {m.dst} reply ({p[2]})"
        return f"{m.src} -> {m.dst} {p[0]}"


# ---------------------------------------------------------------- step handlers
# Each applies one step and returns one sentence for people.


def _sent_to(c: SimulatedCluster, cid: str) -> str:
    current = c.clients[cid].current
    assert current is not None  # just invoked: no reply is delivered before the next step
    return current[4]


def _write(c: SimulatedCluster, s: dict) -> str:
    value = c._invoke(s["client"], "write", s.get("node"))
    c.writes[value] = (s["client"], c.clients[s["client"]].op_no)
    said = f"client {s['client']} writes {value} (sent to {_sent_to(c, s['client'])})"
    return said + (c._await(s["client"]) if s.get("await") else "")


def _read(c: SimulatedCluster, s: dict) -> str:
    c._invoke(s["client"], "read", s.get("node"))
    said = f"client {s['client']} reads (sent to {_sent_to(c, s['client'])})"
    return said + (c._await(s["client"]) if s.get("await") else "")


def _deliver(c: SimulatedCluster, s: dict) -> str:
    m = c.sim.in_flight.get(s["message"])
    if m is None:
        raise KeyError(f"no message {s['message']} in flight")
    said = f"deliver message {m.id} ({c._describe(m)}); the rest stay delayed"
    c.sim.deliver(m.id)
    return said


def _drop(c: SimulatedCluster, s: dict) -> str:
    m = c.sim.in_flight.get(s["message"])
    if m is None:
        raise KeyError(f"no message {s['message']} in flight")
    c.sim.drop(m.id)
    return f"lose message {m.id} ({c._describe(m)})"


def _client_traffic(c: SimulatedCluster, s: dict) -> str:
    n = c.deliver_all(only_clients=True)
    return f"client requests and replies arrive ({n} messages); replication stays delayed"


def _ms(s: dict, *, signed: bool = False) -> float:
    """A step's "ms", checked: a replayed file may hold anything there (past an hour a
    run would simulate heartbeats for days)."""
    ms = s["ms"]
    if (
        isinstance(ms, bool)
        or not isinstance(ms, (int, float))
        or not math.isfinite(ms)
        or abs(ms) > MAX_MS
        or (ms < 0 and not signed)
    ):
        low = -MAX_MS if signed else 0
        raise KeyError(f"'ms' must be a number of milliseconds from {low} to {MAX_MS}, got {ms!r}")
    return float(ms)


def _wait(c: SimulatedCluster, s: dict) -> str:
    c.sim.advance(_ms(s))
    return f"{s['ms']:g} ms pass with every message delayed (timers fire)"


def _run(c: SimulatedCluster, s: dict) -> str:
    c.run_network(_ms(s))
    return f"{s['ms']:g} ms pass with the network delivering everything it can"


def _partition(c: SimulatedCluster, s: dict) -> str:
    groups = [[c._node(n) for n in g] for g in s["groups"]]
    c.sim.partition(groups)
    return "partition: " + " | ".join(",".join(g) for g in groups) + " (clients reach every side)"


def _heal(c: SimulatedCluster, s: dict) -> str:
    c.sim.heal()
    return "heal the network"


def _crash(c: SimulatedCluster, s: dict) -> str:
    c.sim.crash(c._node(s["node"]))
    return f"crash {s['node']}"


def _restart(c: SimulatedCluster, s: dict) -> str:
    c.sim.restart(c._node(s["node"]))
    return f"restart {s['node']}"


def _skew(c: SimulatedCluster, s: dict) -> str:
    c.sim.set_skew(c._node(s["node"]), _ms(s, signed=True))
    return f"{s['node']}'s clock is set {abs(s['ms']):g} ms {'ahead' if s['ms'] > 0 else 'behind'}"


def _leader_timeout(c: SimulatedCluster, s: dict) -> str:
    if not c.design.has_failover:
        raise KeyError("leader-timeout needs a leader-follower design with --failover auto")
    old = c.leader()
    if old is None:
        raise KeyError("leader-timeout needs a leader, and this design has none")
    how = s.get("how", "crash")
    if how == "crash":
        c.sim.crash(old)
    elif how == "isolate":
        c.sim.partition([[old], [n for n in c.protocol.node_ids if n != old]])
    else:
        raise KeyError(f"leader-timeout how={how!r}: crash or isolate")
    cfg = c.design.protocol
    c.run_network(cfg.failover_ms + 3 * cfg.heartbeat_ms)
    # Failover tooling moves the leader's address (DNS, a virtual IP): clients that look
    # it up again find the new leader; stale clients (--stale-clients) do not.
    for client in c.clients.values():
        if not client.session.get("static"):
            client.send("orch", ("whois",))
    c.run_network(SLICE_MS)
    what = "crashes" if how == "crash" else "is cut off from the replicas and the orchestrator"
    return (
        f"leader {old} {what}; after the failover timeout {c.leader()} leads "
        f"(epoch {c.protocol.orch.epoch}); clients look the leader up again"
    )


_STEPS = {
    "write": _write,
    "read": _read,
    "deliver": _deliver,
    "drop": _drop,
    "deliver-client-traffic": _client_traffic,
    "wait": _wait,
    "run": _run,
    "partition": _partition,
    "heal": _heal,
    "crash": _crash,
    "restart": _restart,
    "skew": _skew,
    "leader-timeout": _leader_timeout,
}
STEP_KINDS = tuple(sorted(_STEPS))

WAIT_MS = (1, 5, 25, 60)
SKEW_MS = (-100, -20, 20, 100)


def run_schedule(
    design: Design | str, schedule: list[dict], *, seed: int = 0, audit: bool = False
) -> SimulatedCluster:
    """Apply ``schedule`` to a fresh cluster, then settle: the same inputs, the same history."""
    c = SimulatedCluster(design, seed)
    for step in schedule:
        c.apply(step)
    c.finish(audit)
    return c


# ---------------------------------------------------------------- strategies


def steps(design: Design | str) -> st.SearchStrategy[dict]:
    """One schedule step for ``design``, without reference to a cluster's state.

    Steps that need state (``deliver``, ``drop``: a message id) are drawn as ids that may
    not exist; :func:`histories` skips those, the state machines never draw them.
    """
    d = Design.parse(design) if isinstance(design, str) else design
    clients, replicas = d.client_ids(), d.replica_ids()
    nodes = st.sampled_from(replicas)
    choices = [
        st.builds(lambda c: {"do": "write", "client": c}, st.sampled_from(clients)),
        st.builds(lambda c: {"do": "read", "client": c}, st.sampled_from(clients)),
        st.builds(lambda k: {"do": "deliver", "message": k}, st.integers(1, 40)),
        st.builds(lambda k: {"do": "drop", "message": k}, st.integers(1, 40)),
        st.just({"do": "deliver-client-traffic"}),
        st.builds(lambda ms: {"do": "wait", "ms": ms}, st.sampled_from(WAIT_MS)),
        st.builds(lambda ms: {"do": "run", "ms": ms}, st.sampled_from(WAIT_MS)),
        st.builds(
            lambda n: {"do": "partition", "groups": [[n], [r for r in replicas if r != n] + _others(d)]},
            nodes,
        ),
        # a side of several nodes: what lets a sloppy write land on fallbacks only
        st.builds(
            lambda side: {
                "do": "partition",
                "groups": [sorted(side), [r for r in replicas if r not in side] + _others(d)],
            },
            st.sets(nodes, min_size=2, max_size=max(2, len(replicas) - 1)),
        ),
        st.just({"do": "heal"}),
        st.builds(lambda n: {"do": "crash", "node": n}, nodes),
        st.builds(lambda n: {"do": "restart", "node": n}, nodes),
    ]
    if d.client_picks_node:
        choices[0] = st.builds(
            lambda c, n: {"do": "write", "client": c, "node": n}, st.sampled_from(clients), nodes
        )
        choices[1] = st.builds(
            lambda c, n: {"do": "read", "client": c, "node": n}, st.sampled_from(clients), nodes
        )
    if d.uses_clocks:
        choices.append(
            st.builds(lambda n, ms: {"do": "skew", "node": n, "ms": ms}, nodes, st.sampled_from(SKEW_MS))
        )
    if d.has_failover:
        choices.append(
            st.builds(lambda h: {"do": "leader-timeout", "how": h}, st.sampled_from(["crash", "isolate"]))
        )
    return st.one_of(choices)


def _others(d: Design) -> list[str]:
    return d.other_nodes()


def schedules(design: Design | str, *, max_steps: int = 20) -> st.SearchStrategy[list[dict]]:
    """A list of steps for ``design`` (fault schedule and client operations together)."""
    return st.lists(steps(design), max_size=max_steps)


def histories(
    design: Design | str, *, max_steps: int = 20, seed: int = 0, audit: bool = False
) -> st.SearchStrategy[SimulatedCluster]:
    """A finished cluster run (``.events`` is the history) from a drawn schedule.

    Steps that do not apply where they fall (a client still busy, a message no longer in
    flight) are skipped, so ``.schedule`` holds exactly the steps that replay.
    """
    d = Design.parse(design) if isinstance(design, str) else design

    def run(schedule: list[dict]) -> SimulatedCluster:
        c = SimulatedCluster(d, seed)
        for step in schedule:
            try:
                c.apply(step)
            except ConfigError:
                continue
        c.finish(audit)
        return c

    return schedules(d, max_steps=max_steps).map(run)
