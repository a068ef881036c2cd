"""Bounded exhaustive exploration: every schedule of a design up to a depth, breadth first.

    from replicheck.model.exhaustive import exhaustive
    r = exhaustive("lf-async-failover", "read-your-writes", depth=4)
    r.outcome        # "broken", "holds", "unknown" or "not applicable"
    r.sentence()     # "BROKEN in 3 steps" / "holds for every schedule of <= 4 steps (...)"

A *state* is a simulated cluster after some schedule; its successors are the steps the
Hypothesis state machine (:class:`~replicheck.model.machines.ReplicationMachine`) could
take there, spelled as the same plain schedule steps (:mod:`~replicheck.model.schedules`),
so a counterexample found here replays through ``replicheck explore --replay`` and is
judged by ``replicheck check`` like one the random search found. Each state reached is
judged as the machine judges a run that stops there: the invariants at once, the
property after healing, restarting and settling a copy.

Breadth first: every schedule of d steps is judged before any of d + 1, so the first
counterexample is a shortest one. Two reductions keep the search small, both sound for
the verdict (docs/explore.md says what they do not reduce):

- *State hashing*: a state is fingerprinted by everything its future and its verdict
  depend on (every node's memory, the pending messages in send order, the timers in firing
  order, the clock, the random source, the client history and acknowledgements) with the
  bookkeeping that only names things left out (message ids, sequence numbers, the
  schedule itself). A state seen before, at the same or a smaller depth, is not expanded
  again: its schedules were or will be.
- *Client symmetry*: clients that have never issued an operation and that the topology
  set up alike (the same session) are interchangeable; only the first of them is offered
  a first operation. Swapping two such clients' names in a schedule gives the same
  history up to renaming processes, which no property looks at.

A budget (seconds, states) that runs out gives "unknown" with the deepest depth whose
schedules were all judged: never "holds".

Each level runs as a batch of tasks on :mod:`replicheck.engine` (in this process unless
``layout`` says otherwise); the result is the same on every layout (see "the search"
below, and docs/distributed.md).
"""

from __future__ import annotations

import array
import copyreg
import hashlib
import io
import pickle
import random
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from replicheck.engine import Layout, Session

from .config import ConfigError
from .designs import DESIGNS, not_applicable
from .machines import (
    NEEDS_AUDIT,
    PROPERTIES,
    SINGLE_LEADER,
    Counterexample,
    ReplicationMachine,
    deposed_leader_acks,
    judge,
    leaders_sharing_an_epoch,
)
from .schedules import SKEW_MS, WAIT_MS, Design, SimulatedCluster

__all__ = ["ExhaustiveResult", "clone", "enabled_steps", "exhaustive", "fingerprint"]

DEFAULT_MAX_STATES = 200_000
FULL_MENU = ReplicationMachine.faults


