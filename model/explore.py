"""Search replication designs for the schedule that breaks a guarantee.

    from replicheck.model.explore import explore
    result = explore("leader-follower --replication async --failover auto", "durability")
    result.outcome                      # "broken", "held", "unknown" or "not applicable"
    result.counterexample.narration     # the shrunk schedule, one sentence per step
    result.to_dict()                    # plain data

The search is Hypothesis's: a :class:`~replicheck.model.machines.ReplicationMachine` for
the design and property, run for ``max_examples`` examples of up to ``steps`` steps,
shrunk on failure. ``seed`` fixes Hypothesis's choices and ``derandomize`` derives them
from the test itself (the CI profile), so the same call finds the same counterexample.
A counterexample replays outside Hypothesis with :func:`replay_counterexample`: the schedule applied to
a fresh simulator gives the same history, byte for byte.

:data:`DESIGNS` names the designs the claims matrix covers and :data:`CLAIMS` what the
field knows about them; :func:`matrix` runs every design against every property.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import get_state_machine_test

from .config import ConfigError
from .machines import (
    NEEDS_AUDIT,
    PROPERTIES,
    Counterexample,
    Judgement,
    PropertyViolated,
    ReplicationMachine,
    judge,
    machine_for,
)
from .schedules import Design, SimulatedCluster

__all__ = [
    "CLAIMS",
    "DESIGNS",
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
]

DESIGNS: dict[str, str] = {
    "lf-sync-leader-reads": "leader-follower --replication sync --reads leader",
    "lf-async-failover": "leader-follower --replication async --failover auto --stale-clients 1",
    "lf-async-failover-fencing": (
        "leader-follower --replication async --failover auto --fencing --stale-clients 1"
    ),
    "lf-sync-failover-fencing": (
        "leader-follower --replication sync --failover auto --fencing --stale-clients 1"
    ),
    "lf-pin-after-write": "leader-follower --replication async --reads pin-after-write:20",
    "lf-wait-for-position": "leader-follower --replication async --reads wait-for-position",
    "leaderless-quorum": "leaderless --nodes 3 -w 2 -r 2 --read-repair none",
    "leaderless-abd": "leaderless --nodes 3 -w 2 -r 2 --read-repair blocking",
    "leaderless-sloppy": "leaderless --nodes 3 -w 2 -r 2 --read-repair blocking --sloppy",
    "ml-lww": "multi-leader --nodes 2 --conflict lww",
    "ml-version-vectors": "multi-leader --nodes 2 --conflict version-vectors",
}

# What the field knows, as (design, property) -> "broken" | "held". The matrix marks each
# cell that disagrees; the tests assert these.
CLAIMS: dict[tuple[str, str], str] = {
    ("lf-sync-leader-reads", "linearizable"): "held",
    ("lf-async-failover", "durability"): "broken",
    ("lf-async-failover", "single-leader"): "broken",
    ("lf-sync-failover-fencing", "single-leader"): "held",
    ("lf-sync-failover-fencing", "durability"): "held",
    ("lf-pin-after-write", "read-your-writes"): "broken",
    ("lf-wait-for-position", "read-your-writes"): "held",
    ("leaderless-quorum", "linearizable"): "broken",
    ("leaderless-abd", "linearizable"): "held",
    # W + R > N and ABD, yet stale: the write landed on a fallback the read never asks
    ("leaderless-sloppy", "linearizable"): "broken",
    ("ml-lww", "durability"): "broken",
    ("ml-version-vectors", "durability"): "held",
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
    outcome: str  # "broken" | "held" | "unknown" | "not applicable"
    examples: int
    elapsed: float
    counterexample: Counterexample | None = None
    reason: str | None = None
    unknown_examples: int = 0
    seed: int | None = None
    found_after: float | None = None  # seconds to the first (unshrunk) counterexample
    shrink_time: float | None = None  # seconds spent shrinking it
    unshrunk_steps: int | None = None

    def cell(self) -> str:
        if self.outcome == "broken" and self.counterexample is not None:
            return f"broken in {self.counterexample.steps} steps"
        if self.outcome == "held":
            return f"held for {self.examples} examples"
        if self.outcome == "unknown":
            return f"unknown ({self.unknown_examples} of {self.examples} undecided)"
        return self.outcome

    def to_dict(self) -> dict:
        d: dict = {
            "design": self.design,
            "property": self.property,
            "outcome": self.outcome,
            "cell": self.cell(),
            "examples": self.examples,
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


def not_applicable(design: Design, prop: str) -> str | None:
    """Why ``prop`` says nothing about ``design``, or None when it does."""
    if prop == "single-leader" and not design.leader_based:
        return f"{design.topology} has no single leader"
    return design.kind.not_applicable(design.protocol, prop)


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
    machine = machine_for(text, prop, seed=sim_seed, max_ops=max_ops, faults=faults)
    tried = [0]
    undecided = [0]

    def started_example(m: ReplicationMachine) -> None:
        tried[0] += 1
        if on_example is not None:
            on_example(tried[0])

    def judged(j: Judgement) -> None:
        if j.holds == "unknown":
            undecided[0] += 1

    machine.on_example = started_example
    machine.on_judgement = judged
    # Hypothesis's own shrinker is thorough but slow on long stateful runs (tens of
    # seconds); the concrete schedule replays in milliseconds, so shrink that instead.
    test = get_state_machine_test(
        machine,
        settings=ci_settings(
            max_examples, steps, derandomize=derandomize, phases=(Phase.explicit, Phase.reuse, Phase.generate)
        ),
    )
    if not derandomize:
        test = hypothesis_seed(seed)(test)
    try:
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
        )
    outcome = "unknown" if undecided[0] else "held"
    return SearchResult(
        text, prop, outcome, tried[0], time.perf_counter() - started, unknown_examples=undecided[0], seed=seed
    )


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


ESCALATE = 5  # budget multiplier for cells the field claims are broken


def matrix(
    designs: dict[str, str] | None = None,
    properties: tuple[str, ...] = PROPERTIES,
    *,
    max_examples: int = 100,
    steps: int = 20,
    seed: int = 0,
    derandomize: bool = True,
    on_cell: Callable[[str, str, SearchResult], None] | None = None,
) -> list[SearchResult]:
    """Every design against every property; ``on_cell`` hears each result as it lands."""
    results = []
    for name, text in (designs or DESIGNS).items():
        for prop in properties:
            r = explore(
                text, prop, max_examples=max_examples, steps=steps, seed=seed, derandomize=derandomize
            )
            if r.outcome == "held" and CLAIMS.get((name, prop)) == "broken":
                # The field says a counterexample exists: search deeper before the table
                # disagrees. The cell still reports how many examples it took.
                r = explore(
                    text,
                    prop,
                    max_examples=max_examples * ESCALATE,
                    steps=steps,
                    seed=seed,
                    derandomize=derandomize,
                )
            results.append(r)
            if on_cell is not None:
                on_cell(name, prop, r)
    return results
