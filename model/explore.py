"""Search replication designs for the schedule that breaks a guarantee.

    from replicheck.model.explore import explore
    result = explore("leader-follower --replication async --failover auto", "durability")
    result.outcome                      # "broken", "no counterexample", "unknown", "not applicable"
    result.cell()                       # "no counterexample in 200 examples of <= 30 steps"
    result.counterexample.narration     # the shrunk schedule, one sentence per step
    result.to_dict()                    # plain data

The search is Hypothesis's: a :class:`~replicheck.model.machines.ReplicationMachine` for
the design and property with swarm testing and targeted step pairs (:class:`SwarmMachine`),
run for ``max_examples`` examples in rounds of growing step caps up to ``steps``, shrunk
on failure by replay. ``seed`` fixes Hypothesis's choices and ``derandomize`` derives them
from the test itself (the CI profile), so the same call finds the same counterexample.
A counterexample replays outside Hypothesis with :func:`replay_counterexample`: the
schedule applied to a fresh simulator gives the same history, byte for byte. A search
that finds nothing says so with its bounds; it never says the property held (for that,
:func:`replicheck.model.exhaustive.exhaustive` judges every schedule to a depth).

:data:`DESIGNS` names the designs the claims matrix covers, :data:`CLAIMS` what the field
knows about them and :data:`SOURCES` where from; :func:`matrix` runs every design against
every property, each cell exhaustively for a time budget and then at random beyond.
"""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import get_state_machine_test, initialize, precondition, rule

from .config import ConfigError
from .designs import DESIGNS, not_applicable
from .machines import (
    FAULT_KINDS,
    NEEDS_AUDIT,
    PROPERTIES,
    Counterexample,
    Judgement,
    PropertyViolated,
    ReplicationMachine,
    judge,
    machine_for,
)
from .schedules import SKEW_MS, WAIT_MS, Design, SimulatedCluster

NO_COUNTEREXAMPLE = "no counterexample"  # a random search's best: it proves nothing holds

__all__ = [
    "CLAIMS",
    "Cell",
    "DESIGNS",
    "NO_COUNTEREXAMPLE",
    "PROPERTIES",
    "Counterexample",
    "ReplicationMachine",
    "SearchResult",
    "ci_settings",
    "explore",
    "machine_for",
    "matrix",
    "not_applicable",
    "replay_counterexample",
    "run_cell",
    "SOURCES",
]


# What the field knows, as (design, property) -> "broken" | "holds", each with its source
# (SOURCES names them; docs/explore.md has the table). A cell the search decides otherwise
# is a disagreement: the matrix marks it and exits 1. Cells the field says nothing
# definite about carry no claim.
CLAIMS: dict[tuple[str, str], str] = {
    ("lf-sync-leader-reads", "linearizable"): "holds",
    ("lf-sync-leader-reads", "read-your-writes"): "holds",
    ("lf-sync-leader-reads", "durability"): "holds",
    ("lf-sync-leader-reads", "single-leader"): "holds",
    ("lf-sync-leader-reads", "convergence"): "holds",
    ("lf-async-failover", "linearizable"): "broken",
    ("lf-async-failover", "read-your-writes"): "broken",
    ("lf-async-failover", "durability"): "broken",
    ("lf-async-failover", "single-leader"): "broken",
    ("lf-async-failover-fencing", "linearizable"): "broken",
    ("lf-async-failover-fencing", "read-your-writes"): "broken",
    ("lf-async-failover-fencing", "durability"): "broken",
    ("lf-async-failover-fencing", "single-leader"): "broken",
    ("lf-async-failover-fencing", "convergence"): "holds",
    ("lf-sync-failover-fencing", "linearizable"): "broken",
    ("lf-sync-failover-fencing", "read-your-writes"): "holds",
    ("lf-sync-failover-fencing", "durability"): "holds",
    ("lf-sync-failover-fencing", "single-leader"): "holds",
    ("lf-sync-failover-fencing", "convergence"): "holds",
    ("lf-pin-after-write", "linearizable"): "broken",
    ("lf-pin-after-write", "read-your-writes"): "broken",
    ("lf-pin-after-write", "durability"): "holds",
    ("lf-pin-after-write", "single-leader"): "holds",
    ("lf-pin-after-write", "convergence"): "holds",
    ("lf-wait-for-position", "linearizable"): "broken",
    ("lf-wait-for-position", "read-your-writes"): "holds",
    ("lf-wait-for-position", "durability"): "holds",
    ("lf-wait-for-position", "single-leader"): "holds",
    ("lf-wait-for-position", "convergence"): "holds",
    ("leaderless-quorum", "linearizable"): "broken",
    ("leaderless-abd", "linearizable"): "holds",
    ("leaderless-abd", "read-your-writes"): "holds",
    ("leaderless-abd", "durability"): "holds",
    # W + R > N and ABD, yet stale: the write landed on a fallback the read never asks
    ("leaderless-sloppy", "linearizable"): "broken",
    ("leaderless-sloppy", "read-your-writes"): "broken",
    ("ml-lww", "linearizable"): "broken",
    ("ml-lww", "durability"): "broken",
    ("ml-lww", "convergence"): "holds",
    ("ml-version-vectors", "durability"): "holds",
    ("ml-version-vectors", "convergence"): "holds",
}

