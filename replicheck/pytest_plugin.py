"""The pytest plugin (entry point ``pytest11``): the ``recorder`` fixture.

    def test_my_store(recorder):
        s = recorder.session("alice")
        with s.op("write", 1, key="x"):
            store.write("x", 1)
        with s.op("read", key="x", read_only=True) as op:
            op.ok(store.read("x"))
        recorder.assert_linearizable(spec="register")

The history goes to the test's ``tmp_path`` (``recorder.path``). When the test fails,
the HTML timeline of the history is written next to it and its path is shown with the
failure. Only pytest loads this module; replicheck itself never imports pytest.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from replicheck.record.recorder import Recorder

HISTORY_NAME, HTML_NAME = "history.jsonl", "report.html"


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
        from replicheck.testing import assert_linearizable

        self.close()
        self.spec = spec
        self.reported = True  # reset below when it holds
        analysis = assert_linearizable(self.path, spec, html=self.html_path, **options)
        self.reported = False
        return analysis

    def assert_consistent(self, model: str | Iterable[str] = "all", spec: Any = None, **options: Any) -> Any:
        __tracebackhide__ = True
        from replicheck.testing import assert_consistent

        self.close()
        self.spec = spec
        try:
            return assert_consistent(self.path, model, spec, **options)
        except AssertionError as e:
            self.reported = True
            page = _write_html(self)
            raise AssertionError(f"{e}\n\nHTML report: {page}" if page else str(e)) from None


def _write_html(rec: TestRecorder) -> str | None:
    """The timeline page of what ``rec`` recorded; None when it cannot be made (nothing
    recorded, or the history names no spec and none can be inferred)."""
    if rec.html_path.exists():
        return os.fspath(rec.html_path)
    from replicheck.checker import HistoryError, analyse

    try:
        analysis = analyse(rec.path, rec.spec, minimize=True, timeout=10)
        analysis.write_html(rec.html_path, title=rec.path)
    except (HistoryError, ValueError):
        return None
    return os.fspath(rec.html_path)


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[TestRecorder]:
    """A :class:`replicheck.record.Recorder` writing ``tmp_path/history.jsonl``, with
    ``assert_linearizable(spec=...)`` and ``assert_consistent(model=...)``."""
    rec = TestRecorder(tmp_path)
    yield rec
    rec.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    rec = getattr(item, "funcargs", {}).get("recorder")
    if report.when != "call" or not report.failed or not isinstance(rec, TestRecorder) or rec.reported:
        return
    # the test failed on its own assertion, not ours: the page is still the evidence
    rec.close()
    page = _write_html(rec)
    lines = [f"history: {rec.path}"] + ([f"HTML report: {page}"] if page else [])
    report.sections.append(("replicheck", "\n".join(lines)))
