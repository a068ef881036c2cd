"""The linearizability search: Wing & Gong's backtracking with Lowe's memoisation.

A history is linearizable when every operation that completed ``ok`` can be given a
point inside its interval, and some crashed (``info``) operations too, so that the ops
in point order are a legal run of the sequential spec. The search builds that order one
op at a time. An op may go next only if it was invoked no later than the earliest
completion among ok ops not yet placed (intervals are closed: equal times are
concurrent). A configuration is the set of placed ops (one int, a bit per op) plus the
spec's state (interned to a small int); a configuration seen before is never explored
again, which turns the exponential search into one bounded by the number of distinct
configurations. Crashed ops never have to be placed, which is how "may have taken effect
at any moment after invocation, or never" is handled natively.
"""

from __future__ import annotations

import math
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Callable

from .history import Op

VALID, INVALID, UNKNOWN_VERDICT = True, False, "unknown"

# Bytes one cached configuration costs (the set slot plus the key int): measured with
# tracemalloc for ~100-op partitions and rounded up; the budget is approximate by nature.
_BYTES_PER_CONFIG = 120


@dataclass
class Budget:
    """Limits for one check. Past either, the verdict is unknown."""

    timeout: float | None = None  # seconds
    max_memory_mb: float | None = 2048.0

    def start(self, progress: Callable[[int, int], None] | None = None) -> "_Clock":
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        return _Clock(deadline, self, progress)