# Where each claim comes from (short keys; docs/explore.md spells the references out).
SOURCES: dict[tuple[str, str], str] = {
    ("lf-sync-leader-reads", "linearizable"): "DDIA 9 (single leader, reads at the leader)",
    ("lf-sync-leader-reads", "read-your-writes"): "implied by linearizability",
    ("lf-sync-leader-reads", "durability"): "DDIA 5 (synchronous followers are up to date)",
    ("lf-sync-leader-reads", "single-leader"): "no failover: the leader never changes",
    ("lf-sync-leader-reads", "convergence"): "DDIA 5 (followers apply the leader's log)",
    ("lf-async-failover", "linearizable"): "DDIA 5/9 (async failover loses acknowledged writes)",
    ("lf-async-failover", "read-your-writes"): "DDIA 5 (failover; reading your own writes)",
    ("lf-async-failover", "durability"): "DDIA 5 (failover discards the old leader's tail)",
    ("lf-async-failover", "single-leader"): "DDIA 5/8 (split brain without fencing)",
    ("lf-async-failover-fencing", "linearizable"): "DDIA 5/9 (fencing does not bring back lost writes)",
    ("lf-async-failover-fencing", "read-your-writes"): "DDIA 5 (async failover loses the session's write)",
    ("lf-async-failover-fencing", "durability"): "DDIA 5 (async failover)",
    (
        "lf-async-failover-fencing",
        "single-leader",
    ): "DDIA 8 (a cut-off leader acks alone; fencing needs a check)",
    ("lf-async-failover-fencing", "convergence"): "DDIA 5 (a deposed leader rejoins as a follower)",
    ("lf-sync-failover-fencing", "linearizable"): "Raft 8 (a deposed leader must not answer reads alone)",
    (
        "lf-sync-failover-fencing",
        "read-your-writes",
    ): "DDIA 5 (every acknowledged write is on the new leader)",
    ("lf-sync-failover-fencing", "durability"): "DDIA 5 (synchronous followers are up to date)",
    ("lf-sync-failover-fencing", "single-leader"): "DDIA 8 (fencing tokens)",
    ("lf-sync-failover-fencing", "convergence"): "DDIA 5",
    ("lf-pin-after-write", "linearizable"): "DDIA 5 (follower reads lag)",
    ("lf-pin-after-write", "read-your-writes"): "DDIA 5 (a time window is not a guarantee)",
    ("lf-pin-after-write", "durability"): "no failover, every append durable",
    ("lf-pin-after-write", "single-leader"): "no failover: the leader never changes",
    ("lf-pin-after-write", "convergence"): "DDIA 5",
    ("lf-wait-for-position", "linearizable"): "DDIA 5 (other sessions' writes may lag)",
    ("lf-wait-for-position", "read-your-writes"): "Terry et al. 1994 (read at or after the write's position)",
    ("lf-wait-for-position", "durability"): "no failover, every append durable",
    ("lf-wait-for-position", "single-leader"): "no failover: the leader never changes",
    ("lf-wait-for-position", "convergence"): "DDIA 5",
    ("leaderless-quorum", "linearizable"): "DDIA 9 (quorums without read repair); ABD 1995",
    ("leaderless-abd", "linearizable"): "ABD 1995 (W + R > N, write-back before answering)",
    ("leaderless-abd", "read-your-writes"): "implied by linearizability",
    ("leaderless-abd", "durability"): "ABD 1995",
    ("leaderless-sloppy", "linearizable"): "Dynamo 2007 (sloppy quorums need not intersect)",
    ("leaderless-sloppy", "read-your-writes"): "Dynamo 2007; DDIA 5 (sloppy quorums)",
    ("ml-lww", "linearizable"): "DDIA 5/9 (multi-leader is not linearizable)",
    ("ml-lww", "durability"): "DDIA 5 (last write wins discards concurrent writes)",
    ("ml-lww", "convergence"): "DDIA 5; Shapiro et al. 2011 (LWW register converges)",
    ("ml-version-vectors", "durability"): "Parker et al. 1983; DDIA 5 (siblings keep every write)",
    ("ml-version-vectors", "convergence"): "Shapiro et al. 2011 (eventual delivery, convergence)",
}


