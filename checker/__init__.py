"""Pure analysis: histories in, verdicts out. Imports nothing from replicheck.model.

The whole public surface for linearizability::

    from replicheck.checker import read_history, check
    history = read_history("etcd_002.log")
    result = check(history, "cas-register")
    result.valid          # True, False or "unknown"
    result.to_dict()      # plain data: witness, or the op that could not be linearized
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from .formats import parse_history, read_history, write_jsonl
from .history import UNKNOWN, Event, History, HistoryError, Op
from .linearizable import Budget, Result, check_ops, wgl
from .specs import BUILTIN, NO_INIT, make_spec

__all__ = [
    "BUILTIN",
    "Budget",
    "Event",
    "History",
    "HistoryError",
    "Op",
    "Result",
    "UNKNOWN",
    "check",
    "make_spec",
    "parse_history",
    "read_history",
    "resolve_spec",
    "wgl",
    "write_jsonl",
]


def resolve_spec(
    history: History, spec: Any = None, *, init: Any = NO_INIT, nil_read: str | None = None
) -> Any:
    """The spec to judge ``history`` by: the arguments first, then its metadata line."""
    meta = history.meta
    if spec is None:
        spec = meta.get("spec")
        if spec is None:
            raise HistoryError(
                "no spec: say which object the history is about, e.g. --spec cas-register "
                f"(built-in: {', '.join(BUILTIN)}), or put it in a metadata line",
                history.path,
            )
    if not isinstance(spec, str):
        return spec
    if init is NO_INIT and "init" in meta:
        init = meta["init"]
    nil_read = nil_read or meta.get("nil_read") or "absent"
    return make_spec(spec, init=init, nil_read=nil_read)


def check(
    history: History | str | os.PathLike,
    spec: Any = None,
    *,
    init: Any = NO_INIT,
    nil_read: str | None = None,
    timeout: float | None = None,
    max_memory_mb: float | None = 2048.0,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = None,
    started: float | None = None,
) -> Result:
    """Is ``history`` linearizable with respect to ``spec``?

    ``spec`` is a built-in name (``register``, ``cas-register``, ``kv``, ``set``,
    ``fifo-queue``, ``mutex``), ``package.module:Name``, or a spec object; left out, the
    history's metadata line names it. ``init`` and ``nil_read`` ("absent": a read of
    nil means the object is empty; "unknown": Knossos's rule, a read of nil matches any
    state) override the metadata. Past ``timeout`` seconds or ``max_memory_mb`` the
    verdict is ``"unknown"``, never a guess: ``max_memory_mb`` bounds the resident size
    of the whole process (workers included), measured while searching. ``started``: the
    ``time.monotonic()`` the timeout counts from (default: before reading, when given a
    path; pass the time before reading to count a reading done elsewhere). ``progress(done, total)`` hears how far a long search
    got; ``jobs`` bounds the worker processes.
    """
    if not isinstance(history, History):
        started = time.monotonic() if started is None else started
        history = read_history(history)
    spec_obj = resolve_spec(history, spec, init=init, nil_read=nil_read)
    return check_ops(history.ops, spec_obj, Budget(timeout, max_memory_mb, started), history=history,
                     progress=progress, jobs=jobs)
