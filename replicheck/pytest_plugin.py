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

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from replicheck.testing import TestRecorder

# replicheck is imported when a test asks for the fixture, not when pytest loads the plugin:
# every pytest run in an environment with replicheck installed loads this module.


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[TestRecorder]:
    """A :class:`replicheck.record.Recorder` writing ``tmp_path/history.jsonl``, with
    ``assert_linearizable(spec=...)`` and ``assert_consistent(model=...)``."""
    from replicheck.testing import TestRecorder

    rec = TestRecorder(tmp_path)
    yield rec
    rec.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    rec = getattr(item, "funcargs", {}).get("recorder")
    if report.when != "call" or not report.failed or rec is None:
        return
    from replicheck.testing import TestRecorder

    if not isinstance(rec, TestRecorder) or rec.reported:
        return
    # the test failed on its own assertion, not ours: the page is still the evidence
    rec.close()
    page = rec.write_html()
    lines = [f"history: {rec.path}"] + ([f"HTML report: {page}"] if page else [])
    report.sections.append(("replicheck", "\n".join(lines)))