def ci_settings(max_examples: int = 100, steps: int = 30, **overrides: Any) -> settings:
    """Derandomized, no database, no deadline: the same outcome on every run and machine."""
    base: dict[str, Any] = dict(
        max_examples=max_examples,
        stateful_step_count=steps,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )
    base.update(overrides)
    return settings(**base)


@dataclass
class SearchResult:
    """One design against one property: the outcome and, when broken, the counterexample."""

    design: str
    property: str
    outcome: str  # "broken" | "no counterexample" | "unknown" | "not applicable"
    examples: int
    elapsed: float
    counterexample: Counterexample | None = None
    reason: str | None = None
    unknown_examples: int = 0
    seed: int | None = None
    found_after: float | None = None  # seconds to the first (unshrunk) counterexample
    shrink_time: float | None = None  # seconds spent shrinking it
    unshrunk_steps: int | None = None
    steps: int = 0  # the most steps any example took: the bound of a "no counterexample"

    def cell(self) -> str:
        """What the search showed, with its bounds: a random search proves nothing held."""
        if self.outcome == "broken" and self.counterexample is not None:
            return f"BROKEN in {self.counterexample.steps} steps"
        if self.outcome == NO_COUNTEREXAMPLE:
            return f"no counterexample in {self.examples} examples of <= {self.steps} steps"
        if self.outcome == "unknown":
            return (
                f"unknown: the checker could not decide {self.unknown_examples} of {self.examples} "
                f"examples of <= {self.steps} steps"
            )
        return self.outcome

    def to_dict(self) -> dict:
        d: dict = {
            "design": self.design,
            "property": self.property,
            "outcome": self.outcome,
            "cell": self.cell(),
            "search": "random",
            "examples": self.examples,
            "max_steps": self.steps,
            "elapsed": round(self.elapsed, 3),
            "seed": self.seed,
        }
        if self.reason:
            d["reason"] = self.reason
        if self.unknown_examples:
            d["unknown_examples"] = self.unknown_examples
        if self.counterexample is not None:
            d["found_after"] = round(self.found_after or 0.0, 3)
            d["shrink_time"] = round(self.shrink_time or 0.0, 3)
            d["unshrunk_steps"] = self.unshrunk_steps
            d["counterexample"] = self.counterexample.to_dict()
        return d