@dataclass
class _Clock:
    deadline: float | None
    budget: Budget
    # progress(done, total): completed operations placed so far, over all partitions
    progress: Callable[[int, int], None] | None = None
    done: int = 0  # completed operations in partitions already decided
    total: int = 0

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def max_configs(self, n_ops: int) -> float:
        if self.budget.max_memory_mb is None:
            return math.inf
        per = _BYTES_PER_CONFIG + 4 * (n_ops // 30)
        return self.budget.max_memory_mb * 1e6 / per


@dataclass
class Attempt:
    """A configuration at the furthest point the search reached, and what was tried there."""

    linearized: list[int]  # op ids, in linearization order where known
    state: Any
    tried: list[tuple[int, str]]  # (op id, why it could not go next)


@dataclass
class PartResult:
    valid: bool | str
    ops: list[Op]
    linearization: list[int] | None = None
    op: Op | None = None  # the op that could not be linearized
    previous_ok: Op | None = None
    attempts: list[Attempt] = field(default_factory=list)
    configs: int = 0
    reason: str | None = None  # why unknown
    reached: int = 0  # how many ok ops (by completion) the search got past


def wgl(ops: list[Op], spec: Any, clock: _Clock | None = None) -> PartResult:
    """Search for a linearization of ``ops`` (already partitioned and pruned)."""
    clock = clock or Budget(timeout=None, max_memory_mb=None).start()
    ops = sorted(ops, key=lambda o: (o.call, o.id))
    n = len(ops)
    calls = [o.call for o in ops]
    ok_order = sorted((i for i in range(n) if ops[i].ok), key=lambda i: (ops[i].ret, i))
    m = len(ok_order)
    if m == 0:
        return PartResult(VALID, ops, linearization=[])
    limit = [bisect_right(calls, ops[i].ret) for i in ok_order]
    window = [(1 << lim) - 1 for lim in limit]
    ret_bit = [1 << i for i in ok_order]
    ok_mask = sum(1 << i for i in ok_order)
    crash_mask = ((1 << n) - 1) ^ ok_mask
    read_only = getattr(spec, "read_only", None)
    ro_mask = sum(1 << i for i in ok_order if read_only(ops[i])) if read_only else 0

    init = spec.init()
    state_ids: dict[Any, int] = {init: 0}
    states: list[Any] = [init]
    trans: list[dict[int, int]] = [{} for _ in range(n)]
    step = spec.step
    seen: set[int] = set()
    max_configs = clock.max_configs(n)

    # A frame: [placed, state id, frontier j, ok candidates, crashed candidates].
    # Ok candidates are tried first: crashed ops never have to be placed, so trying
    # them first only delays finding a witness.
    w0 = window[0]
    stack = [[0, 0, 0, w0 & ok_mask, w0 & crash_mask]]
    path: list[int] = []
    best_j = 0
    best_path: list[int] = []
    samples: list[tuple[int, int]] = [(0, 0)]
    iterations = 0
    while stack:
        fr = stack[-1]
        mask = fr[3]
        if not mask:
            mask = fr[4]
            if not mask:
                stack.pop()
                if path:
                    path.pop()
                continue
            b = mask & -mask
            fr[4] = mask ^ b
        else:
            b = mask & -mask
            fr[3] = mask ^ b
        i = b.bit_length() - 1
        sid = fr[1]
        t = trans[i]
        nsid = t.get(sid)
        if nsid is None:
            ok, new = step(states[sid], ops[i])
            if ok:
                nsid = state_ids.get(new)
                if nsid is None:
                    nsid = state_ids[new] = len(states)
                    states.append(new)
            else:
                nsid = -1
            t[sid] = nsid
        if nsid < 0 or (nsid == sid and b & crash_mask):
            # a crashed op that changes nothing here is no better placed than left out
            continue
        placed = fr[0] | b
        j = fr[2]
        while j < m and placed & ret_bit[j]:
            j += 1
        if j == m:
            path.append(i)
            return PartResult(
                VALID, ops, linearization=[ops[k].id for k in path], configs=len(seen), reached=m
            )
        key = (nsid << n) | placed
        if key in seen:
            continue
        seen.add(key)
        path.append(i)
        if j >= best_j:
            if j > best_j:
                best_j = j
                best_path = list(path)
                samples = []
            if len(samples) < 8:
                samples.append((placed, nsid))
        w = window[j] & ~placed
        r = w & ro_mask
        while r:
            # A read that fits now may be placed now and nothing else tried here: moving
            # a state-preserving op earlier in any successful order keeps it successful.
            rb = r & -r
            r ^= rb
            k = rb.bit_length() - 1
            rsid = trans[k].get(nsid)
            if rsid is None:
                rsid = nsid if step(states[nsid], ops[k])[0] else -1
                trans[k][nsid] = rsid
            if rsid >= 0:
                stack.append([placed, nsid, j, rb, 0])
                break
        else:
            stack.append([placed, nsid, j, w & ok_mask, w & crash_mask])
        iterations += 1
        if not iterations & 1023:
            if clock.progress is not None:
                clock.progress(clock.done + best_j, clock.total)
            if clock.expired():
                return _unknown(ops, "time budget exhausted", len(seen), best_j, ok_order, best_path)
            if len(seen) > max_configs:
                return _unknown(ops, "memory budget exhausted", len(seen), best_j, ok_order, best_path)
    return _explain(ops, spec, states, ok_order, window, best_j, best_path, samples, len(seen))


def _unknown(ops, reason, configs, best_j, ok_order, best_path) -> PartResult:
    return PartResult(
        UNKNOWN_VERDICT,
        ops,
        configs=configs,
        reason=reason,
        reached=best_j,
        previous_ok=ops[ok_order[best_j - 1]] if best_j else None,
        linearization=[ops[k].id for k in best_path],
    )


def _explain(ops, spec, states, ok_order, window, best_j, best_path, samples, configs) -> PartResult:
    """Turn the furthest point of a failed search into evidence a person can read."""
    culprit = ops[ok_order[best_j]]
    by_pos = {1 << k: k for k in range(len(ops))}
    explain = getattr(spec, "explain", None)
    attempts = []
    for placed, sid in samples:
        state = states[sid]
        tried = []
        cands = window[best_j] & ~placed
        while cands:
            b = cands & -cands
            cands ^= b
            op = ops[by_pos[b]]
            ok, _ = spec.step(state, op)
            if ok:
                why = "fits here, but every way on from there fails"
            elif explain is not None:
                why = explain(state, op)
            else:
                why = f"not allowed by {getattr(spec, 'name', 'the spec')} in state {state!r}"
            tried.append((op.id, why))
        order = [ops[k].id for k in best_path] if (placed, sid) == samples[0] and best_path else []
        lin = order or sorted(ops[k].id for k in range(len(ops)) if placed >> k & 1)
        attempts.append(Attempt(linearized=lin, state=state, tried=tried))
    previous = None
    for k in reversed(best_path):
        if ops[k].ok:
            previous = ops[k]
            break
    return PartResult(
        INVALID,
        ops,
        op=culprit,
        previous_ok=previous,
        attempts=attempts,
        configs=configs,
        reached=best_j,
        linearization=[ops[k].id for k in best_path],
    )


@dataclass
class Result:
    """The verdict on a whole history, as plain data (``to_dict()`` is JSON-ready)."""

    valid: bool | str
    spec: str
    ops: int  # client operations in the history
    searched: int  # operations left after pruning, over all partitions
    partitions: int
    configs: int  # configurations explored
    elapsed: float  # seconds of search, parsing excluded
    history: Any = field(default=None, repr=False)
    part: PartResult | None = None  # the deciding partition (invalid / unknown)
    key: Any = None  # its key, when split by key
    witness: list[list[int]] | None = None  # one linearization per partition
    reason: str | None = None
    decided: int = 0  # partitions decided valid before stopping

    @property
    def op(self) -> Op | None:
        return self.part.op if self.part else None

    @property
    def previous_ok(self) -> Op | None:
        return self.part.previous_ok if self.part else None

    def to_dict(self) -> dict:
        from .formats import _jsonable

        d: dict = {
            "valid": self.valid,
            "spec": self.spec,
            "ops": self.ops,
            "searched": self.searched,
            "partitions": self.partitions,
            "configs": self.configs,
            "elapsed": round(self.elapsed, 6),
        }
        if self.valid is True:
            d["linearization"] = self.witness
        if self.part is not None:
            if self.key is not None:
                d["key"] = self.key
            if self.valid is False:
                d["op"] = self.part.op.to_dict()
                d["previous_ok"] = self.part.previous_ok.to_dict() if self.part.previous_ok else None
                d["attempts"] = [
                    {
                        "linearized": a.linearized,
                        "state": a.state,
                        "tried": [{"op": op_id, "why": why} for op_id, why in a.tried],
                    }
                    for a in self.part.attempts
                ]
            else:
                d["reason"] = self.reason
                d["decided_partitions"] = self.decided
                d["longest_prefix"] = self.part.linearization
                d["previous_ok"] = self.part.previous_ok.to_dict() if self.part.previous_ok else None
        return _jsonable(d)


def check_ops(
    ops: list[Op],
    spec: Any,
    budget: Budget | None = None,
    history: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Check operations against a spec object: validate, split, prune, search.

    ``progress(done, total)`` is called now and then during long searches with the
    number of completed operations placed so far, over all partitions.
    """
    budget = budget or Budget()
    validate = getattr(spec, "validate", None)
    if validate is not None:
        from .history import HistoryError

        for op in ops:
            msg = validate(op)
            if msg:
                path = getattr(history, "path", None)
                raise HistoryError(msg, path, op.line)
    started = time.perf_counter()
    clock = budget.start(progress)
    partition = getattr(spec, "partition", None)
    parts = list(partition(ops)) if partition else [list(ops)]
    prune = getattr(spec, "prune", None)
    if prune is not None:
        parts = [prune(p) for p in parts]
    else:
        parts = [[op for op in p if op.status != "fail"] for p in parts]
    # Small parts first: an invalid verdict found early saves the big searches.
    order = sorted(range(len(parts)), key=lambda k: len(parts[k]))
    clock.total = sum(op.ok for p in parts for op in p)
    witness: list[list[int]] = [[] for _ in parts]
    configs = 0
    unknown: tuple[int, PartResult] | None = None
    decided = 0
    for k in order:
        part = parts[k]
        res = wgl(part, spec, clock)
        configs += res.configs
        clock.done += sum(op.ok for op in part)
        if progress is not None:
            progress(clock.done, clock.total)
        if res.valid is True:
            witness[k] = res.linearization or []
            decided += 1
            continue
        if res.valid is False:
            return _result(False, spec, ops, parts, configs, started, history, res, part, decided=decided)
        if unknown is None:
            unknown = (k, res)
        if clock.expired():
            break
    if unknown is not None:
        k, res = unknown
        return _result(
            UNKNOWN_VERDICT, spec, ops, parts, configs, started, history, res, parts[k],
            reason=res.reason, decided=decided,
        )
    return _result(True, spec, ops, parts, configs, started, history, None, None, witness=witness, decided=decided)


def _result(valid, spec, ops, parts, configs, started, history, res, part, *, witness=None, reason=None, decided=0):
    key = part[0].key if part else None
    return Result(
        valid=valid,
        spec=getattr(spec, "name", type(spec).__name__),
        ops=len(ops),
        searched=sum(len(p) for p in parts),
        partitions=len(parts),
        configs=configs,
        elapsed=time.perf_counter() - started,
        history=history,
        part=res,
        key=key,
        witness=witness,
        reason=reason,
        decided=decided,
    )
