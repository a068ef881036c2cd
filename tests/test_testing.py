"""replicheck.testing and the pytest plugin: a test of a service fails with the report,
never passes on an unknown, and the sample project under examples/ behaves as documented."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from replicheck.checker import History
from replicheck.testing import assert_consistent, assert_linearizable

pytest_plugins = ["pytester"]

# the plugin by name too: a venv installed before the entry point existed still runs these
PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "replicheck.pytest_plugin")

ROOT = Path(__file__).resolve().parent.parent
VALID, STALE = ROOT / "histories" / "leader-reads.jsonl", ROOT / "histories" / "stale-replica-read.jsonl"


def test_assert_linearizable_passes_a_linearizable_history():
    assert assert_linearizable(VALID).result.valid is True


def test_assert_linearizable_fails_with_the_report_and_the_minimal_counterexample(tmp_path):
    page = tmp_path / "page.html"
    with pytest.raises(AssertionError) as e:
        assert_linearizable(STALE, html=page)
    text = str(e.value)
    assert "stale-replica-read.jsonl: NOT linearizable" in text
    assert "This operation cannot be linearized" in text
    assert "Minimal counterexample: 2 of 4 operations" in text
    assert f"HTML report: {page}" in text and page.stat().st_size > 0


def test_assert_linearizable_fails_on_unknown_with_the_reason():
    with pytest.raises(AssertionError, match=r"could not decide whether .* is linearizable: time budget"):
        assert_linearizable(VALID, timeout=1.0, started=time.monotonic() - 100)


def test_assert_consistent_names_the_model_that_fails_and_passes_one_that_holds():
    assert assert_consistent(VALID, model="read-your-writes").models["read-your-writes"].valid is True
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 0, "type": "invoke", "f": "read", "value": None},
        {"process": 0, "type": "ok", "f": "read", "value": None},
    ]
    h = History.from_events(events, meta={"spec": "register"})
    with pytest.raises(AssertionError, match=r"read-your-writes is violated[\s\S]*did not see op 0"):
        assert_consistent(h, model="read-your-writes")


def test_the_example_project_one_test_passes_one_fails_with_the_report(pytester):
    for f in (ROOT / "examples" / "toy_store").glob("*.py"):
        shutil.copy(f, pytester.path / f.name)
    result = pytester.runpytest(*PYTEST_ARGS)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*read-your-writes is violated*",
            '*did not see op 0 (write 1 key "alice-key"*',
            "*HTML report: *report.html",
            "FAILED test_toystore.py::test_stale_replica_reads_your_writes*",
        ]
    )
    assert "FAILED test_toystore.py::test_pin" not in result.stdout.str()


def test_a_failure_of_the_tests_own_names_the_history_and_its_page(pytester):
    pytester.makepyfile(
        """
        def test_own_assertion(recorder):
            s = recorder.session("a")
            with s.op("write", 1):
                pass
            with s.op("read", read_only=True) as op:
                op.ok(0)
            assert False, "the service said no"
        """
    )
    result = pytester.runpytest(*PYTEST_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the service said no*", "*- replicheck -*", "history: *history.jsonl", "HTML report: *report.html"]
    )


def test_the_recorder_fixture_asserts_linearizability_with_the_minimal_counterexample(pytester):
    pytester.makepyfile(
        """
        def test_stale(recorder):
            s, t = recorder.session("a"), recorder.session("b")
            with s.op("write", 1):
                pass
            with s.op("write", 2):
                pass
            with t.op("read", read_only=True) as op:
                op.ok(1)
            recorder.assert_linearizable(spec="register")
        """
    )
    result = pytester.runpytest(*PYTEST_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*history.jsonl: NOT linearizable*",
            "*Minimal counterexample: 3 of 3 operations*",
            "*HTML report: *",
        ]
    )
    assert "- replicheck -" not in result.stdout.str()  # the message named the page already
