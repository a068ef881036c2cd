"""What every spec shares: the protocol, BaseSpec's defaults, and the helpers built-in
specs use. A leaf: the spec modules (specs.py, listappend.py) build on it, so neither has
to import the other to get BaseSpec. What each hook means is in specs.py's docstring.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from .history import UNKNOWN, HistoryError, Op
from .text import default_describe_op, fmt

NIL_READS = ("absent", "unknown")


@runtime_checkable
class Spec(Protocol):
    name: str

    def init(self) -> Any: ...

    def step(self, state: Any, op: Op) -> tuple[bool, Any]: ...


def hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def validate_ops(ops: Iterable[Op], spec: Any, path: str | None = None) -> None:
    """Raise HistoryError at the first op whose value has a shape ``spec.validate``
    rejects, naming its line: every check validates here, before it searches."""
    validate = getattr(spec, "validate", None)
    if validate is None:
        return
    for op in ops:
        msg = validate(op)
        if msg:
            raise HistoryError(msg, path, op.line)
        try:  # states and effects are hashed: a map in a value would crash the search
            hash(op.value)
            hash(op.output)
        except TypeError:
            line = op.line
            try:
                hash(op.value)
                line = op.ret_line  # the completion's value
            except TypeError:
                pass
            raise HistoryError(
                f"{op.f}: a value holding a map; values are numbers, names or lists of them", path, line
            ) from None


def split_by_key(ops: Iterable[Op]) -> list[list[Op]]:
    """Operations on different keys touch independent objects."""
    parts: dict[Any, list[Op]] = defaultdict(list)
    for op in ops:
        parts[op.key].append(op)
    return list(parts.values())


class BaseSpec:
    """Defaults shared by the built-in specs; user specs need not inherit from it."""

    name = "spec"
    functions: tuple[str, ...] = ()

    def __init__(self, init: Any = None, nil_read: str = "absent"):
        if nil_read not in NIL_READS:
            raise ValueError(f"nil_read must be one of {NIL_READS}, not {nil_read!r}")
        self.initial = init
        self.nil_read = nil_read

    def init(self) -> Any:
        return self.initial

    def partition(self, ops: list[Op]) -> list[list[Op]]:
        return split_by_key(ops)

    def validate(self, op: Op) -> str | None:
        if op.f == "txn":
            return (
                "a transaction of several micro-operations: replicheck checks single-object "
                "operations (a txn of one micro-operation is unwrapped; Elle checks transactions)"
            )
        if op.f not in self.functions:
            return f"{self.name} has no operation {op.f!r}; expected one of {', '.join(self.functions)}"
        return None

    def prune(self, ops: list[Op]) -> list[Op]:
        return ops

    def effect_key(self, op: Op) -> Any:
        """What ``step`` looks at: ops with equal keys are interchangeable to the search.
        Built-in steps read only the function, the value and the output."""
        return (op.f, op.value, op.output)

    def read_only(self, op: Op) -> bool:
        """True when op never changes the state (a read): the search places such ops
        greedily. Must be exact: a wrong True loses linearizations."""
        return op.f in ("read", "get")

    def describe_state(self, state: Any) -> str:
        return fmt(state)

    def describe_op(self, op: Op) -> str:
        return default_describe_op(op)

    def explain(self, state: Any, op: Op) -> str:
        return f"can't {self.describe_op(op)} in state {self.describe_state(state)}"

    def unknown_read(self, op: Op) -> bool:
        """A read with no usable result constrains nothing and changes nothing."""
        return op.output is UNKNOWN or (op.output is None and self.nil_read == "unknown")
