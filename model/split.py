"""The exhaustive search cut into tasks by schedule prefixes, for the engine.

    from replicheck.engine import Layout
    from replicheck.model.split import split_exhaustive
    r = split_exhaustive("lf-async-failover", "read-your-writes", depth=4, layout=Layout(jobs=2))
    r.outcome, r.counterexample.steps, r.tasks

The coordinator searches breadth first, as :func:`~replicheck.model.exhaustive.exhaustive`
does, until a depth k has at least ``tasks`` distinct states (or the bound is reached).
Each state of depth k is named by its schedule, which replays from the design, and becomes
one task: the same search from that state to depth D - k. The merge is deterministic:

- the shortest counterexample over all tasks, ties going to the lowest task index; the
  cut depends on ``tasks`` and the design only, never on the layout, so every layout
  reports the same counterexample;
- "holds" only when every task finished its bound; a task out of budget gives "unknown";
- states and transitions are summed over tasks: each task hashes states on its own, so a
  state reached from two prefixes is counted (and searched) once per task.

A task whose counterexample has k + 1 steps cannot be beaten (every schedule of <= k
steps was judged by the coordinator), so the run stops there: later tasks are cancelled,
earlier ones still finish, as the engine does for every layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replicheck.engine import Layout, run

from .config import ConfigError
from .designs import DESIGNS, not_applicable
from .exhaustive import (
    DEFAULT_MAX_STATES,
    FULL_MENU,
    ExhaustiveResult,
    clone,
    enabled_steps,
    exhaustive,
    fingerprint,
    judge_state,
)
from .machines import PROPERTIES, Counterexample
from .schedules import Design, SimulatedCluster

__all__ = ["SPLIT_TASKS", "SplitResult", "prefix_task", "split_exhaustive"]

# Fixed, not derived from the number of workers: the cut decides which of several shortest
# counterexamples is reported, and that must not depend on the layout.
SPLIT_TASKS = 32


@dataclass
class SplitResult(ExhaustiveResult):
    """An exhaustive result merged from ``tasks`` prefix searches cut at ``prefix_depth``.

    ``shortest`` is False when a counterexample was found but a task ran out of budget
    before the depth that would show no shorter one exists."""

    tasks: int = 0
    prefix_depth: int = 0
    prefixes: int = 0
    shortest: bool = True

    def _note(self) -> str:
        if not self.tasks:
            return ""
        return (
            f" [{self.tasks} tasks over the {self.prefixes:,} distinct states of {self.prefix_depth} "
            "steps; states counted per prefix, so a state reached from several counts once for each]"
        )

    def cell(self) -> str:
        if self.outcome == "broken" and self.counterexample is not None and not self.shortest:
            return f"BROKEN in {self.counterexample.steps} steps (maybe not the shortest)"
        return super().cell()

    def sentence(self) -> str:
        if self.outcome == "broken" and self.counterexample is not None and not self.shortest:
            return (
                f"BROKEN in {self.counterexample.steps} steps: a counterexample, not shown to be the "
                f"shortest ({self.reason}; {self.states:,} states, {self.elapsed:.1f} s)" + self._note()
            )
        text = super().sentence()
        if self.tasks:  # summed over prefixes, so not all distinct: the note says how
            text = text.replace(" distinct states", " states")
        return text + self._note()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(
            tasks=self.tasks,
            prefix_depth=self.prefix_depth,
            prefixes=self.prefixes,
            states_counted="per prefix",
        )
        if self.outcome == "broken":
            d["shortest"] = self.shortest
        return d


def prefix_task(
    text: str,
    prop: str,
    prefixes: list[list[dict]],
    remaining: int,
    timeout: float | None,
    max_states: int,
    sim_seed: int,
    max_ops: int,
    faults: frozenset,
    symmetry: bool,
    hashing: bool,
) -> list[ExhaustiveResult]:
    """One task: the exhaustive search from the state each prefix reaches, ``remaining``
    steps deeper, prefix after prefix. After a counterexample of n steps the later prefixes
    are searched only to n - 1 steps: one of n steps would lose the tie-break to the
    earlier prefix. Module-level so a worker imports it by name."""
    out: list[ExhaustiveResult] = []
    for prefix in prefixes:
        r = exhaustive(
            text,
            prop,
            depth=remaining,
            timeout=timeout,
            max_states=max_states,
            sim_seed=sim_seed,
            max_ops=max_ops,
            faults=faults,
            symmetry=symmetry,
            hashing=hashing,
            prefix=prefix,
        )
        out.append(r)
        if r.counterexample is not None:
            remaining = min(remaining, r.counterexample.steps - 1 - len(prefix))
            if remaining < 1:
                break
    return out


@dataclass
class _Cut:
    """What the coordinator's breadth-first search found before cutting."""

    frontier: list[SimulatedCluster]
    depth: int  # the frontier's depth (k)
    states: int
    transitions: int
    undecided: int
    per_depth: list[int]
    counterexample: Counterexample | None = None
    reason: str | None = None  # a budget ran out


