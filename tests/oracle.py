"""A brute-force linearizability oracle, written apart from checker/linearizable.py.

It shares no code with the checker on purpose: it pairs events itself, implements every
built-in spec's sequential semantics itself, and searches by plain enumeration (no cache,
no pruning, no split by key). If the checker and this file ever disagree on a small
history, one of them is wrong, and this one is short enough to read in full.

The definition enumerated here (Jepsen semantics, Herlihy & Wing linearizability):

- ``ok`` operations must all appear in the order, ``fail`` operations never do, and any
  subset of ``info`` (crashed or never completed) operations may appear;
- the order must respect real time: A comes before B whenever A returned strictly
  before B was invoked (A.ret < B.call). Intervals are closed, so A.ret == B.call means
  the two are concurrent, with one exception: a process's own order is certain, so a
  completion followed at the same time by that process's next invocation is a "tied"
  return, that invocation a "tied" call, and a tied return precedes a tied call at the
  same time when it was recorded first (always so within one process). A crashed op
  never returned, so it constrains nothing;
- replaying the order on the sequential object must reproduce every ok op's output.

Keys: every spec treats ops on different keys as ops on different objects, each starting
at the initial value. The oracle does not split by key; it runs one state per key inside
a single enumeration, so the checker's split by key is itself under test (locality,
Herlihy & Wing's Theorem 1, says the verdicts must agree).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

SPECS = ("register", "cas-register", "kv", "set", "fifo-queue", "mutex", "list-append")

# Crashed ops returned nothing; distinct from None, which is a returned nil.
NO_OUTPUT = object()

MAX_OPS = 10  # brute force is factorial; refuse anything that would take minutes

DEFAULT_INIT = {
    "register": None,
    "cas-register": None,
    "kv": "",
    "set": frozenset(),
    "fifo-queue": (),
    "mutex": False,
    "list-append": (),
}


@dataclass(frozen=True)
class OOp:
    """The oracle's own operation record (deliberately not checker.history.Op)."""

    id: int  # position among invocations, which is also how the checker numbers ops
    process: Any
    f: str
    value: Any
    output: Any  # NO_OUTPUT unless status == "ok"
    status: str  # ok | fail | info
    call: float
    ret: float  # math.inf for info
    key: Any = None
    ret_seq: int | None = None  # position of a tied completion (see the module's doc)
    call_seq: int | None = None  # position of a tied invocation


def pair_events(events: Sequence[dict]) -> list[OOp]:
    """Jepsen pairing: each process's invoke is completed by that process's next event.

    Real time is the event's position, or its ``time`` when every client event has one.
    Nemesis events are annotations, not operations.
    """
    client = [(pos, e) for pos, e in enumerate(events) if _clean(e["process"]) != "nemesis"]
    timed = all(e.get("time") is not None for _, e in client)
    open_: dict[Any, int] = {}
    last: dict[Any, tuple[int, Any, int]] = {}  # process -> (rec, time, position) of its completion
    recs: list[dict] = []
    for pos, e in client:
        now = e["time"] if timed else pos
        p = e["process"]
        typ = _clean(e["type"])
        if typ == "invoke":
            assert p not in open_, f"process {p} invoked twice"
            open_[p] = len(recs)
            recs.append({"inv": e, "call": now, "comp": None, "ret": math.inf, "rs": None, "cs": None})
            if timed and p in last and last[p][1] == now:
                recs[last[p][0]]["rs"] = last[p][2]
                recs[-1]["cs"] = pos
        else:
            k = open_.pop(p)
            recs[k]["comp"] = e
            recs[k]["ret"] = now
            last[p] = (k, now, pos)
    out = []
    for i, r in enumerate(recs):
        inv, comp = r["inv"], r["comp"]
        status = _clean(comp["type"]) if comp is not None else "info"
        out.append(
            OOp(
                id=i,
                process=inv["process"],
                f=_clean(inv["f"]),
                value=inv.get("value"),
                output=comp.get("value") if status == "ok" else NO_OUTPUT,
                status=status,
                call=r["call"],
                ret=r["ret"] if status != "info" else math.inf,
                key=inv.get("key"),
                ret_seq=r["rs"],
                call_seq=r["cs"],
            )
        )
    return out


