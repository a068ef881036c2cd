"""The list-append specification, as Elle uses it.

Each key holds a list, starting empty. ``append`` adds one element to the end; ``read``
returns the whole list. Workloads append *unique* elements, which is what makes the
object useful for weak consistency models: a read reveals not only which appends it saw
but in which order the store placed them (the version order), so checks that are only
approximate on registers are exact here (see checker/consistency.py).

In a history: ``{"f": "append", "key": "x", "value": 3}`` and
``{"f": "read", "key": "x", "value": [1, 3]}`` on completion. A read returning ``null``
means the empty list, unless ``nil_read`` is "unknown" (Knossos's rule).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .basespec import BaseSpec, hashable
from .history import UNKNOWN, Op
from .text import fmt


class ListAppend(BaseSpec):
    """Lists per key; ``append`` a unique element, ``read`` the whole list."""

    name = "list-append"
    functions = ("append", "read")
    noun = "list"

    def __init__(self, init: Any = (), nil_read: str = "absent"):
        super().__init__(tuple(init or ()), nil_read)

    def read_value(self, op: Op) -> tuple | None:
        """The list a read returned, or None when it tells nothing."""
        if self.unknown_read(op):
            return None
        return () if op.output is None else tuple(op.output)

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "append":
            return True, state + (op.value,)
        if op.f == "read":
            seen = self.read_value(op)
            return seen is None or seen == state, state
        return False, state

    def validate(self, op: Op) -> str | None:
        err = super().validate(op)
        if err:
            return err
        if op.f == "append" and not hashable(op.value):
            return f"append value must be a plain value, got {op.value!r}"
        if op.f == "read" and op.output not in (UNKNOWN, None):
            # a tuple hashes exactly when each element does: one C call, not one per element
            if not isinstance(op.output, tuple) or not hashable(op.output):
                return f"read must return a list of elements, got {fmt(op.output)}"
        return None

    def prune(self, ops: list[Op]) -> list[Op]:
        # A crashed append whose element no read shows can only have taken effect after
        # every read, where it changes nothing: leaving it out keeps the verdict.
        seen = set()
        for op in ops:
            if op.f == "read" and op.ok and isinstance(op.output, tuple):
                seen.update(op.output)
        return [
            op
            for op in ops
            if not (op.f == "read" and self.unknown_read(op))
            and not (op.crashed and op.f == "append" and op.value not in seen)
        ]

    def observers(self, ops: list[Op]) -> dict[int, list[Op]]:
        """For each append, the reads that show its element: a read not showing it must
        come before it, so once these are placed a crashed append can only hurt."""
        by_element: dict[Any, list[Op]] = defaultdict(list)
        for op in ops:
            if op.f == "read" and op.status != "fail":
                for x in self.read_value(op) or ():
                    by_element[x].append(op)
        return {op.id: by_element.get(op.value, []) for op in ops if op.f == "append"}

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "read":
            return f"can't read {fmt(op.output)} from list {fmt(state)}{_difference(op.output, state)}"
        return super().explain(state, op)


def _difference(read: Any, state: Any) -> str:
    """Where a read and the list part, in words: long lists are shown only at their ends."""
    if not isinstance(read, tuple) or not isinstance(state, tuple):
        return ""
    n = next((i for i, (a, b) in enumerate(zip(read, state)) if a != b), min(len(read), len(state)))
    if n == len(read) < len(state):
        return f": the read misses the list's last {len(state) - n}, from {fmt(state[n])} (position {n})"
    if n == len(state) < len(read):
        return f": the read shows {len(read) - n} more, from {fmt(read[n])} (position {n})"
    if n < len(read):
        return f": at position {n} the read has {fmt(read[n])}, the list {fmt(state[n])}"
    return ""
