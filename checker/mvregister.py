"""A multi-value register: a read returns the set of siblings, the concurrent versions.

Dynamo-style stores with version vectors (Riak, Voldemort, the multi-leader model's
``--conflict version-vectors`` and ``merge``) keep concurrent writes side by side and
hand a reader all of them; the next write that has seen them replaces them all. A read
is recorded as a list of values (``[17 23]``), a single value (one sibling) or nil (none).

Sequentially — one copy, one operation at a time — no two writes are ever concurrent,
so the register always holds at most one value: a write replaces everything and a read
returns exactly the last write. Linearizability against this spec therefore fails as soon
as a read shows two siblings, which is the truth about such a store (it trades
linearizability for availability); the weaker models the consistency checker judges on
sibling sets are convergence (settled replicas return the same set) and durability (every
settled read shows each acknowledged write or a write that may have superseded it).

Histories name it in their metadata: ``{"replicheck": {"spec": "mv-register"}}``. It is
never inferred, since a read/write history fits a plain register too.
"""

from __future__ import annotations

from typing import Any

from .history import UNKNOWN, Op
from .specs import BUILTIN, Register
from .text import fmt


def siblings(output: Any) -> frozenset:
    """The sibling set a read returned: a list is several, nil none, a value one."""
    if output is None:
        return frozenset()
    if isinstance(output, (tuple, list, frozenset)):
        return frozenset(output)
    return frozenset((output,))


class MVRegister(Register):
    """Reads return every sibling; a write replaces them all."""

    name = "mv-register"
    noun = "multi-value register"
    named_only = True  # never inferred: a read/write history is a plain register

    def init(self) -> Any:
        return siblings(self.initial)

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "write":
            return True, frozenset((op.value,))
        if op.f == "read":
            return self.unknown_read(op) or siblings(op.output) == state, state
        return False, state

    def validate(self, op: Op) -> str | None:
        err = super().validate(op)
        if err:
            return err
        if op.f == "write" and isinstance(op.value, tuple):
            return f"write value {fmt(op.value)} is a list; a multi-value register's values are plain"
        return None

    def required_values(self, op: Op) -> list[Any]:
        if op.f == "read" and op.output is not UNKNOWN and not self.unknown_read(op):
            return sorted(siblings(op.output), key=repr)
        return []

    def describe_state(self, state: Any) -> str:
        return fmt(state)

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "read":
            return f"can't read siblings {fmt(siblings(op.output))} from {self.noun} {fmt(state)}"
        return super().explain(state, op)


# A built-in spec, by name; the package imports this module so the name always resolves.
BUILTIN["mv-register"] = MVRegister
