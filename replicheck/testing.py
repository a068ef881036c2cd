"""Assertions for tests of your own service: fail with replicheck's report, never pass on
a verdict that is not a yes.

    from replicheck.testing import assert_linearizable, assert_consistent

    assert_linearizable("history.jsonl", spec="register", timeout=10)
    assert_consistent(history, model="read-your-writes")

Each returns the analysis when the property holds and otherwise raises AssertionError
whose message is the text report (the one ``replicheck check`` prints), the minimal
counterexample when one was found, and the HTML report's path when ``html=`` was given.
An unknown verdict (a budget ran out) fails too, with the reason: a test that could not
be decided has not passed. :class:`TestRecorder` is a Recorder with these assertions
built in; the pytest plugin (``replicheck.pytest_plugin``, loaded by pytest through the
``pytest11`` entry point) gives one per test as the ``recorder`` fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from replicheck.checker import Analysis, History, HistoryError, analyse, read_history
from replicheck.checker.consistency import ConsistencyResult, check_consistency, render_consistency
from replicheck.checker.report import render_linearizability, render_minimal
from replicheck.checker.verdict import is_unknown
from replicheck.record.recorder import Recorder

__all__ = ["TestRecorder", "assert_consistent", "assert_linearizable"]

HISTORY_NAME, HTML_NAME = "history.jsonl", "report.html"


def _name(history: History) -> str:
    return history.path or "history"


def assert_linearizable(
    history_or_path: History | str | os.PathLike,
    spec: Any = None,
    *,
    minimize: bool = True,
    html: str | os.PathLike | None = None,
    **options: Any,
) -> Analysis:
    """Fail unless the history is linearizable with respect to ``spec`` (a built-in name,
    ``module:Name`` or a spec object; left out, the metadata line's or the inferred one).

    ``options`` go to :func:`replicheck.checker.check` (``init``, ``nil_read``,
    ``timeout``, ``max_memory_mb``, ``jobs``). ``minimize`` shrinks a violation to its
    minimal counterexample for the message; ``html``: where to write the timeline page
    when the assertion fails (its path is then in the message)."""
    __tracebackhide__ = True
    history = history_or_path if isinstance(history_or_path, History) else read_history(history_or_path)
    analysis = analyse(history, spec, minimize=minimize, **options)
    result = analysis.result
    if result.valid is True:
        return analysis
    name = _name(history)
    parts = []
    if is_unknown(result.valid):
        parts.append(f"replicheck could not decide whether {name} is linearizable: {result.reason}")
    parts.append(render_linearizability(result, analysis.spec, name))
    if analysis.minimal is not None:
        parts.append(render_minimal(analysis.minimal, analysis.spec))
    if html is not None:
        analysis.write_html(html, title=name)
        parts.append(f"HTML report: {os.fspath(html)}")
    raise AssertionError("\n\n".join(parts))


def assert_consistent(
    history_or_path: History | str | os.PathLike,
    model: str | Iterable[str] = "all",
    spec: Any = None,
    **options: Any,
) -> ConsistencyResult:
    """Fail unless every consistency model or property in ``model`` holds (one name from
    ``replicheck.checker.consistency.CHOICES``, several, or "all"). ``options`` go to
    :func:`replicheck.checker.consistency.check_consistency` (``session_field``,
    ``quiet_period``, ``timeout``, ``init``, ``nil_read``, ...)."""
    __tracebackhide__ = True
    history = history_or_path if isinstance(history_or_path, History) else read_history(history_or_path)
    result = check_consistency(history, spec, model, **options)
    names = [model] if isinstance(model, str) else list(model)
    wanted = list(result.models) if "all" in names else names
    failing = [m for m in wanted if result.models[m].valid is not True]
    if not failing:
        return result
    words = []
    for m in failing:
        r = result.models[m]
        words.append(f"{m} is violated" if r.valid is False else f"{m} is unknown ({r.reason})")
    head = f"{_name(history)}: " + "; ".join(words)
    raise AssertionError(head + "\n\n" + render_consistency(result, _name(history)))


class TestRecorder(Recorder):
    """A Recorder into the test's tmp dir, whose assertions close it, judge what it
    recorded and, when failing, write the HTML report and name it in the message."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, directory: Path, meta: dict | None = None):
        super().__init__(directory / HISTORY_NAME, meta=meta)
        self.html_path = directory / HTML_NAME
        self.spec: Any = None  # what the HTML page written on failure is judged by
        self.reported = False  # an assertion of ours failed, naming the page already

    def assert_linearizable(self, spec: Any = None, **options: Any) -> Any:
        __tracebackhide__ = True
        self.close()
        self.spec = spec
        self.reported = True  # reset below when it holds
        analysis = assert_linearizable(self.path, spec, html=self.html_path, **options)
        self.reported = False
        return analysis

    def assert_consistent(self, model: str | Iterable[str] = "all", spec: Any = None, **options: Any) -> Any:
        __tracebackhide__ = True
        self.close()
        self.spec = spec
        try:
            return assert_consistent(self.path, model, spec, **options)
        except AssertionError as e:
            self.reported = True
            page = self.write_html()
            raise AssertionError(f"{e}\n\nHTML report: {page}" if page else str(e)) from None

    def write_html(self) -> str | None:
        """The timeline page of what was recorded (once); None when it cannot be made
        (nothing recorded, or no spec named and none can be inferred)."""
        if self.html_path.exists():
            return os.fspath(self.html_path)
        try:
            analysis = analyse(self.path, self.spec, minimize=True, timeout=10)
            analysis.write_html(self.html_path, title=self.path)
        except (HistoryError, ValueError):
            return None
        return os.fspath(self.html_path)