@dataclass
class ExhaustiveResult:
    """Every schedule of ``design`` up to ``depth`` steps, judged against ``property``.

    ``complete_depth``: the deepest d whose every schedule was judged (== depth when the
    search finished). ``states``: distinct states judged (the root included);
    ``transitions``: steps applied, revisits included.
    """

    design: str
    property: str
    outcome: str  # "broken" | "holds" | "unknown" | "not applicable"
    depth: int
    complete_depth: int
    states: int
    transitions: int
    elapsed: float
    counterexample: Counterexample | None = None
    reason: str | None = None
    undecided: int = 0
    symmetry: bool = True
    per_depth: list[int] = field(default_factory=list)  # new distinct states at each depth

    def cell(self) -> str:
        """Short, for a table cell."""
        if self.outcome == "broken" and self.counterexample is not None:
            return f"BROKEN in {self.counterexample.steps} steps"
        if self.outcome == "holds":
            return f"holds <= {self.depth} steps ({self.states:,} states)"
        if self.outcome == "unknown":
            if self.undecided:
                return f"unknown: {self.undecided} of {self.states:,} states undecided"
            return (
                f"unknown: all schedules to depth {self.complete_depth} < {self.depth} "
                f"({self.states:,} states)"
            )
        return self.outcome

    def sentence(self) -> str:
        """One line for people: what was shown, with its bound."""
        t = f"{self.elapsed:.1f} s"
        if self.outcome == "broken" and self.counterexample is not None:
            n = self.counterexample.steps
            return (
                f"BROKEN in {n} step{'s' if n != 1 else ''}: the shortest counterexample "
                f"(every schedule of <= {n - 1} steps holds; {self.states:,} distinct states, {t})"
            )
        if self.outcome == "holds":
            return (
                f"holds for every schedule of <= {self.depth} steps "
                f"({self.states:,} distinct states, {self.transitions:,} transitions, {t})"
            )
        if self.outcome == "unknown":
            if self.undecided:
                return (
                    f"unknown: the checker could not decide {self.undecided} of {self.states:,} states "
                    f"(schedules of <= {self.complete_depth} steps, {t})"
                )
            return (
                f"unknown: explored all schedules to depth {self.complete_depth} < {self.depth} "
                f"({self.states:,} states, {t}; {self.reason})"
            )
        return f"not applicable: {self.reason}"

    def to_dict(self) -> dict:
        d: dict = {
            "design": self.design,
            "property": self.property,
            "search": "exhaustive",
            "outcome": self.outcome,
            "cell": self.cell(),
            "summary": self.sentence(),
            "depth": self.depth,
            "complete_depth": self.complete_depth,
            "states": self.states,
            "transitions": self.transitions,
            "states_per_depth": self.per_depth,
            "elapsed": round(self.elapsed, 3),
            "symmetry": self.symmetry,
        }
        if self.reason:
            d["reason"] = self.reason
        if self.undecided:
            d["undecided"] = self.undecided
        if self.counterexample is not None:
            d["counterexample"] = self.counterexample.to_dict()
        return d


# ---------------------------------------------------------------- the steps from a state


def _ops_left(c: SimulatedCluster, max_ops: int) -> bool:
    return c.operations < max_ops and bool(c.idle_clients())


def _fresh(client: Any) -> bool:
    return client.op_no == 0 and client.current is None