def _cut(
    parsed: Design,
    prop: str,
    depth: int,
    tasks: int,
    deadline: float | None,
    max_states: int,
    sim_seed: int,
    max_ops: int,
    menu: frozenset,
    symmetry: bool,
    hashing: bool,
) -> _Cut:
    root = SimulatedCluster(parsed, sim_seed)
    seen: set[bytes] = {fingerprint(root)}
    cut = _Cut([root], 0, 1, 0, 0, [1])
    _, cx = judge_state(root, prop)
    if cx is not None:
        cut.counterexample = cx
        return cut
    while len(cut.frontier) < tasks and cut.depth < depth and cut.frontier:
        d = cut.depth + 1
        nxt: list[SimulatedCluster] = []
        for state in cut.frontier:
            for step in enabled_steps(state, max_ops=max_ops, faults=menu, symmetry=symmetry):
                cut.states = len(seen)
                if deadline is not None and time.perf_counter() > deadline:
                    cut.reason = f"the time budget ran out at depth {d}"
                    return cut
                if len(seen) >= max_states:
                    cut.reason = f"the cap of {max_states:,} states was reached"
                    return cut
                child = clone(state)
                try:
                    child.apply(step)
                except ConfigError:
                    continue
                cut.transitions += 1
                fp = fingerprint(child) if hashing else len(seen).to_bytes(8, "big")
                if fp in seen:
                    continue
                seen.add(fp)
                holds, cx = judge_state(child, prop, in_place=d == depth)
                if cx is not None:
                    cut.per_depth.append(len(nxt) + 1)
                    cut.states = len(seen)
                    cut.counterexample = cx
                    return cut
                cut.undecided += holds == "unknown"
                nxt.append(child)
        cut.per_depth.append(len(nxt))
        cut.frontier, cut.depth, cut.states = nxt, d, len(seen)
    return cut