def explore(
    design: str,
    prop: str,
    *,
    max_examples: int = 200,
    steps: int = 30,
    seed: int = 0,
    derandomize: bool = False,
    sim_seed: int = 0,
    max_ops: int = 6,
    faults: frozenset | None = None,
    on_example: Callable[[int], None] | None = None,
) -> SearchResult:
    """Search ``design`` (a ``replicheck simulate`` configuration, or a name in DESIGNS)
    for a schedule that breaks ``prop``. Raises ConfigError for a design that cannot run
    and ValueError for an unknown property."""
    text = DESIGNS.get(design, design)
    if prop not in PROPERTIES:
        raise ValueError(f"unknown property {prop!r}; choose one of {', '.join(PROPERTIES)}")
    started = time.perf_counter()
    parsed = Design.parse(text)
    why_not = not_applicable(parsed, prop)
    if why_not:
        return SearchResult(text, prop, "not applicable", 0, 0.0, reason=why_not, seed=seed)
    machine = swarm_machine(machine_for(text, prop, seed=sim_seed, max_ops=max_ops, faults=faults))
    tried = [0]
    undecided = [0]
    round_left = [0]

    def started_example(m: SwarmMachine) -> None:
        # Hypothesis may run a few more examples than it counts (duplicates it notices
        # late): past the round's share they run unjudged, so the count is exact.
        if machine.failure_seen:
            return  # Hypothesis replaying the failed example to raise it: judged, not counted
        if round_left[0] <= 0:
            m._skip = True
            return
        round_left[0] -= 1
        tried[0] += 1
        if on_example is not None:
            on_example(tried[0])

    def judged(j: Judgement) -> None:
        if j.holds == "unknown":
            undecided[0] += 1

    machine.on_example = started_example
    machine.on_judgement = judged
    for cap, budget in step_caps(max_examples, steps):
        round_left[0] = budget
        machine.step_cap = cap
        # Hypothesis's own shrinker is thorough but slow on long stateful runs (tens of
        # seconds); the concrete schedule replays in milliseconds, so shrink that instead.
        test = get_state_machine_test(
            machine,
            settings=ci_settings(
                budget, cap, derandomize=derandomize, phases=(Phase.explicit, Phase.reuse, Phase.generate)
            ),
        )
        if not derandomize:
            test = hypothesis_seed(seed)(test)
        try:
            with _draws_from_the_seed_alone():
                test()
        except PropertyViolated as e:
            found = time.perf_counter()
            small = shrink(e.counterexample)
            done = time.perf_counter()
            return SearchResult(
                text,
                prop,
                "broken",
                tried[0],
                done - started,
                counterexample=small,
                seed=seed,
                found_after=found - started,
                shrink_time=done - found,
                unshrunk_steps=e.counterexample.steps,
                steps=steps,
            )
    outcome = "unknown" if undecided[0] else NO_COUNTEREXAMPLE
    return SearchResult(
        text,
        prop,
        outcome,
        tried[0],
        time.perf_counter() - started,
        unknown_examples=undecided[0],
        seed=seed,
        steps=steps,
    )


@contextlib.contextmanager
def _draws_from_the_seed_alone() -> Iterator[None]:
    """Hypothesis mixes literals found in the process's loaded *local* modules into its
    draws (an editable install makes ours local), so one seed drew differently in the CLI,
    under pytest and on a Dask worker. Without them (and with a cache of its own) a seed
    draws the same everywhere.
    Internal API: on a Hypothesis without it, the search runs as it is."""
    try:
        from hypothesis.internal.conjecture import providers

        original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
        empty = type(providers._local_constants)()
        fresh = type(cache)(1024)
    except (ImportError, AttributeError, TypeError):
        yield
        return
    # the cache holds the local constants of whichever test drew first in this process
    providers._get_local_constants, providers.CONSTANTS_CACHE = (lambda: empty), fresh
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = original, cache


SHORT_CAPS = (4, 8, 16)


