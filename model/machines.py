"""Hypothesis state machines that drive a simulated cluster, and the properties they judge.

:class:`ReplicationMachine` is a ``RuleBasedStateMachine`` whose rules are client
operations and a menu of faults (deliver or delay a chosen message, lose one, partition
and heal, crash and restart, clock skew, leader timeout with failover). Every choice is a
Hypothesis draw and the simulator's seed is fixed, so a failure shrinks to a short
schedule and replays exactly. Invariants are checked after every step (at most one leader
per epoch; with the single-leader property, no write acknowledged by a deposed leader);
at teardown the system settles and the chosen property is judged on the history.

Use it in your own suite by configuring a subclass::

    class AsyncFailover(ReplicationMachine):
        design = "leader-follower --replication async --failover auto"
        property = "durability"

    TestAsyncFailover = AsyncFailover.TestCase      # fails: acknowledged writes are lost

or build one with :func:`machine_for`. A violation raises :class:`PropertyViolated`,
whose ``counterexample`` is plain data (schedule, history, explanation).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from replicheck.checker import History, HistoryError, check
from replicheck.checker.report import render_linearizability
from replicheck.checker.verdict import Verdict, as_verdict

from .schedules import SKEW_MS, WAIT_MS, Design, SimulatedCluster

# crash: crash a replica, or restart one that is down; partition: cut one off, or heal.
FAULT_KINDS = ("partition", "crash", "skew", "leader-timeout")
LINEARIZABLE, RYW, DURABILITY, SINGLE_LEADER, CONVERGENCE = (
    "linearizable",
    "read-your-writes",
    "durability",
    "single-leader",
    "convergence",
)
PROPERTIES = (LINEARIZABLE, RYW, DURABILITY, SINGLE_LEADER, CONVERGENCE)
# Properties judged on final reads taken after the system settles.
NEEDS_AUDIT = {DURABILITY, CONVERGENCE}
HISTORY_META = {"spec": "register", "init": None, "nil_read": "absent"}


@dataclass
class Judgement:
    """A property's verdict on one run: True, False, UNKNOWN_VERDICT, or None (does not apply)."""

    property: str
    holds: Verdict | None
    explanation: str

    def __post_init__(self) -> None:
        # a literal "unknown" becomes the verdict whose use as a bool raises
        self.holds = None if self.holds is None else as_verdict(self.holds)

    def to_dict(self) -> dict:
        return {"property": self.property, "holds": self.holds, "explanation": self.explanation}


@dataclass
class Counterexample:
    """A schedule that breaks a property, with the history it produced: plain data."""

    design: str
    property: str
    seed: int
    schedule: list[dict]
    narration: list[str]
    events: list[dict]
    explanation: str
    settled: bool  # the run ended with finish(); an invariant can fail earlier
    audit: bool
    detected_by: str = "teardown"  # or the invariant's name

    # builtins.property: mypy resolves a bare @property to the field ``property`` above
    # (at run time an annotation without a value binds nothing, so both are the built-in).
    @builtins.property
    def steps(self) -> int:
        return len(self.schedule)

    def meta(self) -> dict:
        """The metadata line of the saved history: enough to judge it and to replay it."""
        return {
            **history_meta(self.events, Design.parse(self.design)),
            "source": f"replicheck explore {self.design} --property {self.property}",
            "explore": {
                "design": self.design,
                "property": self.property,
                "seed": self.seed,
                "schedule": self.schedule,
                "settled": self.settled,
                "audit": self.audit,
                "detected_by": self.detected_by,
            },
        }

    def to_dict(self) -> dict:
        return {
            "design": self.design,
            "property": self.property,
            "seed": self.seed,
            "steps": self.steps,
            "schedule": self.schedule,
            "narration": self.narration,
            "events": self.events,
            "explanation": self.explanation,
            "settled": self.settled,
            "audit": self.audit,
            "detected_by": self.detected_by,
        }


class PropertyViolated(AssertionError):
    """Raised inside a state machine run; Hypothesis shrinks the schedule that raised it."""

    def __init__(self, counterexample: Counterexample):
        super().__init__(
            f"{counterexample.property} violated by {counterexample.design}: "
            f"{counterexample.explanation.splitlines()[0] if counterexample.explanation else ''}"
        )
        self.counterexample = counterexample


# ---------------------------------------------------------------- properties