def split_exhaustive(
    design: str,
    prop: str,
    *,
    depth: int,
    layout: Layout | None = None,
    tasks: int = SPLIT_TASKS,
    timeout: float | None = None,
    max_states: int = DEFAULT_MAX_STATES,
    sim_seed: int = 0,
    max_ops: int = 6,
    faults: frozenset | None = None,
    symmetry: bool = True,
    hashing: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SplitResult:
    """Every schedule of ``design`` of at most ``depth`` steps, judged against ``prop``, as
    prefix tasks on ``layout``. ``timeout`` bounds the coordinator's search and then each
    task; ``max_states`` bounds each of them (so the whole run may judge more states)."""
    text = DESIGNS.get(design, design)
    if prop not in PROPERTIES:
        raise ValueError(f"unknown property {prop!r}; choose one of {', '.join(PROPERTIES)}")
    if depth < 0:
        raise ValueError("depth must be at least 0")
    started = time.perf_counter()
    parsed = Design.parse(text)
    why_not = not_applicable(parsed, prop)
    if why_not:
        return SplitResult(text, prop, "not applicable", depth, depth, 0, 0, 0.0, reason=why_not)
    menu = frozenset(faults) if faults is not None else FULL_MENU
    deadline = None if timeout is None else started + timeout
    cut = _cut(parsed, prop, depth, tasks, deadline, max_states, sim_seed, max_ops, menu, symmetry, hashing)
    k = cut.depth
    common: dict[str, Any] = dict(undecided=cut.undecided, symmetry=symmetry, prefix_depth=k)
    if cut.counterexample is not None or cut.reason or k == depth or not cut.frontier:
        # decided before any task: the coordinator's search is the unsplit search so far
        if cut.counterexample is not None:
            outcome, complete = "broken", max(cut.counterexample.steps - 1, 0)
        elif cut.reason:
            outcome, complete = "unknown", k
        else:
            outcome, complete = ("unknown" if cut.undecided else "holds"), depth
        per_depth = cut.per_depth + [0] * (depth + 1 - len(cut.per_depth))
        return SplitResult(
            text, prop, outcome, depth, complete, cut.states, cut.transitions,
            time.perf_counter() - started, counterexample=cut.counterexample, reason=cut.reason,
            per_depth=per_depth if outcome == "holds" else cut.per_depth, **common,
        )  # fmt: skip
    left = None if deadline is None else max(deadline - time.perf_counter(), 1e-3)
    # contiguous groups of prefixes, so a run has about ``tasks`` tasks however wide the cut
    n = min(tasks, len(cut.frontier))
    bounds = [len(cut.frontier) * t // n for t in range(n + 1)]
    groups = [[list(s.schedule) for s in cut.frontier[a:b]] for a, b in zip(bounds, bounds[1:])]
    args = [
        (text, prop, g, depth - k, left, max_states, sim_seed, max_ops, menu, symmetry, hashing)
        for g in groups
    ]

    def unbeatable(rs: list[ExhaustiveResult]) -> bool:
        return any(r.counterexample is not None and r.counterexample.steps == k + 1 for r in rs)

    out = run(prefix_task, args, layout=layout or Layout(), stop=unbeatable, progress=progress)
    elapsed = time.perf_counter() - started
    results: dict[int, ExhaustiveResult] = {}
    for t in sorted(out.results):
        for r in out.results[t]:
            results[len(results)] = r
    return _merge(text, prop, depth, k, cut, results, len(args), elapsed, symmetry)


def _merge(
    text: str, prop: str, depth: int, k: int, cut: _Cut, results: dict[int, ExhaustiveResult],
    tasks: int, elapsed: float, symmetry: bool,
) -> SplitResult:  # fmt: skip
    per_depth = list(cut.per_depth)
    states, transitions, undecided = cut.states, cut.transitions, cut.undecided
    for i in sorted(results):
        r = results[i]
        # a task's root is a state of the coordinator's last depth: counted there already
        states += r.states - 1
        transitions += r.transitions
        undecided += r.undecided
        for j, n in enumerate(r.per_depth[1:], start=k + 1):
            if j >= len(per_depth):
                per_depth.extend([0] * (j + 1 - len(per_depth)))
            per_depth[j] += n
    common: dict[str, Any] = dict(
        undecided=undecided,
        per_depth=per_depth,
        tasks=tasks,
        prefix_depth=k,
        symmetry=symmetry,
        prefixes=len(cut.frontier),
    )
    broken = [(r.counterexample.steps, i) for i, r in results.items() if r.counterexample is not None]
    reached = {i: k + r.complete_depth for i, r in results.items() if r.outcome != "broken"}
    if broken:
        n, i = min(broken)
        short = {j: d for j, d in reached.items() if d < n - 1}
        reason = None
        if short:
            j = min(short)
            reason = f"prefix {j} explored only to depth {short[j]}: {results[j].reason}"
        return SplitResult(
            text, prop, "broken", depth, n - 1, states, transitions, elapsed,
            counterexample=results[i].counterexample, reason=reason, shortest=not short, **common,
        )  # fmt: skip
    unknown = sorted(i for i, r in results.items() if r.outcome == "unknown")
    if unknown:
        complete = min(reached.values())
        budget = [i for i in unknown if results[i].reason]
        reason = f"prefix {budget[0]}: {results[budget[0]].reason}" if budget else None
        return SplitResult(
            text, prop, "unknown", depth, complete, states, transitions, elapsed, reason=reason, **common
        )
    return SplitResult(text, prop, "holds", depth, depth, states, transitions, elapsed, **common)
