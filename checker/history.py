"""Histories with Jepsen semantics: events in, paired operations out.

A history is a sequence of events. Each operation is an ``invoke`` by a process followed
later by that process's completion: ``ok`` (it took effect, with the returned value),
``fail`` (it certainly did not take effect) or ``info`` (unknown: it may have taken
effect at any moment after its invocation, or never). A process that saw ``info`` never
invokes again. An invocation with no completion at the end of the history is treated as
``info``: the client never learned what happened, which is exactly Jepsen's crash.

Events from the nemesis (process ``nemesis``) are fault annotations, kept for reports and
left out of every search.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

EVENT_TYPES = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"


class HistoryError(ValueError):
    """Bad input: names the file, the line and the problem."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path or "<history>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"


class _Unknown:
    """The completion value of an operation whose outcome nobody learned."""

    _instance = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@contextmanager
def no_gc() -> Iterator[None]:
    """Run a block with the cyclic garbage collector paused.

    Parsing and checking a big history allocate millions of containers and free almost
    none: the collector rescans the whole growing heap again and again for cycles that
    are not there (JSON decoding of 100k events: 2 s with it, 0.7 s without).
    Reference counting still frees everything; cycles wait until the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class Event:
    """One line of a history, as recorded.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, and a
    big history builds hundreds of thousands of events. Nothing could hash one anyway
    (``extra`` is a dict), and nothing changes one after parsing (``extra`` is shared
    between events and ops: never change it in place).
    """

    process: Any
    type: str
    f: Any
    value: Any = None
    key: Any = None
    time: int | float | None = None
    index: int | None = None
    node: Any = None
    line: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d: dict = {"process": self.process, "type": self.type, "f": self.f, "value": self.value}
        for name in ("key", "time", "index", "node"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        d.update(self.extra)
        return d


@dataclass(slots=True, unsafe_hash=True)
class Op:
    """An operation: an invocation paired with its completion.

    Treated as immutable, but not frozen, for the reason ``Event`` is not: a frozen
    dataclass costs twice as much to build, and ``pair`` builds one per operation.
    Hashable by its fields (``extra`` aside) as a frozen one would be.

    ``value`` is what the invocation carried (the value written, the cas pair);
    ``output`` is what the completion returned, or ``UNKNOWN`` when the operation did not
    complete ``ok``. ``call`` and ``ret`` are the interval in real time (event positions,
    or timestamps where every event has one); ``ret`` is infinite for an operation that
    never completed or completed ``info``.
    """

    id: int
    process: Any
    f: str
    value: Any
    output: Any
    status: str  # "ok" | "fail" | "info"
    call: float
    ret: float
    key: Any = None
    node: Any = None
    line: int | None = None
    ret_line: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def crashed(self) -> bool:
        return self.status == "info"

    def to_dict(self) -> dict:
        d = {
            "id": self.id,
            "process": self.process,
            "f": self.f,
            "value": self.value,
            "status": self.status,
        }
        if self.output is not UNKNOWN:
            d["output"] = self.output
        if self.key is not None:
            d["key"] = self.key
        if self.node is not None:
            d["node"] = self.node
        if self.line is not None:
            d["line"] = self.line
        return d


@dataclass
class History:
    """A parsed, validated history.

    ``ops`` are the client operations in invocation order; ``faults`` are nemesis events;
    ``meta`` says how to judge the history where the file said so (``spec``, ``init``,
    ``nil_read``, ``source``); ``skipped`` counts input lines that were not events, by
    reason, so that nothing is dropped silently.
    """

    ops: list[Op]
    faults: list[Event] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    path: str | None = None
    format: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    @property
    def timed(self) -> bool:
        """Real time comes from timestamps (every client event has one), not positions."""
        return bool(self.events) and all(e.time is not None for e in self.events if e.process != NEMESIS)

    @property
    def never_completed(self) -> int:
        return sum(1 for op in self.ops if op.status == "info" and op.ret_line is None)

    @classmethod
    def from_events(
        cls,
        events: Iterable[Event | dict],
        *,
        path: str | None = None,
        meta: dict | None = None,
        format: str | None = None,
        skipped: dict[str, int] | None = None,
    ) -> History:
        evs = [e if isinstance(e, Event) else event_from_dict(e, path=path) for e in events]
        ops, faults = pair(evs, path=path)
        return cls(
            ops=ops,
            faults=faults,
            meta=dict(meta or {}),
            path=path,
            format=format,
            skipped=dict(skipped or {}),
            events=evs,
        )

    def independent(self) -> History:
        """Unwrap Jepsen's independent keys: ``value`` ``[k v]`` becomes key ``k``, value ``v``.

        Jepsen's ``independent`` tests run one small history per key inside one big one,
        writing every value as a tuple ``[key value]``; unwrapped, the history splits by
        key like any other.
        """
        ops: list[Op] = []
        for op in self.ops:
            parts = []
            for v in (op.value, op.output):
                if v is UNKNOWN or v is None:
                    parts.append((None, v))
                elif isinstance(v, tuple) and len(v) == 2:
                    parts.append(v)
                else:
                    raise HistoryError(
                        f"independent history: {op.f} value must be a pair [key value], got {v!r}",
                        self.path,
                        op.line,
                    )
            key = parts[0][0] if parts[0][0] is not None else parts[1][0]
            if key is None:
                raise HistoryError(
                    f"independent history: {op.f} names no key in [key value]", self.path, op.line
                )
            # positional, not dataclasses.replace: this runs once per op of a big history
            ops.append(
                Op(op.id, op.process, op.f, parts[0][1], parts[1][1], op.status, op.call, op.ret,
                   key, op.node, op.line, op.ret_line, op.extra)
            )  # fmt: skip
        return History(
            ops=ops,
            faults=self.faults,
            meta=self.meta,
            path=self.path,
            format=self.format,
            skipped=self.skipped,
            events=self.events,
        )


# The extra fields of every event and op that has none: one dict, shared, never changed
# (a million-op history would otherwise hold three million empty dicts, 190 MB).
NO_EXTRA: dict = {}

_KNOWN_FIELDS = frozenset(("process", "type", "f", "value", "key", "time", "index", "node"))


def tuplify(v: Any) -> Any:
    """Lists become tuples, recursively, so values are hashable states (JSON gives lists)."""
    t = type(v)
    if t is list:
        # A list-append read returns long lists of scalars. Such a tuple hashes (one C
        # call), and one holding a list or dict, at any depth, cannot: recurse only then.
        flat = tuple(v)
        try:
            hash(flat)
            return flat
        except TypeError:
            return tuple([tuplify(x) if type(x) in _NESTED else x for x in v])
    if t is dict:
        return {k: tuplify(x) if type(x) in _NESTED else x for k, x in v.items()}
    return v


_NESTED = (list, dict)


_TYPES = {**{t: t for t in EVENT_TYPES}, **{":" + t: t for t in EVENT_TYPES}}
_NUMBERS = (int, float)


def event_from_dict(d: dict, *, path: str | None = None, line: int | None = None) -> Event:
    """Build an Event from a Jepsen-shaped map, checking the fields every event needs."""
    # Written for speed (it runs once per event of a big history): the common case takes
    # no isinstance call and no comprehension; anything unusual goes to _refuse.
    try:
        typ = _TYPES[d["type"]]
        process = d["process"]
    except (KeyError, TypeError):
        _refuse(d, path, line)
    if process.__class__ is str and process[:1] == ":":
        process = process[1:]
    f = d.get("f")
    if f is None and "f" not in d and process != NEMESIS:
        raise HistoryError("event has no 'f' field", path, line)
    if f.__class__ is str and f[:1] == ":":
        f = f[1:]
    t = d.get("time")
    if t is not None and t.__class__ not in _NUMBERS and (isinstance(t, bool) or not isinstance(t, _NUMBERS)):
        raise HistoryError(f"'time' must be a number, got {t!r}", path, line)
    extra = NO_EXTRA if d.keys() <= _KNOWN_FIELDS else {k: v for k, v in d.items() if k not in _KNOWN_FIELDS}
    # most values and keys are scalars: skip the call for them (200k events, two each)
    value, key = d.get("value"), d.get("key")
    if value.__class__ in _NESTED:
        value = tuplify(value)
    if key.__class__ in _NESTED:
        key = tuplify(key)
    return Event(process, typ, f, value, key, t, d.get("index"), d.get("node"), line, extra)


def _refuse(d: Any, path: str | None, line: int | None) -> NoReturn:
    """Raise the error that says what is wrong with an event map the fast path refused."""
    if not isinstance(d, dict):
        raise HistoryError(f"expected an event map, got {type(d).__name__}", path, line)
    for name in ("process", "type"):
        if name not in d:
            raise HistoryError(f"event has no '{name}' field", path, line)
    raise HistoryError(f"unknown type {d['type']!r}; expected one of invoke, ok, fail, info", path, line)


def _describe(e: Event) -> str:
    return f"{e.f}" + (f" at line {e.line}" if e.line is not None else "")


def pair(events: list[Event], *, path: str | None = None) -> tuple[list[Op], list[Event]]:
    """Pair invocations with completions, enforcing Jepsen's rules for processes."""
    timed = all(e.time is not None for e in events if e.process != NEMESIS)
    pending: dict[Any, tuple[int, Event, float]] = {}
    crashed: dict[Any, Event] = {}
    slots: list[tuple | None] = []  # (invocation, completion or None, call, ret)
    faults: list[Event] = []
    for pos, e in enumerate(events):
        if e.process == NEMESIS:
            faults.append(e)
            continue
        try:
            hash(e.process)
        except TypeError:
            raise HistoryError(
                f"process must be a number or a name, got {e.process!r}", path, e.line
            ) from None
        if timed:
            assert e.time is not None  # timed: every client event has a time
            now: float = e.time
        else:
            now = pos
        if e.type == "invoke":
            if e.process in pending:
                _, prev, _ = pending[e.process]
                raise HistoryError(
                    f"process {e.process} invokes {e.f} before its {_describe(prev)} completed",
                    path,
                    e.line,
                )
            if e.process in crashed:
                raise HistoryError(
                    f"process {e.process} invokes {e.f} after its {_describe(crashed[e.process])} "
                    "ended with info; a crashed process never invokes again (Jepsen gives the "
                    "next operation a new process id)",
                    path,
                    e.line,
                )
            pending[e.process] = (len(slots), e, now)
            slots.append(None)
            continue
        if e.process not in pending:
            raise HistoryError(
                f"{e.type} completion of {e.f} by process {e.process} has no invocation", path, e.line
            )
        slot, inv, call = pending.pop(e.process)
        if e.f != inv.f:
            raise HistoryError(
                f"{e.type} completion of {e.f} does not match process {e.process}'s invocation "
                f"of {_describe(inv)}",
                path,
                e.line,
            )
        if timed and now < call:
            raise HistoryError(
                f"completion time {now} is before its invocation's time {call} (line {inv.line})",
                path,
                e.line,
            )
        if e.type == "info":
            crashed[e.process] = e
        slots[slot] = (inv, e, call, now)
    for slot, inv, call in pending.values():
        slots[slot] = (inv, None, call, math.inf)
    ops: list[Op] = []
    for i, s in enumerate(slots):
        assert s is not None
        inv, comp, call, ret = s
        status = comp.type if comp is not None else "info"
        output = comp.value if status == "ok" else UNKNOWN
        value = inv.value
        if status == "info":
            ret = math.inf
        extra = inv.extra
        if comp is not None and comp.extra:
            extra = {**extra, **comp.extra} if extra else comp.extra
        f, key = inv.f, inv.key if inv.key is not None else (comp.key if comp else None)
        if f == "txn" and (micro := _single_micro_op(value)) is not None:
            f, key, value = micro
            if output is not UNKNOWN:
                done = _single_micro_op(output)
                output = done[2] if done is not None else output
        node = comp.node if comp is not None and comp.node is not None else inv.node
        ret_line = comp.line if comp is not None else None
        # positional: keywords cost three times as much, once per op of a big history
        op = Op(i, inv.process, f, value, output, status, call, ret, key, node, inv.line, ret_line, extra)
        ops.append(op)
    return ops, faults


