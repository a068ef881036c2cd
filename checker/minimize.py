"""Shrinking an invalid history to a minimal one that is still invalid.

Delta debugging (Zeller & Hildebrandt's ddmin) over operations, after two cuts that are
sound by construction: only the partition (key) that failed matters, and nothing
invoked after the failing operation returned can matter (the search never places such
an operation before it). Whole processes are tried before single operations, because
Jepsen failures usually involve a few clients. Removing an operation removes its
invocation and its completion together, so the sub-history keeps Jepsen's rules.

Removing operations can manufacture a different, duller anomaly: drop every write of 2
and a read of 2 becomes a read of a value nobody wrote. So when the history allows it,
the shrinking keeps the failing operation and requires the anomaly to stay one of
*timing*: the sub-history must be invalid, yet valid once that operation alone is freed
from real time (its interval widened to the whole history). When the anomaly is not one
of timing (two reads that disagree on the order of appends), the shrinking still keeps,
with every op, the writes it could be seeing (``spec.observers``): nothing read comes
from nowhere. Only when the original itself breaks that (the value really came from
nowhere) is plain invalidity kept.

The result is 1-minimal: removing any single operation makes it lose the anomaly, or
(keeping writes) leaves an op whose write is gone, or makes the check undecidable
within the budget, which is reported.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO, Any

from .basespec import as_spec
from .formats import write_jsonl
from .history import History, Op, events_for
from .linearizable import Budget, check_ops
from .verdict import UNKNOWN_VERDICT


@dataclass
class Minimized:
    """A minimal invalid sub-history, as plain data."""

    ops: list[Op]  # in invocation order
    original: int  # operations in the partition that failed
    checks: int  # linearizability checks run
    elapsed: float
    one_minimal: bool  # every single removal was checked and found linearizable
    undecided: list[int] = field(default_factory=list)  # removals whose check ran out of budget
    timing: bool = False  # the anomaly kept is one of timing (see the module's docstring)
    grounded: bool = False  # not timing, but every value read is still written within
    out_of_time: bool = False  # stopped at the time limit: smaller, but maybe not minimal

    def to_dict(self) -> dict:
        return {
            "ops": [op.to_dict() for op in self.ops],
            "size": len(self.ops),
            "original": self.original,
            "checks": self.checks,
            "elapsed": round(self.elapsed, 6),
            "one_minimal": self.one_minimal,
            "undecided": self.undecided,
            "timing": self.timing,
            "grounded": self.grounded,
            "out_of_time": self.out_of_time,
        }


def minimize(
    ops: list[Op],
    spec: Any,
    *,
    culprit: Op | None = None,
    key: Any = None,
    keep_timing: bool = True,
    budget_per_check: float | None = 5.0,
    timeout: float | None = 60.0,
) -> Minimized:
    """A 1-minimal invalid subset of ``ops`` (which must be invalid under ``spec``).

    ``culprit`` and ``key`` come from the invalid Result (``result.op``, ``result.key``);
    with them the search starts from the failing partition, cut at the culprit's return.
    ``keep_timing=False`` asks for plain 1-minimality: the smallest invalid history,
    even if that is a lone read of a value that nobody (left) wrote. Past ``timeout``
    seconds in all, the smallest history found so far is returned, marked not minimal.
    """
    started = time.perf_counter()
    checks = 0
    undecided: set[int] = set()

    def invalid(subset: list[Op]) -> bool:
        nonlocal checks
        checks += 1
        res = check_ops(subset, spec, Budget(timeout=budget_per_check))
        if res.valid == UNKNOWN_VERDICT:
            undecided.update(op.id for op in subset)
        return res.valid is False

    def valid(subset: list[Op]) -> bool:
        nonlocal checks
        checks += 1
        return check_ops(subset, spec, Budget(timeout=budget_per_check)).valid is True

    current = [op for op in ops if op.status != "fail"]  # failed ops never matter
    if key is not None:
        current = [op for op in current if op.key == key]
    original = len(current)
    if culprit is not None:
        cut = [op for op in current if op.call <= culprit.ret]
        if invalid(cut):
            current = cut
    if not invalid(current):
        raise ValueError("minimize() needs an invalid history")

    keep: list[Op] = []
    target: Callable[[list[Op]], bool] = invalid
    timing = False
    if keep_timing and culprit is not None and any(op.id == culprit.id for op in current):
        freed = replace(culprit, call=-math.inf, ret=math.inf)

        def timing_anomaly(rest: list[Op]) -> bool:
            return invalid(rest + [culprit]) and valid(rest + [freed])

        rest = [op for op in current if op.id != culprit.id]
        if timing_anomaly(rest):
            keep, target, timing = [culprit], timing_anomaly, True
            current = rest
    closed = _closure(spec, current)
    grounded = False
    if keep_timing and not timing and closed(current) == current:
        # Not a timing anomaly (two reads disagree on an order, say): still refuse the
        # duller one of a read whose writes were all removed. Every op kept keeps the
        # writes it could be seeing, so nothing read comes from nowhere.
        grounded = True
        target = lambda subset: closed(subset) == subset and invalid(subset)  # noqa: E731

    # Processes first: one check can drop a whole client's operations.
    by_process: dict[Any, list[Op]] = {}
    for op in current:
        by_process.setdefault(op.process, []).append(op)
    deadline = None if timeout is None else time.monotonic() + timeout
    groups = _ddmin(
        list(by_process.values()), lambda gs: target(closed([o for g in gs for o in g])), deadline
    )
    current = closed([o for g in groups for o in g])
    current = closed(_ddmin(sorted(current, key=lambda o: o.id), lambda ops: target(closed(ops)), deadline))

    # Single removals, without the closure: ddmin's last round already tried them with it,
    # and 1-minimality is promised in the plain sense. Also confirms it explicitly.
    undecided.clear()
    shrinking = True
    while shrinking and (deadline is None or time.monotonic() < deadline):
        shrinking = False
        for i in range(len(current)):
            if target(current[:i] + current[i + 1 :]):
                current = current[:i] + current[i + 1 :]
                shrinking = True
                break
    out_of_time = shrinking
    one_minimal = not out_of_time
    if timing:
        # the culprit itself cannot go either: without it nothing is left to fail
        one_minimal = one_minimal and not invalid(current)
    return Minimized(
        ops=sorted(current + keep, key=lambda o: o.id),
        original=original,
        checks=checks,
        elapsed=time.perf_counter() - started,
        one_minimal=one_minimal and not undecided,
        undecided=sorted(undecided),
        timing=timing,
        grounded=grounded,
        out_of_time=out_of_time,
    )


def write_minimized(
    out: str | os.PathLike | IO[str],
    minimal: Minimized,
    history: History,
    spec: Any,
    spec_name: str | None = None,
) -> None:
    """Write ``minimal`` as JSON Lines whose metadata makes it check alone, with no flags,
    as the original was checked: the spec by name (``spec_name``, else the spec's own),
    its initial value and its rule for nil reads, whatever flags or format set them."""
    meta = {
        **history.meta,
        "spec": spec_name or getattr(spec, "name", None),
        "source": f"minimized from {history.path or 'a history'}",
    }
    if hasattr(spec, "initial"):
        meta["init"] = spec.initial
    if getattr(spec, "nil_read", None):
        meta["nil_read"] = spec.nil_read
    times = {e.line: e.time for e in history.events if e.line is not None}
    write_jsonl(out, events_for(minimal.ops, history.timed, times), meta)


def _closure(spec: Any, ops: list[Op]) -> Callable[[list[Op]], list[Op]]:
    """Dropping an op that changes the state also drops the ops that could only be seeing
    its effect (``spec.observers``): else every cut of a write leaves a read of a value
    nobody wrote, a duller anomaly the shrinking must refuse, and ddmin crawls."""
    seen_by = as_spec(spec).observers
    watchers = seen_by(ops) if seen_by else {}
    everyone = {op.id for op in ops}

    def closed(kept: list[Op]) -> list[Op]:
        if not watchers:
            return kept
        kept_ids = {op.id for op in kept}
        stack = [i for i in everyone if i not in kept_ids]
        while stack:
            for w in watchers.get(stack.pop(), ()):
                if w.id in kept_ids:
                    kept_ids.discard(w.id)
                    stack.append(w.id)
        return [op for op in kept if op.id in kept_ids]

    return closed


def _ddmin(items: list, failing: Callable[[list], bool], deadline: float | None) -> list:
    """Zeller's ddmin: the smallest-found list of items for which ``failing`` holds."""
    n = 2
    while len(items) >= 2 and (deadline is None or time.monotonic() < deadline):
        chunk = max(1, len(items) // n)
        subsets = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for k, sub in enumerate(subsets):
            if failing(sub):
                items, n, reduced = sub, 2, True
                break
            complement = [x for j, s in enumerate(subsets) if j != k for x in s]
            if len(subsets) > 2 and failing(complement):
                items, n, reduced = complement, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(n * 2, len(items))
    return items