def step_caps(max_examples: int, steps: int) -> list[tuple[int, int]]:
    """The budget split into rounds of growing step caps: (cap, examples) pairs.

    Each cap gets an equal share (the longest one the remainder): short schedules first,
    because most known counterexamples are a handful of steps and a long schedule buries
    them under steps that heal what the short one broke (time passing replicates a write
    a failover was about to lose).
    """
    caps = [c for c in SHORT_CAPS if c < steps] + [steps]
    weights = [1] * len(caps)
    rounds = [(c, max_examples * w // sum(weights)) for c, w in zip(caps[:-1], weights)]
    rounds = [r for r in rounds if r[1] > 0]
    rounds.append((steps, max_examples - sum(n for _, n in rounds)))
    return rounds


# Swarm testing (Groce et al., ISSTA 2012): each example enables a random subset of the
# fault menu, drawn by Hypothesis from the search's seed. An example without, say, message
# delivery or crashes reaches the states those would have disturbed much more often.
SWARM_KINDS = ("deliver", "drop", "wait", "partition", "crash", "skew", "leader-timeout")


class SwarmMachine(ReplicationMachine):
    """A machine whose every example first draws which fault kinds it may use, with two
    targeted rules: the step pairs most known counterexamples turn on, spelled as
    ordinary schedule steps (so the exhaustive search enumerates them too)."""

    _skip: bool = False  # past the round's budget: run, but neither judge nor count
    failure_seen: ClassVar[bool] = False  # an example of this search broke the property

    def _violated(self, explanation: str, detected_by: str) -> None:
        type(self).failure_seen = True
        super()._violated(explanation, detected_by)

    step_cap: ClassVar[int] = 30  # schedule steps per example, whatever the rules chain

    def __init__(self) -> None:
        super().__init__()
        cluster, cap = self.cluster, type(self).step_cap

        def apply(step: dict) -> None:
            # A targeted rule applies several schedule steps: the cap counts those, so an
            # example never has more steps than the search reports.
            if len(cluster.schedule) < cap:
                SimulatedCluster.apply(cluster, step)

        cluster.apply = apply  # type: ignore[method-assign]

    @initialize(enabled=st.lists(st.booleans(), min_size=len(SWARM_KINDS), max_size=len(SWARM_KINDS)))
    def swarm(self, enabled: list[bool]) -> None:
        chosen = {k for k, on in zip(SWARM_KINDS, enabled) if on}
        # an instance attribute shadows the class's menu for this example only
        menu = frozenset(k for k in type(self).faults if k not in SWARM_KINDS or k in chosen)
        self.faults = menu  # type: ignore[misc]

    def _kinds(self) -> list[str]:
        """The fault kinds this example enabled that can do anything to this design."""
        d = self.cluster.design
        usable = {
            "partition": True,
            "crash": len(self.cluster.replicas) > 1,
            "skew": d.uses_clocks,
            "leader-timeout": d.has_failover,
        }
        # holding the network for a while: replication lag, as a fault
        return [k for k in FAULT_KINDS if usable[k] and self._has(k)] + (
            ["wait"] if self._has("wait") else []
        )

    _targeting: bool = False  # inside a targeted rule's fault: the whole menu applies

    def _has(self, fault: str) -> bool:
        return fault in (type(self).faults if self._targeting else self.faults)

    def _some_fault(self, data: st.DataObject) -> None:
        # The swarm thins out the plain fault and network rules; a targeted rule exists to
        # put a fault at one precise point, so it draws from the design's whole menu (an
        # example whose swarm left out the one fault that matters would waste the rule).
        self._targeting = True
        try:
            kinds = self._kinds()
            if kinds:
                # A promotion is what every leader-based guarantee turns on (a read after
                # it, a write lost in it): where the design has one, it gets half the draws.
                promote = "leader-timeout" in kinds and data.draw(st.booleans())
                kind = "leader-timeout" if promote else data.draw(st.sampled_from(kinds))
                if kind == "wait":
                    self.cluster.apply({"do": "wait", "ms": data.draw(st.sampled_from(WAIT_MS))})
                else:
                    self.fault(kind, data.draw(st.integers(0, 7)), data.draw(st.sampled_from(SKEW_MS)))
        finally:
            self._targeting = False

    @precondition(lambda self: bool(self._idle_writers()))
    @rule(data=st.data(), client=st.integers(0, 7), node=st.integers(0, 7), wait=st.booleans())
    def fault_then_read_back(self, data: st.DataObject, client: int, node: int, wait: bool) -> None:
        """A fault, then at once a client reads after its own write: a read after a
        promotion or a partition, what read-your-writes and linearizability turn on."""
        self._some_fault(data)
        if self._ops_left() and self._idle_writers():
            self.read_back(client, node, wait)

    @precondition(lambda self: self._ops_left())
    @rule(data=st.data(), client=st.integers(0, 7), node=st.integers(0, 7))
    def write_then_fault(self, data: st.DataObject, client: int, node: int) -> None:
        """A write reaches its coordinator and a fault strikes before it replicates: what
        durability and a single leader turn on."""
        self._client_op("write", client, node, False)
        self.cluster.apply({"do": "deliver-client-traffic"})
        self._some_fault(data)

    @precondition(lambda self: self._ops_left() and len(self.cluster.idle_clients()) > 0)
    @rule(
        data=st.data(),
        client=st.integers(0, 7),
        node=st.integers(0, 7),
        wait=st.booleans(),
        fault_first=st.booleans(),
    )
    def write_fault_read_back(
        self, data: st.DataObject, client: int, node: int, wait: bool, fault_first: bool
    ) -> None:
        """One client writes and reads it back, with a fault (or the network held) before
        the write or between the write and the read (before the write replicates): a read
        after a promotion or replication lag, or a deposed leader answering with a write
        it never committed."""
        idle = self.cluster.idle_clients()
        who = idle[client % len(idle)]
        if fault_first:
            self._some_fault(data)
            self._apply_op({"do": "write", "client": who}, node, True)
        else:
            self._apply_op({"do": "write", "client": who}, node, False)
            self.cluster.apply({"do": "deliver-client-traffic"})
            self._some_fault(data)
        if self._ops_left() and who in self.cluster.idle_clients():
            self._apply_op({"do": "read", "client": who}, node, wait)
            if not wait:
                # answered before replication catches up (settling would deliver in order)
                self.cluster.apply({"do": "deliver-client-traffic"})

    @precondition(lambda self: self._ops_left() and len(self.cluster.idle_clients()) > 1)
    @rule(
        data=st.data(),
        client=st.integers(0, 7),
        nodes=st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 7)),
        fault_first=st.booleans(),
        settle=st.booleans(),
        across=st.booleans(),
    )
    def write_fault_two_reads(
        self,
        data: st.DataObject,
        client: int,
        nodes: tuple[int, int, int],
        fault_first: bool,
        settle: bool,
        across: bool,
    ) -> None:
        """A write and a fault, then the writer and another client each read, at nodes
        drawn apart from the write's: what a read at the far side of a cut turns on.

        Fault first, the write is awaited: at a leader cut off from its followers it times
        out, yet the leader may have applied it and answer the writer's read with it while
        another client reads the new leader without it. Write first, the fault strikes
        while it is in flight (a node cut off before it replicates there). With ``settle``
        the network runs for a while after the fault and after each read (the write lands
        on whichever nodes, fallbacks included, it can reach; a read at the cut node
        answers from its side alone), else only client traffic moves (replication stays
        behind the reads). With ``across`` and a partition, the reads go to nodes on the
        other side from the write's.
        """
        idle = self.cluster.idle_clients()
        who = idle[client % len(idle)]
        at_write, at_read, at_other = nodes
        ms = data.draw(st.sampled_from(WAIT_MS)) if settle else 0

        def between() -> None:
            self.cluster.apply({"do": "run", "ms": ms} if settle else {"do": "deliver-client-traffic"})

        if fault_first:
            self._some_fault(data)
            self._apply_op({"do": "write", "client": who}, at_write, True)
        else:
            self._apply_op({"do": "write", "client": who}, at_write, False)
            self.cluster.apply({"do": "deliver-client-traffic"})
            self._some_fault(data)
            if settle:
                between()
        if across:
            at_read, at_other = self._across(at_write, at_read), self._across(at_write, at_other)
        for reader, at in ((who, at_read), (None, at_other)):
            if reader is None:
                others = [c for c in self.cluster.idle_clients() if c != who]
                if not others:
                    return
                reader = others[client % len(others)]
            if not self._ops_left() or reader not in self.cluster.idle_clients():
                return
            self._apply_op({"do": "read", "client": reader}, at, False)
            between()

    def _across(self, at_write: int, at: int) -> int:
        """The replica index ``at`` picks among those a partition holds apart from replica
        ``at_write`` (``at`` itself when nothing is cut off)."""
        group, replicas = self.cluster.sim._group, self.cluster.replicas
        home = group.get(replicas[at_write % len(replicas)])
        far = [i for i, r in enumerate(replicas) if group and group.get(r) != home]
        return far[at % len(far)] if far else at

    def teardown(self) -> None:
        if not self._skip:
            super().teardown()


