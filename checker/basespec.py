"""What every spec shares: the contract (every hook with its default), the one adapter
that fills the defaults in, BaseSpec's defaults, and the helpers built-in specs use. A
leaf: the spec modules (specs.py, listappend.py) build on it, so neither has to import the
other to get BaseSpec. What each hook means is in specs.py's docstring.

Every spec, built-in or the user's, reaches the search through :func:`as_spec`, which
checks it once at the boundary (a clear :class:`SpecError` saying what to write, not an
AttributeError mid-search) and gives it every hook of :class:`SpecContract`: code that
judges with a spec reads ``spec.hook`` and never asks ``getattr(spec, "hook", None)``.
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from .history import UNKNOWN, HistoryError, Op
from .text import default_describe_op, fmt

NIL_READS = ("absent", "unknown")


class SpecError(ValueError):
    """A spec that breaks the contract: the message says what to write instead. A
    ValueError, so the CLI reports it as a usage error (exit 2)."""


@runtime_checkable
class Spec(Protocol):
    """What a user must write: a name, the initial state and the step."""

    name: str

    def init(self) -> Any: ...

    def step(self, state: Any, op: Op) -> tuple[bool, Any]: ...


class SpecContract(Spec, Protocol):
    """Every hook the checker uses, as :func:`as_spec` gives it. Optional hooks and their
    defaults (a user's spec may leave any of them out):

    - ``partition(ops)``: :func:`split_by_key`, as for the built-in specs;
    - ``prune(ops)``: the ops unchanged;
    - ``validate(op)``: None (every value accepted);
    - ``explain(state, op)``: "not allowed by NAME in state S";
    - ``describe_state(state)``: :func:`fmt`; ``describe_op(op)``: the default wording;
    - ``read_only``, ``effect_key``, ``blind``, ``observers``: None, meaning "no such
      speed hint" (the search then tries everything), never a guessed function.
    """

    def partition(self, ops: list[Op]) -> Iterable[list[Op]]: ...

    def prune(self, ops: list[Op]) -> list[Op]: ...

    def validate(self, op: Op) -> str | None: ...

    def explain(self, state: Any, op: Op) -> str: ...

    def describe_state(self, state: Any) -> str: ...

    def describe_op(self, op: Op) -> str: ...

    read_only: Callable[[Op], bool] | None
    effect_key: Callable[[Op], Any] | None
    blind: Callable[[Op], bool] | None
    observers: Callable[[list[Op]], dict[int, list[Op]]] | None


# The optional hooks whose absence means "no hint": None, not a default function.
SPEED_HOOKS = ("read_only", "effect_key", "blind", "observers")

NO_INIT = object()  # "no init given": each spec keeps its own initial state
_NO_INIT = NO_INIT

_STEP_HELP = (
    "write `def step(self, state, op): return ok, new_state`, where ok says whether op can "
    "take effect in state with the output it returned (e.g. `return True, state + op.value`)"
)


def _spec_label(spec: Any) -> str:
    return repr(getattr(spec, "name", None) or type(spec).__name__)


def _check_required(spec: Any) -> None:
    if isinstance(spec, type):
        raise SpecError(f"spec {spec.__name__} is a class: pass an instance, {spec.__name__}()")
    if not callable(getattr(spec, "step", None)):
        raise SpecError(f"spec {_spec_label(spec)} has no step(state, op) method; {_STEP_HELP}")
    if not callable(getattr(spec, "init", None)):
        raise SpecError(
            f"spec {_spec_label(spec)} has no init() method; write `def init(self): return "
            "<the initial state>` (a small hashable value, e.g. 0)"
        )


class FilledSpec:
    """A user's spec with every hook of :class:`SpecContract` present: the user's own
    where written, else the default (as Porcupine's fillDefault does). Anything else
    (``initial``, ``nil_read``, a helper the user's hooks call) is the user's object's."""

    def __init__(self, spec: Any, init: Any = _NO_INIT):
        _check_required(spec)
        self.spec = spec
        self.name: str = getattr(spec, "name", None) or type(spec).__name__
        self._init = init
        if init is not _NO_INIT:
            self.initial = init
        self.step: Callable[[Any, Op], tuple[bool, Any]] = spec.step
        for hook in ("partition", "prune", "validate", "explain", "describe_state", "describe_op"):
            mine = getattr(spec, hook, None)
            if mine is not None:
                setattr(self, hook, mine)
        for hook in SPEED_HOOKS:
            setattr(self, hook, getattr(spec, hook, None))

    def init(self) -> Any:
        return self.spec.init() if self._init is _NO_INIT else self._init

    def partition(self, ops: list[Op]) -> Iterable[list[Op]]:
        return split_by_key(ops)

    def prune(self, ops: list[Op]) -> list[Op]:
        return ops

    def validate(self, op: Op) -> str | None:
        return None

    def explain(self, state: Any, op: Op) -> str:
        return f"not allowed by {self.name} in state {state!r}"

    def describe_state(self, state: Any) -> str:
        return fmt(state)

    def describe_op(self, op: Op) -> str:
        return default_describe_op(op)

    def __getattr__(self, name: str) -> Any:
        if name == "spec":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.spec, name)

    def __reduce__(self) -> tuple[Any, tuple[Any, Any]]:
        # worker processes get the spec pickled: rebuild the adapter around it there
        return (FilledSpec, (self.spec, self._init))


def as_spec(spec: Any, init: Any = _NO_INIT) -> Any:
    """``spec`` with every hook of the contract, checked once: a built-in spec (a
    BaseSpec, which defines them all) as it is, a user's object wrapped in FilledSpec.
    ``init``, when given, replaces the initial state. Idempotent; raises SpecError."""
    if isinstance(spec, BaseSpec) or (isinstance(spec, FilledSpec) and init is _NO_INIT):
        if init is _NO_INIT:
            _check_required(spec)
            return spec
        return spec.with_init(init) if isinstance(spec, BaseSpec) else FilledSpec(spec.spec, init)
    if isinstance(spec, FilledSpec):
        return FilledSpec(spec.spec, init)
    return FilledSpec(spec, init)


def check_step_shape(spec: Any, ops: Iterable[Op]) -> None:
    """Raise SpecError when ``spec.step`` does not answer a pair (ok, new state): tried on
    the first op of each function, from the initial state, before any search. A step
    that raises here is left for the search to meet (it may never take that path)."""
    try:
        state = spec.init()
    except Exception:  # the search will raise it where it matters
        return
    seen: set[Any] = set()
    for op in ops:
        if op.f in seen:
            continue
        if len(seen) >= 16:
            break
        seen.add(op.f)
        try:
            got = spec.step(state, op)
        except Exception:  # only the shape is judged here
            continue
        if not (isinstance(got, (tuple, list)) and len(got) == 2 and got[0] in (True, False)):
            raise SpecError(
                f"spec {_spec_label(spec)}: step(state, op) returned {got!r} for a {op.f} op, "
                f"not a pair (ok, new_state); {_STEP_HELP}"
            )


def step_shape_error(spec: Any, e: BaseException) -> SpecError | None:
    """The SpecError for an exception the search met unpacking ``step``'s answer (a step
    that answers a bare bool on some path only), else None."""
    if isinstance(e, (TypeError, ValueError)) and not isinstance(e, SpecError) and "unpack" in str(e):
        return SpecError(f"spec {_spec_label(spec)}: step(state, op) must return a pair: {e}; {_STEP_HELP}")
    return None


def hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def validate_ops(ops: Iterable[Op], spec: Any, path: str | None = None) -> None:
    """Raise HistoryError at the first op whose value has a shape ``spec.validate``
    rejects, naming its line: every check validates here, before it searches."""
    validate = as_spec(spec).validate
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
    # the speed hints a spec may leave out (see SpecContract): None means "no hint"
    blind: Callable[[Op], bool] | None = None
    observers: Callable[[list[Op]], dict[int, list[Op]]] | None = None

    def __init__(self, init: Any = None, nil_read: str = "absent"):
        if nil_read not in NIL_READS:
            raise ValueError(f"nil_read must be one of {NIL_READS}, not {nil_read!r}")
        self.initial = init
        self.nil_read = nil_read

    def init(self) -> Any:
        return self.initial

    def with_init(self, init: Any) -> BaseSpec:
        """This spec starting from ``init``, normalized as the constructor does when it
        takes ``init`` (every built-in spec's does)."""
        try:
            params = dict(inspect.signature(type(self)).parameters)
        except (TypeError, ValueError):
            params = {}
        if "init" in params:
            kw = {"nil_read": self.nil_read} if "nil_read" in params else {}
            return type(self)(init=init, **kw)
        other = copy.copy(self)  # a constructor of its own: set the state it starts from
        other.initial = init
        return other

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
