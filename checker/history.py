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
        text = f"{where}: {self.message}"
        # one line, whatever names the history holds (an f of "a\nb", a path with a tab)
        return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


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
                        f"independent history: {op.f} value must be a pair [key value], got {show(v)}",
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


MAX_DEPTH = 100
"""How deeply values may nest: far past any recorded data, well short of the recursion
that hashing, comparing and printing a value take (a hostile 10,000-deep value would
crash them all)."""


def tuplify(v: Any, depth: int = 0) -> Any:
    """Lists become tuples, recursively, so values are hashable states (JSON gives lists).

    A value nested deeper than ``MAX_DEPTH`` is refused (HistoryError, no line: the
    caller knows it)."""
    t = type(v)
    if t is list:
        # A list-append read returns long lists of scalars. Such a tuple hashes (one C
        # call), and one holding a list or dict, at any depth, cannot: recurse only then.
        flat = tuple(v)
        try:
            hash(flat)
            return flat
        except TypeError:
            pass
        if depth >= MAX_DEPTH:
            raise HistoryError(f"value nested deeper than {MAX_DEPTH} levels")
        return tuple([tuplify(x, depth + 1) if type(x) in _NESTED else x for x in v])
    if t is dict:
        if depth >= MAX_DEPTH:
            raise HistoryError(f"value nested deeper than {MAX_DEPTH} levels")
        return {k: tuplify(x, depth + 1) if type(x) in _NESTED else x for k, x in v.items()}
    return v