def enabled_steps(
    c: SimulatedCluster, *, max_ops: int = 6, faults: frozenset = FULL_MENU, symmetry: bool = True
) -> list[dict]:
    """Every step the state machine could take from ``c``, as schedule steps.

    The same menu as :class:`ReplicationMachine`'s rules, with each of its draws spelled
    out: so any schedule the random search can produce is one this search enumerates.
    """
    out: list[dict] = []
    d = c.design
    if _ops_left(c, max_ops):
        seen_fresh: set[str] = set()
        for cid in c.idle_clients():
            client = c.clients[cid]
            if symmetry and _fresh(client):
                key = repr(sorted(client.session.items()))
                if key in seen_fresh:
                    continue
                seen_fresh.add(key)
            nodes: list[str | None] = list(c.replicas) if d.client_picks_node else [None]
            for f in ("write", "read"):
                for wait in (False, True):
                    for node in nodes:
                        step: dict = {"do": f, "client": cid}
                        if wait:
                            step["await"] = True
                        if node is not None:
                            step["node"] = node
                        out.append(step)
    pending = c.pending()
    for m in pending:
        if "deliver" in faults:
            out.append({"do": "deliver", "message": m.id})
        if "drop" in faults:
            out.append({"do": "drop", "message": m.id})
    if pending:
        out.append({"do": "deliver-client-traffic"})
    for ms in WAIT_MS:
        out.append({"do": "run", "ms": ms})
        if "wait" in faults:
            out.append({"do": "wait", "ms": ms})
    if "partition" in faults:
        if c.sim._group:
            out.append({"do": "heal"})
        else:
            preferred = [n for n in c.replicas if not n.startswith("f")]
            fallbacks = [n for n in c.replicas if n.startswith("f")]
            cuts: list[list[str]] = []
            for k in range(2 * len(preferred)):
                cut = [preferred[k % len(preferred)]] + (fallbacks if (k // len(preferred)) % 2 else [])
                if cut not in cuts:
                    cuts.append(cut)
            for cut in cuts:
                rest = [n for n in c.protocol.node_ids if n not in cut]
                out.append({"do": "partition", "groups": [cut, rest]})
    if "crash" in faults:
        down = c.down()
        if down:
            out.extend({"do": "restart", "node": n} for n in down)
        elif len(c.replicas) > 1:
            out.extend({"do": "crash", "node": n} for n in c.replicas)
    if "skew" in faults and d.uses_clocks:
        out.extend({"do": "skew", "node": n, "ms": ms} for n in c.replicas for ms in SKEW_MS)
    if "leader-timeout" in faults and d.has_failover and c.leader() not in c.down() and not c.sim._group:
        out.extend({"do": "leader-timeout", "how": h} for h in ("crash", "isolate"))
    return out


# ---------------------------------------------------------------- fingerprints


def clone(c: SimulatedCluster) -> SimulatedCluster:
    """An independent copy of ``c`` (the design, immutable, is shared).

    A pickle round trip: several times faster than copy.deepcopy on these object graphs.
    """
    return _loads(_dumps(c), c.design)


_WORD = "I" if array.array("I").itemsize >= 4 else "L"  # holds a 32-bit word


def _random_from(version: int, words: bytes, gauss: float | None) -> random.Random:
    r = random.Random.__new__(random.Random)  # not Random(): that would seed from the OS
    r.setstate((version, tuple(array.array(_WORD, words)), gauss))
    return r


def _reduce_random(r: random.Random) -> tuple:
    # The Mersenne Twister's 625 words are two thirds of a state's pickle as 625 ints, and
    # most of the time to load it; as one blob of bytes they copy in one go. Exact either
    # way, so fingerprints tell the same states apart.
    version, words, gauss = r.getstate()
    return _random_from, (version, array.array(_WORD, words).tobytes(), gauss)


_DISPATCH = {**copyreg.dispatch_table, random.Random: _reduce_random}


def _pickle(obj: Any) -> bytes:
    buf = io.BytesIO()
    p = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    p.dispatch_table = _DISPATCH
    p.dump(obj)
    return buf.getvalue()


def _dumps(c: SimulatedCluster) -> bytes:
    design = c.design
    c.design = None  # type: ignore[assignment]  # immutable and large: shared, not copied
    try:
        return _pickle(c)
    finally:
        c.design = design


def _loads(data: bytes, design: Design) -> SimulatedCluster:
    c = pickle.loads(data)
    c.design = design
    return c


def fingerprint(c: SimulatedCluster) -> bytes:
    """A digest equal for two states with the same future and the same verdict.

    The state is pickled whole, with the bookkeeping that only names things swapped for
    constants for the duration: message ids become ranks in send order, timer sequence
    numbers ranks in firing order, and the schedule, its narration, the simulator's
    counters and its fault log (already copied into the history) are left out.
    """
    sim = c.sim
    ids = sorted(sim.in_flight)
    msgs = [sim.in_flight[k] for k in ids]
    queue = sim._queue
    saved_c = (c.design, c.schedule, c.narration, c._faults_seen)
    saved_sim = (sim.stats, sim._seq, sim._next_msg, sim.faults, sim.in_flight)
    try:
        c.design, c.schedule, c.narration, c._faults_seen = None, [], [], 0  # type: ignore[assignment]
        sim.stats, sim._seq, sim._next_msg, sim.faults = {}, 0, 0, []
        for rank, m in enumerate(msgs):
            m.id = rank
        sim.in_flight = dict(enumerate(msgs))
        sim._queue = [(t, rank, fn, arg) for rank, (t, _, fn, arg) in enumerate(sorted(queue, key=_when))]
        data = _pickle(c)
    finally:
        c.design, c.schedule, c.narration, c._faults_seen = saved_c
        sim.stats, sim._seq, sim._next_msg, sim.faults, sim.in_flight = saved_sim
        sim._queue = queue
        for k, m in zip(ids, msgs):
            m.id = k
    return hashlib.blake2b(data, digest_size=16).digest()


def _when(entry: tuple) -> tuple[int, int]:
    return entry[0], entry[1]


# ---------------------------------------------------------------- judging one state


def _counterexample(
    c: SimulatedCluster, prop: str, explanation: str, detected_by: str, schedule: list[dict]
) -> Counterexample:
    return Counterexample(
        design=c.design.text,
        property=prop,
        seed=c.seed,
        schedule=[dict(s) for s in schedule],
        narration=list(c.narration),
        events=list(c.events),
        explanation=explanation,
        settled=c.finished,
        audit=prop in NEEDS_AUDIT,
        detected_by=detected_by,
    )


def judge_state(
    c: SimulatedCluster, prop: str, *, in_place: bool = False
) -> tuple[bool | str | None, Counterexample | None]:
    """Judge a run that stops at ``c`` as the state machine would: (holds, counterexample).

    Settling changes the cluster, so it happens on a copy unless ``in_place`` (a state
    that will not be expanded)."""
    if c.design.leader_based:
        bad = leaders_sharing_an_epoch(c)
        if bad:
            return False, _counterexample(c, prop, bad, "at_most_one_leader_per_epoch", c.schedule)
        if prop == SINGLE_LEADER:
            bad = deposed_leader_acks(c.acks)
            if bad:
                how = "no_write_acknowledged_by_a_deposed_leader"
                return False, _counterexample(c, prop, bad, how, c.schedule)
    if c._next_value == 0:
        # No write was ever invoked: every read returns nothing, nothing was acknowledged,
        # every replica is empty. No property can fail on such a run.
        return True, None
    schedule = list(c.schedule)
    done = c if in_place else clone(c)
    done.finish(audit=prop in NEEDS_AUDIT)
    j = judge(done, prop)
    if j.holds is False:
        return False, _counterexample(done, prop, j.explanation, "teardown", schedule)
    return j.holds, None


# ---------------------------------------------------------------- the search
#
# Level by level: the states of depth d - 1 (the frontier, each kept as its pickle, in the
# order the one-by-one search meets them) are cut into chunks, and each chunk is one task
# that applies every enabled step to each of its states, skips what an earlier level saw,
# and judges the rest. Chunks are contiguous runs of the frontier, so merging them in
# chunk order keeps that order, and keeping the first of several equal fingerprints keeps
# the one the one-by-one search would have met first. The chunking depends on the
# frontier alone, never on the layout, so every layout reports the same states, counts
# and counterexample.

CHUNKS = 64  # tasks per level: enough to spread over a few dozen workers, each still long


@dataclass
class _Child:
    fp: bytes | None  # None without hashing: every schedule its own state
    state: bytes | None  # its pickle, when a deeper level will expand it
    undecided: bool


@dataclass
class _Part:
    """What one chunk's task found: its new states in path order, and where it stopped."""

    children: list[_Child]
    transitions: int
    counterexample: Counterexample | None = None
    reason: str | None = None  # "time" or "cap": a budget ran out before the chunk was done


@dataclass(frozen=True)
class _Search:
    """Everything a level's task needs besides its chunk (sent to every worker once)."""

    text: str
    prop: str
    sim_seed: int
    max_ops: int
    faults: frozenset
    symmetry: bool
    hashing: bool
    seen: AbstractSet[bytes]  # fingerprints of every earlier level's states (read only)
    last: bool  # the bound's depth: judge in place, keep no pickles
    deadline: float | None  # time.time(), so a worker on this machine or another can read it
    cap: int  # new states one task may add before the state cap counts as reached


def expand_chunk(search: _Search, chunk: list[bytes]) -> _Part:
    """One task: every step from every state of ``chunk``, the new states judged.

    Stops at the chunk's first counterexample (its later states come after it in search
    order, so cannot be the first). Module-level so a worker imports it by name."""
    design = Design.parse(search.text)
    menu, prop = search.faults, search.prop
    part = _Part([], 0)
    mine: set[bytes] = set()
    new = 0
    for data in chunk:
        parent = _loads(data, design)
        steps = enabled_steps(parent, max_ops=search.max_ops, faults=menu, symmetry=search.symmetry)
        for index, step in enumerate(steps):
            if search.deadline is not None and time.time() > search.deadline:
                part.reason = "time"
                return part
            if new >= search.cap:
                part.reason = "cap"
                return part
            child = parent if index == len(steps) - 1 else _loads(data, design)
            try:
                child.apply(step)
            except ConfigError:
                continue  # a step that names nothing real here: the machine never draws it
            part.transitions += 1
            fp = None
            if search.hashing:
                fp = fingerprint(child)
                if fp in search.seen or fp in mine:
                    continue
                mine.add(fp)
            new += 1
            pickled = None if search.last else _dumps(child)
            if pickled is not None:
                # the copy that settles, from the pickle this level keeps anyway
                holds, cx = judge_state(_loads(pickled, design), prop, in_place=True)
            else:
                holds, cx = judge_state(child, prop, in_place=True)
            part.children.append(_Child(fp, pickled, holds == "unknown"))
            if cx is not None:
                part.counterexample = cx
                return part
    return part


def _chunks(frontier: list[bytes]) -> list[tuple]:
    n = min(CHUNKS, len(frontier))
    bounds = [len(frontier) * t // n for t in range(n + 1)]
    return [(frontier[a:b],) for a, b in zip(bounds, bounds[1:])]


def _stops(part: _Part) -> bool:
    return part.counterexample is not None or part.reason is not None


def exhaustive(
    design: str,
    prop: str,
    *,
    depth: int,
    timeout: float | None = None,
    max_states: int = DEFAULT_MAX_STATES,
    sim_seed: int = 0,
    max_ops: int = 6,
    faults: frozenset | None = None,
    symmetry: bool = True,
    hashing: bool = True,
    on_depth: Callable[[int, int], None] | None = None,
    layout: Layout | None = None,
) -> ExhaustiveResult:
    """Judge every schedule of ``design`` of at most ``depth`` steps against ``prop``.

    ``timeout`` (seconds) and ``max_states`` bound the work; when either runs out the
    outcome is "unknown" with the deepest fully explored depth. ``on_depth(d, states)``
    hears each depth as it completes. ``layout`` (:class:`replicheck.engine.Layout`) runs
    each level's chunks in this process (the default), on a local Dask cluster or on a
    remote scheduler; the result is the same on every layout. Raises ConfigError for a
    design that cannot run and ValueError for an unknown property.
    """
    text = DESIGNS.get(design, design)
    if prop not in PROPERTIES:
        raise ValueError(f"unknown property {prop!r}; choose one of {', '.join(PROPERTIES)}")
    if depth < 0:
        raise ValueError("depth must be at least 0")
    started = time.perf_counter()
    parsed = Design.parse(text)
    why_not = not_applicable(parsed, prop)
    if why_not:
        return ExhaustiveResult(text, prop, "not applicable", depth, depth, 0, 0, 0.0, reason=why_not)
    menu = frozenset(faults) if faults is not None else FULL_MENU
    deadline = None if timeout is None else time.time() + timeout
    root = SimulatedCluster(parsed, sim_seed)
    seen: set[bytes] = {fingerprint(root)}
    states = 1
    per_depth = [1]
    transitions = 0
    undecided = 0

    def result(outcome: str, complete: int, **kw: Any) -> ExhaustiveResult:
        return ExhaustiveResult(
            text,
            prop,
            outcome,
            depth,
            complete,
            states,
            transitions,
            time.perf_counter() - started,
            undecided=undecided,
            symmetry=symmetry,
            per_depth=list(per_depth),
            **kw,
        )

    holds, cx = judge_state(root, prop)
    if cx is not None:
        return result("broken", 0, counterexample=cx)
    undecided += holds == "unknown"
    frontier = [_dumps(root)]
    with Session(layout or Layout()) as session:
        for d in range(1, depth + 1):
            search = _Search(
                text, prop, sim_seed, max_ops, menu, symmetry, hashing, seen, d == depth,
                deadline, max(max_states - states, 1),
            )  # fmt: skip
            parts = session.run(expand_chunk, _chunks(frontier), shared=search, stop=_stops).ordered
            frontier = []
            fresh = 0
            for part in parts:
                transitions += part.transitions
                for child in part.children:
                    if child.fp is not None:
                        if child.fp in seen:
                            continue  # met first in an earlier chunk of this level
                        seen.add(child.fp)
                    fresh += 1
                    undecided += child.undecided
                    if child.state is not None:
                        frontier.append(child.state)
            states += fresh
            per_depth.append(fresh)
            last = parts[-1] if parts else None
            if last is not None and last.counterexample is not None:
                return result("broken", d - 1, counterexample=last.counterexample)
            if last is not None and last.reason == "time":
                return result("unknown", d - 1, reason=f"the {timeout:g} s budget ran out at depth {d}")
            if (last is not None and last.reason == "cap") or states > max_states:
                return result("unknown", d - 1, reason=f"the cap of {max_states:,} states was reached")
            if on_depth is not None:
                on_depth(d, states)
            if not frontier and d < depth:
                # nothing new can happen: deeper schedules only revisit these states
                per_depth.extend([0] * (depth - d))
                break
    return result("unknown" if undecided else "holds", depth)