def swarm_machine(machine: type[ReplicationMachine]) -> type[SwarmMachine]:
    """``machine`` with swarm testing: the same rules, a fault menu drawn per example."""
    return type(machine.__name__, (SwarmMachine, machine), {})


def shrink(cx: Counterexample) -> Counterexample:
    """Remove steps while the property still breaks: one step at a time, to a fixpoint.

    The result is 1-minimal (no single step can go). Steps that no longer apply once an
    earlier one is gone (a message id that was never sent) make a candidate fail to
    replay, and it is simply not taken.
    """
    best = cx
    changed = True
    while changed:
        changed = False
        for i in range(len(best.schedule)):
            candidate = best.schedule[:i] + best.schedule[i + 1 :]
            found = _still_broken(best, candidate)
            if found is not None:
                best, changed = found, True
                break
    return best


def _still_broken(cx: Counterexample, schedule: list[dict]) -> Counterexample | None:
    meta = {**cx.meta()["explore"], "schedule": schedule}
    try:
        r = replay_counterexample(meta)
    except ConfigError:
        return None
    if r.judgement is None or r.judgement.holds is not False:
        return None
    c = r.cluster
    return Counterexample(
        design=cx.design,
        property=cx.property,
        seed=cx.seed,
        schedule=list(c.schedule),
        narration=list(c.narration),
        events=list(c.events),
        explanation=r.judgement.explanation,
        settled=cx.settled,
        audit=cx.audit,
        detected_by=cx.detected_by,
    )