_MICRO_OPS = {"r": "read", "w": "write", "append": "append"}


def _single_micro_op(value: Any) -> tuple[str, Any, Any] | None:
    """Elle's ``txn [[:append k v]]`` / ``[[:r k [..]]]`` holding one micro-operation, as
    ``(f, key, value)``; a read's value is what it returned. Several micro-operations
    make a transaction, which is Elle's business, not a single-object check's."""
    if not (isinstance(value, tuple) and len(value) == 1):
        return None
    mop = value[0]
    if not (isinstance(mop, tuple) and len(mop) == 3 and isinstance(mop[0], str)):
        return None
    f = _MICRO_OPS.get(mop[0].lstrip(":"))
    if f is None:
        return None
    return f, mop[1], mop[2]


def events_for(ops: Iterable[Op], timed: bool) -> list[dict]:
    """Events that pair back into exactly these operations, in real-time order.

    Used to write out a sub-history: positions are renumbered but their order kept;
    timestamps, where the history had them, are kept as they were. A completed ``info``
    goes last: when it arrived says nothing (the op may take effect at any later time).
    """
    points: list[tuple[float, int, dict]] = []
    for op in ops:
        points.append((op.call, 0, _event_of(op, "invoke", op.value, **op.extra)))
        if op.status in ("ok", "fail"):
            points.append((op.ret, 1, _event_of(op, op.status, op.output if op.ok else op.value)))
        elif op.ret_line is not None:
            points.append((math.inf, 1, _event_of(op, "info", op.value)))
    points.sort(key=lambda p: (p[0], p[1]))
    if timed:
        last = max((t for t, _, _ in points if t != math.inf), default=0)
        for t, _, event in points:
            event["time"] = t if t != math.inf else last
    return [event for _, _, event in points]


def _event_of(op: Op, type_: str, value: Any, **extra: Any) -> dict:
    where = {k: v for k, v in (("key", op.key), ("node", op.node)) if v is not None}
    return {"process": op.process, "type": type_, "f": op.f, "value": value, **where, **extra}