def nesting_ok(v: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a value built elsewhere (tuples, dicts, sets) nests at most ``limit`` deep;
    iterative, so that a value too deep to recurse into is answered too."""
    todo = [(v, 0)]
    while todo:
        x, d = todo.pop()
        if isinstance(x, dict):
            items: Iterable = (*x.keys(), *x.values())
        elif isinstance(x, (tuple, list, set, frozenset)):
            items = x
        else:
            continue
        if d >= limit:
            return False
        todo.extend((y, d + 1) for y in items)
    return True


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
    if f.__class__ is not str and f.__class__ in _UNHASHABLE:
        raise HistoryError(f"'f' must be a name, got {show(f)}", path, line)
    t = d.get("time")
    if t is not None and t.__class__ is not int:
        if t.__class__ is not float and (isinstance(t, bool) or not isinstance(t, _NUMBERS)):
            raise HistoryError(f"'time' must be a number, got {show(t)}", path, line)
        if not t - t == 0:  # NaN and infinities order nothing
            raise HistoryError(f"'time' must be a finite number, got {t!r}", path, line)
    try:
        if d.keys() <= _KNOWN_FIELDS:
            extra = NO_EXTRA
        else:
            extra = {
                k: tuplify(v) if v.__class__ in _NESTED else v for k, v in d.items() if k not in _KNOWN_FIELDS
            }
        # most values and keys are scalars: skip the call for them (200k events, two each)
        value, key = d.get("value"), d.get("key")
        if value.__class__ in _NESTED:
            value = tuplify(value)
        if key.__class__ in _NESTED:
            key = tuplify(key)
        if key.__class__ is not str and key is not None and key.__class__ is not int:
            hash(key)  # the key splits the history: a map in it (say, from EDN) cannot
    except HistoryError as e:
        raise HistoryError(e.message, path, line) from None
    except TypeError:
        raise HistoryError(
            f"'key' must be a number, a name or a list of them, got {show(key)}", path, line
        ) from None
    return Event(process, typ, f, value, key, t, d.get("index"), d.get("node"), line, extra)


_UNHASHABLE = (list, dict, set)


def show(v: Any, limit: int = 60) -> str:
    """A value for an error message: short, and never an error itself (a 5,000-digit
    integer has no repr under Python's limit; a deep value has none within recursion)."""
    try:
        r = repr(v)
    except (ValueError, RecursionError):
        r = f"<{type(v).__name__} too large to show>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _refuse(d: Any, path: str | None, line: int | None) -> NoReturn:
    """Raise the error that says what is wrong with an event map the fast path refused."""
    if not isinstance(d, dict):
        raise HistoryError(f"expected an event map, got {type(d).__name__}", path, line)
    for name in ("process", "type"):
        if name not in d:
            raise HistoryError(f"event has no '{name}' field", path, line)
    raise HistoryError(f"unknown type {show(d['type'])}; expected one of invoke, ok, fail, info", path, line)


def _describe(e: Event) -> str:
    return f"{e.f}" + (f" at line {e.line}" if e.line is not None else "")


def pair(events: list[Event], *, path: str | None = None) -> tuple[list[Op], list[Event]]:
    """Pair invocations with completions, enforcing Jepsen's rules for processes.

    With timestamps, a process's own order still holds: an invocation stamped with the
    same time as the process's previous completion comes after it (see ``_untie``), and
    one stamped earlier is refused.
    """
    timed = all(e.time is not None for e in events if e.process != NEMESIS)
    pending: dict[Any, tuple[int, Event, float]] = {}
    crashed: dict[Any, Event] = {}
    completed: dict[Any, tuple[int, Event, float, int]] = {}  # timed: each process's last completion
    ties: list[tuple[int, int, int, int]] = []  # timed, one instant: (slot, its completion's
    # position, the process's next slot, its invocation's position)
    slots: list[tuple | None] = []  # (invocation, completion or None, call, ret)
    faults: list[Event] = []
    for pos, e in enumerate(events):
        if e.process == NEMESIS:
            faults.append(e)
            continue
        try:
            hash(e.process)
        except (TypeError, RecursionError):
            raise HistoryError(
                f"process must be a number or a name, got {show(e.process)}", path, e.line
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
            if timed and e.process in completed:
                last_slot, last, last_time, last_pos = completed[e.process]
                if now < last_time:
                    raise HistoryError(
                        f"process {e.process} invokes {e.f} at time {now}, before its previous "
                        f"{_describe(last)} completed at time {last_time}; a process's times "
                        "cannot go backwards",
                        path,
                        e.line,
                    )
                if now == last_time:
                    ties.append((last_slot, last_pos, len(slots), pos))
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
        elif timed:
            completed[e.process] = (slot, e, now, pos)
        slots[slot] = (inv, e, call, now)
    for slot, inv, call in pending.values():
        slots[slot] = (inv, None, call, math.inf)
    if ties:
        _untie(slots, ties, len(events))
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


def _untie(slots: list, ties: list[tuple[int, int, int, int]], n_events: int) -> None:
    """Order each tied completion before its process's next invocation, changing no
    other order: the search knows real time as one number per call and return, where an
    op precedes another only if it returned strictly before the other was called.

    At an instant t with ties, calls not tied keep t, returns not tied go to the top of
    t's interval (still concurrent with everything stamped t), and the tied returns and
    calls go between, in the order they were recorded: within one process that is its
    own order. Between two processes tied at the same instant the recorded order decides
    too (no one number per point can leave them unordered and keep each process's own).
    A tie moves times within the gap to the next time in the history; where floats are
    too coarse to split that gap, all points become ranks (still in the same order).
    """
    tied_ret = {slot: pos + 1 for slot, pos, _, _ in ties}
    tied_call = {slot: pos + 1 for _, _, slot, pos in ties}
    # a point's level within its instant: 0 for untied calls, top for untied returns,
    # else one past the event's position (recorded order)
    top = n_events + 2
    levels: dict[Any, set[int]] = {}
    for slot, ret_pos, _, call_pos in ties:
        levels.setdefault(slots[slot][3], {0, top}).update((ret_pos + 1, call_pos + 1))
    # only the points at an instant with a tie move, within the gap to the next time
    times = sorted({t for s in slots for t in (s[2], s[3])} - {math.inf})
    following = {t: times[k + 1] if k + 1 < len(times) else t + 1 for k, t in enumerate(times) if t in levels}
    where: dict[tuple, float] = {}
    exact = True
    for t, level_set in levels.items():
        ordered = sorted(level_set)
        nxt, before = following[t], t
        for n, level in enumerate(ordered):
            try:
                x = t if n == 0 else t + (nxt - t) * n / len(ordered)
            except OverflowError:  # an integer time past what a float holds
                x, exact = t, False
            if n and not before < x < nxt:  # floats too coarse to split the gap
                exact = False
            where[t, level] = before = x
    moved = [i for i, s in enumerate(slots) if s[2] in levels or s[3] in levels]
    if exact:
        for i in moved:
            inv, comp, call, ret = slots[i]
            if call in levels:
                call = where[call, tied_call.get(i, 0)]
            if ret in levels:
                ret = where[ret, tied_ret.get(i, top)]
            slots[i] = (inv, comp, call, ret)
        return
    # ranks: every point's (time, level), in order, numbered
    keys = [
        ((call, tied_call.get(i, 0)), (ret, tied_ret.get(i, top)))
        for i, (_, _, call, ret) in enumerate(slots)
    ]
    rank = {k: float(r) for r, k in enumerate(sorted({k for ks in keys for k in ks if k[0] != math.inf}))}
    for i, (ck, rk) in enumerate(keys):
        inv, comp, _, _ = slots[i]
        slots[i] = (inv, comp, rank[ck], rank.get(rk, math.inf))


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


def events_for(ops: Iterable[Op], timed: bool, times: dict[int, Any] | None = None) -> list[dict]:
    """Events that pair back into exactly these operations, in real-time order.

    Used to write out a sub-history: positions are renumbered but their order kept;
    timestamps, where the history had them, are kept as they were: ``times`` maps an
    event's line to its recorded time (an op's ``call``/``ret`` may have been moved apart
    from it, see ``_untie``); without it, or for an event it lacks, ``call``/``ret`` are
    written. The order written is the order of ``call``/``ret``, so that a completion
    tied with its process's next invocation is written first, as the reader needs.
    A completed ``info`` goes last: when it arrived says nothing (the op may take
    effect at any later time).
    """
    times = times or {}
    points: list[tuple[float, int, Any, dict]] = []
    for op in ops:
        call = times.get(op.line, op.call) if op.line is not None else op.call
        points.append((op.call, 0, call, _event_of(op, "invoke", op.value, **op.extra)))
        if op.status in ("ok", "fail"):
            ret = times.get(op.ret_line, op.ret) if op.ret_line is not None else op.ret
            points.append((op.ret, 1, ret, _event_of(op, op.status, op.output if op.ok else op.value)))
        elif op.ret_line is not None:
            points.append((math.inf, 1, math.inf, _event_of(op, "info", op.value)))
    points.sort(key=lambda p: (p[0], p[1]))
    if timed:
        last = max((t for _, _, t, _ in points if t != math.inf), default=0)
        for _, _, t, event in points:
            event["time"] = t if t != math.inf else last
    return [event for _, _, _, event in points]


def _event_of(op: Op, type_: str, value: Any, **extra: Any) -> dict:
    where = {k: v for k, v in (("key", op.key), ("node", op.node)) if v is not None}
    return {"process": op.process, "type": type_, "f": op.f, "value": value, **where, **extra}