def from_checker_ops(ops: Iterable[Any]) -> list[OOp]:
    """Convert checker Ops (e.g. what a spec's prune returned) into oracle ops."""
    out = []
    for op in ops:
        status = op.status
        out.append(
            OOp(
                id=op.id,
                process=op.process,
                f=op.f,
                value=op.value,
                output=op.output if status == "ok" else NO_OUTPUT,
                status=status,
                call=op.call,
                ret=op.ret if status != "info" else math.inf,
                key=op.key,
            )
        )
    return out


def _clean(v: Any) -> Any:
    return v[1:] if isinstance(v, str) and v.startswith(":") else v


# ------------------------------------------------------------------ sequential semantics


class _Unset:
    """Marks an argument left out (None is a meaningful initial value)."""


_UNSET = _Unset()


class Semantics:
    """One object of a built-in spec. ``apply`` returns the new state, or None if the op
    cannot take effect in ``state`` with the output it returned. States are wrapped in a
    1-tuple so that a state of None (a nil register) is distinguishable from "illegal"."""

    def __init__(self, spec: str, init: Any = _UNSET, nil_read: str = "absent"):
        if spec not in SPECS:
            raise ValueError(f"oracle knows no spec {spec!r}")
        if nil_read not in ("absent", "unknown"):
            raise ValueError(nil_read)
        self.spec = spec
        self.init = DEFAULT_INIT[spec] if init is _UNSET else init
        if spec == "set":
            self.init = frozenset(self.init or ())
        elif spec in ("fifo-queue", "list-append"):
            self.init = tuple(self.init or ())
        elif spec == "mutex":
            self.init = bool(self.init)
        self.nil_read = nil_read

    def _free_read(self, op: OOp) -> bool:
        # A crashed read returned nothing; under Knossos's rule a nil read returned
        # nothing usable either. Both match every state.
        return op.output is NO_OUTPUT or (op.output is None and self.nil_read == "unknown")

    def apply(self, state: Any, op: OOp) -> tuple | None:
        s, f = self.spec, op.f
        if s in ("register", "cas-register"):
            if f == "write":
                return (op.value,)
            if f == "read":
                return (state,) if self._free_read(op) or op.output == state else None
            if f == "cas" and s == "cas-register":
                expect, new = op.value
                return (new,) if state == expect else None
            return None
        if s == "kv":
            if f == "put":
                return (op.value,)
            if f == "append":
                return (state + op.value,)
            if f == "get":
                # "absent": a nil get means the key was never written, i.e. holds ""
                seen = "" if op.output is None else op.output
                return (state,) if self._free_read(op) or seen == state else None
            return None
        if s == "set":
            if f == "add":
                return (state | {op.value},)
            if f == "read":
                if self._free_read(op):
                    return (state,)
                # "absent": a nil read means the set does not exist yet, i.e. is empty
                seen = frozenset(op.output) if op.output is not None else frozenset()
                return (state,) if seen == state else None
            return None
        if s == "fifo-queue":
            if f == "enqueue":
                return (state + (op.value,),)
            if f == "dequeue":
                if op.output is NO_OUTPUT:
                    # a crashed dequeue removed the head, or found the queue empty
                    return (state[1:],)
                if not state:
                    return (state,) if op.output is None else None
                return (state[1:],) if op.output == state[0] else None
            return None
        if s == "mutex":
            if f == "acquire":
                return None if state else (True,)
            if f == "release":
                return (False,) if state else None
            return None
        if s == "list-append":
            if f == "append":
                return (state + (op.value,),)
            if f == "read":
                if self._free_read(op):
                    return (state,)
                # "absent": a nil read means the list does not exist yet, i.e. is empty
                seen = () if op.output is None else tuple(op.output)
                return (state,) if seen == state else None
            return None
        raise AssertionError(s)


