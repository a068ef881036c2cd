"""Pure analysis: histories in, verdicts out. Imports nothing from replicheck.model.

The whole public surface for linearizability::

    from replicheck.checker import read_history, check
    history = read_history("etcd_002.log")
    result = check(history, "cas-register")
    result.valid          # True, False or UNKNOWN_VERDICT (equal to "unknown"; no truth value:
                          # test it with `is True` / `is False`, never `if result.valid`)
    result.to_dict()      # plain data: witness, or the op that could not be linearized

    analysis = analyse(history, "cas-register", minimize=True)   # check, then shrink
    analysis.minimal      # the minimal counterexample when invalid, else None
    analysis.write_html("etcd_002.html")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import mvregister as _mvregister  # noqa: F401  (registers the mv-register spec)
from .formats import parse_history, read_history, write_jsonl
from .history import UNKNOWN, Event, History, HistoryError, Op
from .linearizable import Budget, Result, check_ops, wgl
from .minimize import Minimized
from .minimize import minimize as minimize_ops
from .report import render_linearizability
from .specs import BUILTIN, NO_INIT, SpecContract, SpecError, as_spec, make_spec, resolve_spec
from .verdict import UNKNOWN_VERDICT, Verdict

__all__ = [
    "Analysis",
    "BUILTIN",
    "Budget",
    "Event",
    "History",
    "HistoryError",
    "Op",
    "Result",
    "SpecContract",
    "SpecError",
    "UNKNOWN",
    "UNKNOWN_VERDICT",
    "Verdict",
    "analyse",
    "as_spec",
    "check",
    "make_spec",
    "parse_history",
    "read_history",
    "resolve_spec",
    "wgl",
    "write_jsonl",
]


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
    ``fifo-queue``, ``mutex``), ``package.module:Name``, or a spec object (checked
    against the spec contract: a SpecError says what to write); left out, the
    history's metadata line names it. ``init`` and ``nil_read`` ("absent": a read of
    nil means the object is empty; "unknown": Knossos's rule, a read of nil matches any
    state) override the metadata. Past ``timeout`` seconds or ``max_memory_mb`` the
    verdict is ``"unknown"``, never a guess: ``max_memory_mb`` bounds the resident size
    of the whole process (workers included), measured while searching. ``started``: the
    ``time.monotonic()`` the timeout counts from (default: before reading, when given a
    path; pass the time before reading to count a reading done elsewhere).
    ``progress(done, total)`` hears how far a long search got; ``jobs`` bounds the
    worker processes.
    """
    if not isinstance(history, History):
        started = time.monotonic() if started is None else started
        history = read_history(history)
    spec_obj = resolve_spec(history, spec, init=init, nil_read=nil_read)
    return check_ops(
        history.ops,
        spec_obj,
        Budget(timeout, max_memory_mb, started),
        history=history,
        progress=progress,
        jobs=jobs,
    )


@dataclass
class Analysis:
    """A history judged for linearizability, with the spec it was judged by (and the name
    that loads that spec again) and, when it is invalid and shrinking was asked for, its
    minimal counterexample."""

    history: History
    spec: Any
    spec_name: str | None
    result: Result
    minimal: Minimized | None = None

    def write_html(
        self, path: str | os.PathLike, title: str | None = None, text_report: str | None = None
    ) -> None:
        """The self-contained timeline page, with ``text_report`` (by default the
        linearizability report) under it."""
        # the html module reads its template on import: only a page pays for it
        from .html import render_html

        title = title or self.history.path or "history"
        if text_report is None:
            text_report = render_linearizability(self.result, self.spec, title)
        page = render_html(
            self.history, self.result, self.spec, self.minimal, title=title, text_report=text_report
        )
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(page)


def analyse(
    history: History | str | os.PathLike,
    spec: Any = None,
    *,
    minimize: bool = False,
    init: Any = NO_INIT,
    nil_read: str | None = None,
    timeout: float | None = None,
    **options: Any,
) -> Analysis:
    """:func:`check`, then, if the history is invalid and ``minimize`` asks, its minimal
    counterexample: the pipeline behind ``replicheck check --minimize/--html`` and the
    explorer's pages. ``options`` go to :func:`check`. Each shrinking check gets the
    ``timeout`` (5 s without one) and the shrinking in all ten times that (at least 10 s;
    60 s without one): past it the smallest history found so far is kept, marked so.
    """
    if not isinstance(history, History):
        history = read_history(history)
    spec_name = spec if isinstance(spec, str) else history.meta.get("spec") if spec is None else None
    spec_obj = resolve_spec(history, spec, init=init, nil_read=nil_read)
    result = check(history, spec_obj, timeout=timeout, **options)
    minimal = None
    if minimize and result.valid is False:
        minimal = minimize_ops(
            history.ops,
            spec_obj,
            culprit=result.op,
            key=result.key,
            budget_per_check=5.0 if timeout is None else timeout,
            timeout=60.0 if timeout is None else max(timeout, 1.0) * 10,
        )
    return Analysis(history, spec_obj, spec_name if isinstance(spec_name, str) else None, result, minimal)