@dataclass
class Replayed:
    """A schedule rerun outside Hypothesis: the cluster and the property's verdict on it."""

    cluster: SimulatedCluster
    judgement: Judgement | None

    @property
    def events(self) -> list[dict]:
        return self.cluster.events


def replay_counterexample(explore_meta: dict) -> Replayed:
    """Rerun the ``explore`` part of a counterexample's metadata line, exactly.

    A run cut short by an invariant is replayed without settling and judged by the same
    invariant; otherwise the run settles as in the search and the property is judged.
    """
    for k in ("design", "property", "seed", "schedule"):
        if k not in explore_meta:
            raise ConfigError(
                f"the metadata line has no explore.{k}: was this file written by replicheck explore?"
            )
    prop = explore_meta["property"]
    if prop not in PROPERTIES:
        raise ConfigError(f"unknown property {prop!r} in the metadata line")
    settled = explore_meta.get("settled", True)
    cluster = SimulatedCluster(explore_meta["design"], int(explore_meta["seed"]))
    for step in explore_meta["schedule"]:
        cluster.apply(step)
    judgement = None
    if settled:
        cluster.finish(audit=bool(explore_meta.get("audit", prop in NEEDS_AUDIT)))
        judgement = judge(cluster, prop)
    else:
        from .machines import deposed_leader_acks, leaders_sharing_an_epoch

        bad = (
            deposed_leader_acks(cluster.acks)
            if explore_meta.get("detected_by") == "no_write_acknowledged_by_a_deposed_leader"
            else leaders_sharing_an_epoch(cluster)
        )
        judgement = Judgement(prop, bad is None, bad or "the invariant holds on replay")
    return Replayed(cluster, judgement)