# ------------------------------------------------------------------ the enumeration


def _precedes(a: OOp, b: OOp) -> bool:
    if a.ret == b.call and a.ret_seq is not None and b.call_seq is not None:
        return a.ret_seq < b.call_seq
    return a.ret < b.call


def replay(order: Sequence[OOp], sem: Semantics) -> bool:
    """Does running ``order`` on one object per key reproduce every output?"""
    states: dict[Any, Any] = {}
    for op in order:
        r = sem.apply(states.get(op.key, sem.init), op)
        if r is None:
            return False
        states[op.key] = r[0]
    return True


def respects_real_time(order: Sequence[OOp]) -> bool:
    pos = {op.id: k for k, op in enumerate(order)}
    return all(not _precedes(b, a) for a in order for b in order if pos[a.id] < pos[b.id])


def linearizations(ops: Sequence[OOp], sem: Semantics) -> Iterator[list[OOp]]:
    """Every legal order: all subsets of info ops with all ok ops, all permutations
    that respect real time and replay correctly. Enumerated as a tree of prefixes, so a
    prefix that already breaks the spec or real time is not extended; nothing is cached,
    so this visits each (subset, permutation) that survives its prefix exactly once."""
    live = [op for op in ops if op.status != "fail"]
    oks = [op for op in live if op.status == "ok"]
    if len(live) > MAX_OPS:
        raise ValueError(f"oracle refuses {len(live)} ops (max {MAX_OPS}): factorial search")
    # b may be placed only after every ok op that returned before b was invoked
    # (crashed ops never returned, so they never constrain anything)
    must_follow = {b.id: [a.id for a in oks if _precedes(a, b)] for b in live}
    n_ok = len(oks)

    def extend(prefix: list[OOp], placed: set, states: dict, placed_ok: int):
        if placed_ok == n_ok:
            # remaining (crashed) ops are the ones not in this subset
            yield list(prefix)
        for op in live:
            if op.id in placed or not all(a in placed for a in must_follow[op.id]):
                continue
            r = sem.apply(states.get(op.key, sem.init), op)
            if r is None:
                continue
            old = states.get(op.key, _UNSET)
            states[op.key] = r[0]
            placed.add(op.id)
            prefix.append(op)
            yield from extend(prefix, placed, states, placed_ok + (op.status == "ok"))
            prefix.pop()
            placed.discard(op.id)
            if old is _UNSET:
                del states[op.key]
            else:
                states[op.key] = old

    yield from extend([], set(), {}, 0)


def is_linearizable(ops: Sequence[OOp], spec: str, init: Any = _UNSET, nil_read: str = "absent") -> bool:
    sem = Semantics(spec, init, nil_read)
    return next(linearizations(ops, sem), None) is not None


def oracle(events: Sequence[dict], spec: str, init: Any = _UNSET, nil_read: str = "absent") -> bool:
    """Is the history given as Jepsen event dicts linearizable w.r.t. the built-in spec?"""
    return is_linearizable(pair_events(events), spec, init, nil_read)


def naive_is_linearizable(
    ops: Sequence[OOp], spec: str, init: Any = _UNSET, nil_read: str = "absent"
) -> bool:
    """The definition read literally: every subset of info ops, every permutation,
    filter by real time, replay. Factorial without mercy; for cross-checking the
    prefix enumeration above on histories of up to ~6 ops."""
    sem = Semantics(spec, init, nil_read)
    live = [op for op in ops if op.status != "fail"]
    oks = [op for op in live if op.status == "ok"]
    infos = [op for op in live if op.status == "info"]
    for r in range(len(infos) + 1):
        for chosen in itertools.combinations(infos, r):
            for order in itertools.permutations(oks + list(chosen)):
                if respects_real_time(order) and replay(order, sem):
                    return True
    return False