def history_meta(events: list[dict], design: Design | None = None) -> dict:
    """HISTORY_META, plus ``quiet_from``: when the run settled (faults healed, replication
    caught up), which is when the audit reads begin. Convergence and durability are
    judged on reads from then on only, not on one taken while a node was down. The spec
    is the design's (sibling reads: a multi-value register)."""
    meta = dict(HISTORY_META)
    if design is not None:
        meta["spec"] = design.kind.history_spec(design.protocol, "register")
    start = next((e["time"] for e in events if e.get("session") == "audit"), None)
    if start is not None:
        meta["quiet_from"] = start
    return meta


def history_of(cluster: SimulatedCluster) -> History:
    return History.from_events(cluster.events, meta=history_meta(cluster.events, cluster.design))


def judge(cluster: SimulatedCluster, prop: str) -> Judgement:
    """Judge ``prop`` on a finished run (``cluster.finish`` already called)."""
    if prop == LINEARIZABLE:
        return _linearizable(cluster)
    if prop == RYW:
        return _consistency(cluster, RYW)
    if prop == CONVERGENCE:
        return _convergence(cluster)
    if prop == DURABILITY:
        return _durability(cluster)
    if prop == SINGLE_LEADER:
        if not cluster.design.leader_based:
            return Judgement(prop, None, f"{cluster.design.topology} has no single leader to keep")
        bad = deposed_leader_acks(cluster.acks)
        return Judgement(
            prop, bad is None, bad or "every acknowledged write came from the newest leader so far"
        )
    raise ValueError(f"unknown property {prop!r}; choose one of {', '.join(PROPERTIES)}")


def _linearizable(cluster: SimulatedCluster) -> Judgement:
    try:
        result = check(history_of(cluster), timeout=20)
    except HistoryError as e:
        # Sibling sets (version vectors) are not register values: the design does not
        # even claim to be a register, so linearizability of one does not apply.
        return Judgement(LINEARIZABLE, None, f"not a register history: {e}")
    return Judgement(LINEARIZABLE, result.valid, render_linearizability(result, path="history"))


def _consistency(cluster: SimulatedCluster, model: str) -> Judgement:
    from replicheck.checker.consistency import check_consistency, render_consistency

    try:
        # One session per process: a client that lost track of a write (info) continues
        # as a new process, and its old session cannot be judged past that unknown.
        result = check_consistency(history_of(cluster), None, [model], timeout=20, session_field=None)
    except HistoryError as e:
        return Judgement(model, None, f"not a register history: {e}")
    return Judgement(model, result.models[model].valid, render_consistency(result, "history"))


def _convergence(cluster: SimulatedCluster) -> Judgement:
    j = _consistency(cluster, CONVERGENCE)
    if j.holds is not None:
        return j
    # Reads of sibling sets: the consistency checker judges registers only, so compare the
    # audit reads directly (they are the final reads of every replica, after settling).
    bad = audit_reads_disagree(cluster.events)
    return Judgement(CONVERGENCE, bad is None, bad or "after settling, every replica returns the same value")


def audit_reads_disagree(events: list[dict]) -> str | None:
    """The first disagreement among the audit reads (session ``audit``), or None."""
    reads = [e for e in events if e.get("session") == "audit" and e["type"] == "ok" and e["f"] == "read"]
    for e in reads[1:]:
        if e["value"] != reads[0]["value"]:
            return (
                f"after settling, replica {reads[0].get('node')} returns {reads[0]['value']!r} but "
                f"replica {e.get('node')} returns {e['value']!r}: the replicas never converge"
            )
    return None


def _durability(cluster: SimulatedCluster) -> Judgement:
    judged = cluster.design.kind.lost_acknowledged_writes
    if judged is not None:
        holds, explanation = judged(cluster)
        return Judgement(DURABILITY, holds, explanation)
    return _consistency(cluster, DURABILITY)


def deposed_leader_acks(acks: list[dict]) -> str | None:
    """Split brain, as clients see it: a write acknowledged at an epoch older than one
    already seen acknowledging writes. None when acknowledgements never go back in epoch."""
    newest: dict | None = None
    for a in acks:
        if a.get("epoch") is None:
            continue
        if newest is not None and a["epoch"] < newest["epoch"]:
            return (
                f"{a['node']} acknowledged write {a['value']} at epoch {a['epoch']} "
                f"at {a['time'] / 1e6:g} ms, after {newest['node']} had acknowledged write "
                f"{newest['value']} at epoch {newest['epoch']} at {newest['time'] / 1e6:g} ms: "
                "two leaders accepted writes (split brain)"
            )
        if newest is None or a["epoch"] > newest["epoch"]:
            newest = a
    return None


