"""Sequential specifications: what a single copy of the object would do.

A spec is any object with

- ``name``: a short name for reports;
- ``init() -> state``: the initial state, a small hashable value;
- ``step(state, op) -> (ok, new_state)``: whether ``op`` can take effect in ``state``
  with the output it returned, and the state it leaves. ``op.output`` is ``UNKNOWN``
  for an operation that crashed (``info``): answer as if it took effect. (It may also
  never take effect; the search tries that itself.)

and optionally (each left out gets its default, filled once by ``basespec.as_spec``;
``basespec.SpecContract`` lists them all)

- ``partition(ops) -> iterable of op lists``: independent sub-histories that can be
  checked alone (P-compositionality). Splitting is the biggest speed-up there is: the
  search is exponential in the concurrency of each part, not of the whole. Default:
  split by ``op.key``, for user specs as for the built-in ones (ops with no key are one
  object); a spec whose objects span keys returns ``[ops]``.
- ``prune(ops) -> ops``: drop operations whose presence cannot change the verdict
  (a crashed read, a read of unknown value, a crashed write that nobody read). Must be
  sound: the verdict on what is returned equals the verdict on the whole. Failed
  operations are gone before it is called.
- ``validate(op) -> str | None``: a message when the op's value has the wrong shape.
- ``read_only(op) -> bool``: op never changes the state (a read). The search then places
  a fitting read at once without trying alternatives. Must be exact.
- ``effect_key(op) -> hashable``: ops with equal keys have the same effect on every
  state. Crashed ops of one kind are then interchangeable, and the search tries only
  one of them. Must be exact; leave it out if ``step`` looks at more than f, value and
  output (the built-in specs look at nothing else).
- ``blind(op) -> bool``: op always succeeds and leaves a state that does not depend on
  the state before (a write). A crashed blind op is then placed only right before an op
  that sees what it leaves. Must be exact.
- ``observers(ops) -> {op id: [ops]}``: for ops that change the state, the ops that
  could see the state they leave. Once they are all placed, the search forgets a crashed
  op; the minimizer drops them along with the op. Must be complete: leave an op out of
  the dict when unsure.
- ``explain(state, op) -> str``: why ``op`` cannot take effect in ``state``, in words.
- ``describe_state(state) -> str`` and ``describe_op(op) -> str`` for reports.

States must be hashable and cheap to hash: the search caches (linearized set, state).
``step`` must return the pair: a bare bool, or a spec with no ``step``/``init``, is a
``SpecError`` (a ValueError: exit 2 from the CLI) saying what to write.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import sys
from collections import defaultdict
from typing import Any

from .basespec import (
    NIL_READS,
    NO_INIT,
    BaseSpec,
    FilledSpec,
    Spec,
    SpecContract,
    SpecError,
    as_spec,
    hashable,
    split_by_key,
)
from .history import UNKNOWN, History, HistoryError, Op
from .listappend import ListAppend
from .text import fmt

__all__ = [
    "BUILTIN",
    "NIL_READS",
    "NO_INIT",
    "BaseSpec",
    "CasRegister",
    "FifoQueue",
    "KV",
    "ListAppend",
    "Mutex",
    "Register",
    "SetSpec",
    "Spec",
    "SpecContract",
    "SpecError",
    "as_spec",
    "fmt",
    "make_spec",
    "resolve_spec",
    "infer_spec",
    "split_by_key",
]


class Register(BaseSpec):
    """A read/write register. ``read`` returns the value; ``write`` sets it."""

    name = "register"
    functions: tuple[str, ...] = ("read", "write")
    noun = "register"

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "write":
            return True, op.value
        if op.f == "read":
            return self.unknown_read(op) or op.output == state, state
        return self.step_other(state, op)

    def step_other(self, state: Any, op: Op) -> tuple[bool, Any]:
        return False, state

    def validate(self, op: Op) -> str | None:
        err = super().validate(op)
        if err:
            return err
        v = op.output if op.f == "read" else op.value
        if v is not UNKNOWN and not hashable(v):
            return f"{op.f} value {v!r} is not a plain value"
        return None

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "read":
            return f"can't read {fmt(op.output)} from {self.noun} {fmt(state)}"
        return super().explain(state, op)

    def required_values(self, op: Op) -> list[Any]:
        """Values an operation can observe; a crashed write of any other value is moot."""
        if op.f == "read" and not self.unknown_read(op):
            return [op.output]
        return []

    def written_value(self, op: Op) -> Any:
        return op.value

    def blind(self, op: Op) -> bool:
        return op.f == "write"

    def observers(self, ops: list[Op]) -> dict[int, list[Op]]:
        """For each write or cas, the ops that could see the value it leaves."""
        by_value: dict[Any, list[Op]] = defaultdict(list)
        for op in ops:
            if op.status != "fail":
                for v in self.required_values(op):
                    by_value[v].append(op)
        return {op.id: by_value.get(self.written_value(op), []) for op in ops if op.f != "read"}

    def prune(self, ops: list[Op]) -> list[Op]:
        # A crashed op that only sets the register to a value nobody observes can be
        # left out: any linearization using it stays valid without it, since no op can
        # be linearized while the register holds that value except ones that accept
        # any value. Likewise a read that accepts any value is always linearizable.
        watchers = self.observers(ops)
        keep = []
        for op in ops:
            if op.f == "read" and self.unknown_read(op):
                continue
            if op.crashed and op.f != "read" and not watchers[op.id]:
                continue
            keep.append(op)
        return keep


class CasRegister(Register):
    """A register with compare-and-set: ``cas [from to]`` succeeds only from ``from``.

    Jepsen's convention: a cas that completed ``ok`` succeeded; one that failed is
    ``fail`` and took no effect.
    """

    name = "cas-register"
    functions = ("read", "write", "cas")

    def step_other(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "cas" and state == op.value[0]:
            return True, op.value[1]
        return False, state

    def validate(self, op: Op) -> str | None:
        if op.f == "cas":
            v = op.value
            if not (isinstance(v, tuple) and len(v) == 2 and hashable(v)):
                return f"cas value must be a pair [from to], got {fmt(v)}"
            return None
        return super().validate(op)

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "cas":
            return f"can't cas {fmt(op.value[0])}->{fmt(op.value[1])} when the register holds {fmt(state)}"
        return super().explain(state, op)

    def required_values(self, op: Op) -> list[Any]:
        if op.f == "cas":
            return [op.value[0]]
        return super().required_values(op)

    def written_value(self, op: Op) -> Any:
        return op.value[1] if op.f == "cas" else op.value


class KV(BaseSpec):
    """A map of string keys to strings, each starting at ``""`` (Porcupine's kv).

    ``get`` returns the whole string, ``put`` replaces it, ``append`` concatenates. Keys
    are independent, so the history is checked key by key.
    """

    name = "kv"
    functions = ("get", "put", "append")
    noun = "key"

    def __init__(self, init: Any = "", nil_read: str = "absent"):
        super().__init__(init, nil_read)

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "get":
            # under nil_read="absent" a nil get means the key was never written: ""
            return self.unknown_read(op) or ("" if op.output is None else op.output) == state, state
        if op.f == "put":
            return True, op.value
        if op.f == "append":
            return True, (state or "") + op.value
        return False, state

    def validate(self, op: Op) -> str | None:
        err = super().validate(op)
        if err:
            return err
        if op.f in ("put", "append") and not isinstance(op.value, str):
            return f"{op.f} value must be a string, got {fmt(op.value)}"
        if (
            op.f == "get"
            and op.output is not UNKNOWN
            and op.output is not None
            and not isinstance(op.output, str)
        ):
            return f"get must return a string, got {fmt(op.output)}"
        return None

    def prune(self, ops: list[Op]) -> list[Op]:
        # A crashed put or append whose mark no get shows (see observers) can only have
        # taken effect where no get looks before the next put: leaving it out keeps
        # every get's value and the state any put leaves.
        watchers = self.observers(ops)
        return [
            op for op in ops if not (op.f == "get" and self.unknown_read(op)) and watchers.get(op.id, True)
        ]

    def blind(self, op: Op) -> bool:
        return op.f == "put"

    def observers(self, ops: list[Op]) -> dict[int, list[Op]]:
        """For each crashed put or append, the gets that could see it.

        Until the next put, every get after ``put v`` returns v followed by what was
        appended since, and every get after ``append s`` returns a string containing s:
        a get that does not could not have come then. Ok writes are left out: their
        watchers cost a substring search per get, and only crashed writes repay it.
        """
        gets: dict[str, list[Op]] = defaultdict(list)
        for op in ops:
            if op.f == "get" and op.status != "fail" and not self.unknown_read(op):
                gets["" if op.output is None else op.output].append(op)
        out: dict[int, list[Op]] = {}
        for op in ops:
            if op.crashed and op.f in ("put", "append") and isinstance(op.value, str):
                v = op.value
                shows = str.startswith if op.f == "put" else str.__contains__
                out[op.id] = [g for text, gs in gets.items() if shows(text, v) for g in gs]
        return out

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "get":
            return f"can't get {fmt(op.output)} from key {op.key!r} holding {fmt(state)}"
        return super().explain(state, op)


class SetSpec(BaseSpec):
    """A grow-only set: ``add`` an element; ``read`` returns all elements."""

    name = "set"
    functions = ("add", "read")

    def __init__(self, init: Any = frozenset(), nil_read: str = "absent"):
        super().__init__(frozenset(init or ()), nil_read)

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "add":
            return True, state | {op.value}
        if op.f == "read":
            # under nil_read="absent" a nil read means the set does not exist yet: empty
            return self.unknown_read(op) or frozenset(op.output or ()) == state, state
        return False, state

    def validate(self, op: Op) -> str | None:
        err = super().validate(op)
        if err:
            return err
        if op.f == "add" and not hashable(op.value):
            return f"add value must be a plain value, got {op.value!r}"
        if op.f == "read" and op.output not in (UNKNOWN, None):
            if not isinstance(op.output, (tuple, frozenset)) or not hashable(op.output):
                return f"read must return a collection of elements, got {fmt(op.output)}"
        return None

    def prune(self, ops: list[Op]) -> list[Op]:
        # A crashed add of an element no read shows can only have taken effect after
        # every read (the set only grows), where it changes nothing anyone sees.
        watchers = self.observers(ops)
        return [
            op
            for op in ops
            if not (op.f == "read" and self.unknown_read(op))
            and not (op.crashed and op.f == "add" and not watchers[op.id])
        ]

    def observers(self, ops: list[Op]) -> dict[int, list[Op]]:
        """For each add, the reads that show its element: once it is added, every read
        shows it, so a read that does not must come before it."""
        by_element: dict[Any, list[Op]] = defaultdict(list)
        for op in ops:
            if op.f == "read" and op.status != "fail" and not self.unknown_read(op):
                for x in set(op.output or ()):
                    by_element[x].append(op)
        return {op.id: by_element.get(op.value, []) for op in ops if op.f == "add"}

    def describe_op(self, op: Op) -> str:
        if op.f == "read":
            return f"read {fmt(frozenset(op.output)) if op.output not in (UNKNOWN, None) else fmt(op.output)}"
        return f"add {fmt(op.value)}"

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "read":
            return f"can't read {fmt(frozenset(op.output or ()))} from set {fmt(state)}"
        return super().explain(state, op)


class FifoQueue(BaseSpec):
    """A FIFO queue: ``enqueue`` a value; ``dequeue`` returns the oldest, or nil if empty."""

    name = "fifo-queue"
    functions = ("enqueue", "dequeue")

    def __init__(self, init: Any = (), nil_read: str = "absent"):
        super().__init__(tuple(init or ()), nil_read)

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "enqueue":
            return True, state + (op.value,)
        if op.f == "dequeue":
            if op.output is UNKNOWN:
                return True, state[1:]
            if not state:
                return op.output is None, state
            return state[0] == op.output, state[1:]
        return False, state

    def validate(self, op: Op) -> str | None:
        err = super().validate(op)
        if err:
            return err
        v = op.value if op.f == "enqueue" else op.output
        if v is not UNKNOWN and not hashable(v):
            return f"{op.f} value must be a plain value, got {v!r}"
        return None

    def prune(self, ops: list[Op]) -> list[Op]:
        # A crashed enqueue of a value no ok dequeue returns can be left out: with it
        # gone (and the crashed dequeue that took it, if any), every other op sees the
        # same head, and an ok dequeue of nil saw an empty queue, without it already.
        watchers = self.observers(ops)
        return [op for op in ops if not (op.crashed and op.f == "enqueue" and not watchers[op.id])]

    def observers(self, ops: list[Op]) -> dict[int, list[Op]]:
        """For each enqueue, the ok dequeues that return its value (nil too: a queue
        holding nil at its head returns that)."""
        by_value: dict[Any, list[Op]] = defaultdict(list)
        for op in ops:
            if op.f == "dequeue" and op.ok:
                by_value[op.output].append(op)
        return {op.id: by_value.get(op.value, []) for op in ops if op.f == "enqueue"}

    def describe_op(self, op: Op) -> str:
        if op.f == "dequeue":
            return f"dequeue {fmt(op.output)}"
        return f"enqueue {fmt(op.value)}"

    def explain(self, state: Any, op: Op) -> str:
        if op.f == "dequeue":
            head = fmt(state[0]) if state else "nothing (empty)"
            return f"can't dequeue {fmt(op.output)} when the head is {head}"
        return super().explain(state, op)


class Mutex(BaseSpec):
    """A lock: ``acquire`` succeeds only when free, ``release`` only when held."""

    name = "mutex"
    functions = ("acquire", "release")

    def __init__(self, init: Any = False, nil_read: str = "absent"):
        super().__init__(bool(init), nil_read)

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "acquire":
            return not state, True
        if op.f == "release":
            return state, False
        return False, state

    def describe_state(self, state: Any) -> str:
        return "held" if state else "free"

    def describe_op(self, op: Op) -> str:
        return op.f

    def explain(self, state: Any, op: Op) -> str:
        return f"can't {op.f} a {'held' if state else 'free'} mutex"


BUILTIN: dict[str, type[BaseSpec]] = {
    s.name: s for s in (Register, CasRegister, KV, SetSpec, FifoQueue, Mutex, ListAppend)
}


def make_spec(name: str, init: Any = NO_INIT, nil_read: str = "absent") -> Any:
    """A spec by built-in name, or ``package.module:Name`` for a user's own class.

    ``init`` overrides the initial state; left out, each spec has its own default
    (registers start at nil, kv keys at "", sets and queues empty, mutexes free).
    """
    if name in BUILTIN:
        cls = BUILTIN[name]
        return cls(nil_read=nil_read) if init is NO_INIT else cls(init, nil_read=nil_read)
    if ":" not in name:
        raise ValueError(
            f"unknown spec {name!r}; built-in specs are {', '.join(BUILTIN)}, "
            "or name your own as package.module:ClassName"
        )
    module, _, attr = name.partition(":")
    if os.getcwd() not in sys.path:
        # a spec next to the user's history should load as it would with `python -m`
        sys.path.insert(0, os.getcwd())
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load spec {name!r}: {e}") from None
    if isinstance(obj, type):
        # a class whose constructor takes init gets it there (it may normalize it)
        if init is not NO_INIT and _takes_init(obj):
            obj, init = obj(init=init), NO_INIT
        else:
            obj = obj()
    if not hasattr(obj, "name") and not isinstance(obj, FilledSpec):
        try:
            obj.name = name
        except AttributeError:
            pass
    return as_spec(obj, init)


def _takes_init(cls: type) -> bool:
    try:
        return "init" in inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no signature to read: a builtin
        return False


def infer_spec(history: History) -> str:
    """The built-in spec a history with no spec named must be about: the one whose
    functions cover every function its operations use. A read/write history fits both
    registers, which judge it alike (there is no cas); any other overlap (reads alone
    fit a register, a set and a list) is refused rather than guessed."""
    used = {op.f for op in history.ops}
    fits = [
        name
        for name, s in BUILTIN.items()
        if used <= set(s.functions) and not getattr(s, "named_only", False)
    ]
    if fits == ["register", "cas-register"]:
        fits = ["cas-register"]
    if used and len(fits) == 1:
        return fits[0]
    uses = ", ".join(sorted(map(str, used))) or "no operations"
    raise HistoryError(
        f"no spec: its operations ({uses}) do not say which object the history is about; "
        f"name it, e.g. --spec cas-register (built-in: {', '.join(BUILTIN)}), or put it in "
        "a metadata line",
        history.path,
    )


def resolve_spec(
    history: History, spec: Any = None, *, init: Any = NO_INIT, nil_read: str | None = None
) -> Any:
    """The spec to judge ``history`` by: the arguments first, then its metadata line;
    checked against the spec contract and given its every hook (:func:`as_spec`).

    For a spec object, ``init`` (when given) replaces its initial state; ``nil_read``
    applies to objects with a ``nil_read`` rule (the built-in specs) and is refused for
    others, whose step decides what a nil read means. The metadata line's ``init`` and
    ``nil_read`` apply to named specs only: an object is taken as built."""
    meta = history.meta
    if spec is None:
        spec = meta.get("spec")
        if spec is None:
            spec = infer_spec(history)
            meta["spec"], meta["spec_inferred"] = spec, True
    if not isinstance(spec, str):
        if nil_read is not None:
            if nil_read not in NIL_READS:
                raise SpecError(f"nil_read must be one of {NIL_READS}, not {nil_read!r}")
            if not isinstance(spec, BaseSpec):
                raise SpecError(
                    f"nil_read applies to the built-in specs; spec {getattr(spec, 'name', spec)!r} "
                    "decides in its step what a read of nil means"
                )
            spec = copy.copy(spec)
            spec.nil_read = nil_read
        return as_spec(spec, init)
    if init is NO_INIT and "init" in meta:
        init = meta["init"]
    nil_read = nil_read or meta.get("nil_read") or "absent"
    return make_spec(spec, init=init, nil_read=nil_read)