@dataclass
class Cell:
    """One matrix cell: the exhaustive search to the depth its budget reached, then the
    random search beyond (unless the exhaustive one already broke the property)."""

    name: str
    design: str
    property: str
    exhaustive: Any  # ExhaustiveResult
    random: SearchResult | None
    claim: str | None = None
    source: str | None = None

    @builtins.property
    def counterexample(self) -> Counterexample | None:
        if self.exhaustive.counterexample is not None:
            return self.exhaustive.counterexample
        return self.random.counterexample if self.random is not None else None

    @builtins.property
    def outcome(self) -> str:
        """broken, holds (no counterexample within the bounds), unknown or not applicable."""
        if self.exhaustive.outcome == "not applicable":
            return "not applicable"
        if self.counterexample is not None:
            return "broken"
        if self.exhaustive.undecided or (self.random is not None and self.random.outcome == "unknown"):
            return "unknown"
        return "holds"

    @builtins.property
    def agrees(self) -> bool | None:
        """None where there is no claim or the search could not decide."""
        if self.claim is None or self.outcome in ("unknown", "not applicable"):
            return None
        return self.claim == self.outcome

    def cell(self) -> str:
        ex, rnd = self.exhaustive, self.random
        if ex.outcome == "not applicable":
            return "not applicable"
        if ex.counterexample is not None:
            return ex.cell()
        bound = f"holds <= {ex.complete_depth} steps ({ex.states:,} states)" if ex.complete_depth > 0 else ""
        if rnd is not None and rnd.counterexample is not None:
            return rnd.cell() + " (random)" + (f"; {bound}" if bound else "")
        parts = [bound] if bound else []
        if ex.undecided:
            parts = [ex.cell()]
        if rnd is not None:
            parts.append(rnd.cell())
        return "; ".join(parts)

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "design": self.design,
            "property": self.property,
            "outcome": self.outcome,
            "cell": self.cell(),
            "claim": self.claim,
            "source": self.source,
            "agrees": self.agrees,
            "exhaustive": self.exhaustive.to_dict(),
            "random": self.random.to_dict() if self.random is not None else None,
        }
        return d


def run_cell(
    name: str,
    text: str,
    prop: str,
    *,
    seconds: float = 20.0,
    max_depth: int = 8,
    max_examples: int = 300,
    steps: int = 30,
    seed: int = 0,
    derandomize: bool = False,
) -> Cell:
    """One cell: the exhaustive search for ``seconds`` (at most ``max_depth`` steps),
    then, unless it broke the property, the random search for longer schedules."""
    from .exhaustive import exhaustive

    ex = exhaustive(text, prop, depth=max_depth, timeout=seconds)
    rnd = None
    if ex.outcome not in ("broken", "not applicable"):
        rnd = explore(text, prop, max_examples=max_examples, steps=steps, seed=seed, derandomize=derandomize)
    return Cell(name, text, prop, ex, rnd, CLAIMS.get((name, prop)), SOURCES.get((name, prop)))


def matrix(
    designs: dict[str, str] | None = None,
    properties: tuple[str, ...] = PROPERTIES,
    *,
    seconds: float = 20.0,
    max_depth: int = 8,
    max_examples: int = 300,
    steps: int = 30,
    seed: int = 0,
    derandomize: bool = True,
    on_cell: Callable[[str, str, Cell], None] | None = None,
) -> list[Cell]:
    """Every design against every property; ``on_cell`` hears each cell as it lands.

    The same budget for every cell, whatever the field claims: the claims are compared
    with the results, never used to steer the search.
    """
    results = []
    for name, text in (designs or DESIGNS).items():
        for prop in properties:
            c = run_cell(
                name,
                text,
                prop,
                seconds=seconds,
                max_depth=max_depth,
                max_examples=max_examples,
                steps=steps,
                seed=seed,
                derandomize=derandomize,
            )
            results.append(c)
            if on_cell is not None:
                on_cell(name, prop, c)
    return results