def leaders_sharing_an_epoch(cluster: SimulatedCluster) -> str | None:
    seen: dict[int, str] = {}
    for r in cluster.protocol.replicas:
        if r.up and r.role == "leader" and not r.fenced:
            if r.epoch in seen:
                return f"{seen[r.epoch]} and {r.id} both lead epoch {r.epoch}"
            seen[r.epoch] = r.id
    return None


# ---------------------------------------------------------------- the state machine


class ReplicationMachine(RuleBasedStateMachine):
    """Explore one design against one property. Configure by subclassing (class attributes).

    ``design``: a configuration string as for ``replicheck simulate``; ``property``: one of
    :data:`PROPERTIES`; ``seed``: the simulator's seed (its random choices: replica reads'
    target, ...); ``max_ops``: client operations per run, keeping histories small enough
    to read; ``faults``: the fault menu, a subset of :data:`FAULTS`.
    """

    design: ClassVar[str] = "leader-follower --replication sync --reads leader"
    property: ClassVar[str] = LINEARIZABLE
    seed: ClassVar[int] = 0
    max_ops: ClassVar[int] = 6
    faults: ClassVar[frozenset] = frozenset(
        {"deliver", "drop", "wait", "partition", "crash", "skew", "leader-timeout"}
    )
    # Called with the machine when an example starts: how the CLI counts examples tried.
    on_example: ClassVar[Callable[[Any], None] | None] = None
    # Called with the teardown's Judgement: how a search counts undecided examples.
    on_judgement: ClassVar[Callable[[Judgement], None] | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.cluster = SimulatedCluster(self._design(), self.seed)
        self._failed = False
        self._writers: set[str] = set()  # clients that have issued a write
        if type(self).on_example is not None:
            type(self).on_example(self)  # type: ignore[misc]

    @classmethod
    def _design(cls) -> Design:
        parsed = cls.__dict__.get("_parsed_design")
        if parsed is None or parsed.text != cls.design:
            parsed = Design.parse(cls.design)
            cls._parsed_design = parsed
        return parsed

    # -- helpers

    def _has(self, fault: str) -> bool:
        return fault in self.faults

    def _ops_left(self) -> bool:
        return self.cluster.operations < self.max_ops and bool(self.cluster.idle_clients())

    def _violated(self, explanation: str, detected_by: str) -> None:
        self._failed = True
        c = self.cluster
        raise PropertyViolated(
            Counterexample(
                design=c.design.text,
                property=self.property,
                seed=c.seed,
                schedule=list(c.schedule),
                narration=list(c.narration),
                events=list(c.events),
                explanation=explanation,
                settled=c.finished,
                audit=self.property in NEEDS_AUDIT,
                detected_by=detected_by,
            )
        )

    def _client_op(self, f: str, client: int, node: int, wait: bool) -> None:
        idle = self.cluster.idle_clients()
        step: dict = {"do": f, "client": idle[client % len(idle)]}
        self._apply_op(step, node, wait)

    def _apply_op(self, step: dict, node: int, wait: bool) -> None:
        if wait:
            step["await"] = True
        if self.cluster.design.client_picks_node:
            step["node"] = self.cluster.replicas[node % len(self.cluster.replicas)]
        if step["do"] == "write":
            self._writers.add(step["client"])
        self.cluster.apply(step)

    def _idle_writers(self) -> list[str]:
        return sorted(self._writers & set(self.cluster.idle_clients()))

    def _message(self, k: int) -> int:
        pending = self.cluster.pending()
        return pending[k % len(pending)].id

    # -- client operations

    @precondition(lambda self: self._ops_left())
    @rule(client=st.integers(0, 7), node=st.integers(0, 7), wait=st.booleans())
    def write(self, client: int, node: int, wait: bool) -> None:
        self._client_op("write", client, node, wait)

    @precondition(lambda self: self._ops_left())
    @rule(client=st.integers(0, 7), node=st.integers(0, 7), wait=st.booleans())
    def read(self, client: int, node: int, wait: bool) -> None:
        self._client_op("read", client, node, wait)

    @precondition(lambda self: self._ops_left() and bool(self._idle_writers()))
    @rule(client=st.integers(0, 7), node=st.integers(0, 7), wait=st.booleans())
    def read_back(self, client: int, node: int, wait: bool) -> None:
        """A client reads after its own write: the move every session guarantee is about,
        which a read by any client makes only once in as many tries as there are clients."""
        writers = self._idle_writers()
        self._apply_op({"do": "read", "client": writers[client % len(writers)]}, node, wait)

    # -- the network: deliver or delay a chosen message, lose one, let time pass

    @precondition(lambda self: bool(self.cluster.pending()))
    @rule(k=st.integers(0, 63), lose=st.booleans())
    def message(self, k: int, lose: bool) -> None:
        """One chosen message arrives now, or (with the drop fault) is lost; the rest wait."""
        if lose and self._has("drop"):
            self.cluster.apply({"do": "drop", "message": self._message(k)})
        elif self._has("deliver"):
            self.cluster.apply({"do": "deliver", "message": self._message(k)})

    @precondition(lambda self: bool(self.cluster.pending()))
    @rule()
    def deliver_client_traffic(self) -> None:
        self.cluster.apply({"do": "deliver-client-traffic"})

    @rule(ms=st.sampled_from(WAIT_MS), delayed=st.booleans())
    def time_passes(self, ms: int, delayed: bool) -> None:
        """Time passes with the network delivering, or (with the wait fault) holding everything."""
        self.cluster.apply({"do": "wait" if delayed and self._has("wait") else "run", "ms": ms})

    # -- faults: one rule draws from the menu, so faults do not crowd out client operations

    @rule(kind=st.sampled_from(FAULT_KINDS), k=st.integers(0, 7), ms=st.sampled_from(SKEW_MS))
    def fault(self, kind: str, k: int, ms: int) -> None:
        c = self.cluster
        if kind == "partition" and self._has("partition"):
            if c.sim._group:
                c.apply({"do": "heal"})
            else:
                # one preferred replica alone, or with a sloppy quorum's fallbacks: the cut
                # that lets a write land on fallbacks while reads meet preferred replicas
                preferred = [n for n in c.replicas if not n.startswith("f")]
                fallbacks = [n for n in c.replicas if n.startswith("f")]
                cut = [preferred[k % len(preferred)]] + (fallbacks if (k // len(preferred)) % 2 else [])
                c.apply(
                    {"do": "partition", "groups": [cut, [n for n in c.protocol.node_ids if n not in cut]]}
                )
        elif kind == "crash" and self._has("crash"):
            down = c.down()
            if down:
                c.apply({"do": "restart", "node": down[k % len(down)]})
            elif len(c.replicas) > 1:
                c.apply({"do": "crash", "node": c.replicas[k % len(c.replicas)]})
        elif kind == "skew" and self._has("skew") and c.design.uses_clocks:
            c.apply({"do": "skew", "node": c.replicas[k % len(c.replicas)], "ms": ms})
        elif (
            kind == "leader-timeout"
            and self._has("leader-timeout")
            and c.design.has_failover
            and c.leader() not in c.down()
            and not c.sim._group
        ):
            c.apply({"do": "leader-timeout", "how": "crash" if k % 2 else "isolate"})

    # -- invariants, checked after every step

    @invariant()
    def at_most_one_leader_per_epoch(self) -> None:
        if self.cluster.design.leader_based:
            bad = leaders_sharing_an_epoch(self.cluster)
            if bad:
                self._violated(bad, "at_most_one_leader_per_epoch")

    @invariant()
    def no_write_acknowledged_by_a_deposed_leader(self) -> None:
        if self.property == SINGLE_LEADER and self.cluster.design.leader_based:
            bad = deposed_leader_acks(self.cluster.acks)
            if bad:
                self._violated(bad, "no_write_acknowledged_by_a_deposed_leader")

    def teardown(self) -> None:
        if self._failed:
            return
        self.cluster.finish(audit=self.property in NEEDS_AUDIT)
        j = judge(self.cluster, self.property)
        if type(self).on_judgement is not None:
            type(self).on_judgement(j)  # type: ignore[misc]
        if j.holds is False:
            self._violated(j.explanation, "teardown")
        self.judgement = j


def machine_for(
    design: str,
    prop: str,
    *,
    seed: int = 0,
    max_ops: int = 6,
    faults: frozenset | None = None,
    name: str | None = None,
) -> type[ReplicationMachine]:
    """A :class:`ReplicationMachine` subclass for ``design`` and ``prop``; ``.TestCase`` runs it."""
    if prop not in PROPERTIES:
        raise ValueError(f"unknown property {prop!r}; choose one of {', '.join(PROPERTIES)}")
    Design.parse(design)  # fail now, with a usable message, not inside Hypothesis
    attrs: dict[str, Any] = {"design": design, "property": prop, "seed": seed, "max_ops": max_ops}
    if faults is not None:
        attrs["faults"] = frozenset(faults)
    return type(name or "ExploreMachine", (ReplicationMachine,), attrs)


FAULTS = ReplicationMachine.faults
