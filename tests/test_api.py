"""The library API cannot mislead: an unknown verdict has no truth value, user specs are
held to the spec contract at the boundary, and split by key means the same for every spec."""

from __future__ import annotations

import json
import pickle
import time

import pytest

from replicheck.checker import History, check
from replicheck.checker.verdict import UNKNOWN_VERDICT, as_verdict, exit_code, is_unknown

WRITE_THEN_READ = [
    {"process": 0, "type": "invoke", "f": "write", "value": 1},
    {"process": 0, "type": "ok", "f": "write", "value": 1},
    {"process": 1, "type": "invoke", "f": "read", "value": None},
    {"process": 1, "type": "ok", "f": "read", "value": 1},
]


def out_of_time() -> object:
    h = History.from_events(WRITE_THEN_READ, meta={"spec": "register"})
    # the budget was spent before the search began: the verdict cannot be anything but unknown
    return check(h, timeout=1.0, started=time.monotonic() - 100)


def test_unknown_verdict_used_as_a_bool_raises_with_the_reason():
    result = out_of_time()
    assert result.valid == "unknown" and is_unknown(result.valid)
    with pytest.raises(TypeError, match=r"unknown \(time budget.*`verdict is True`"):
        assert result.valid
    with pytest.raises(TypeError):
        bool(result.valid)


def test_unknown_verdict_still_serializes_compares_and_pickles_as_unknown():
    result = out_of_time()
    assert result.to_dict()["valid"] == "unknown"
    assert type(result.to_dict()["valid"]) is str
    assert json.dumps({"v": result.valid}) == '{"v": "unknown"}'
    assert f"{result.valid}" == "unknown"
    assert pickle.loads(pickle.dumps(result.valid)).reason == result.valid.reason
    assert exit_code(result.valid) == 3 and exit_code(True) == 0 and exit_code(False) == 1


def test_a_literal_unknown_becomes_the_verdict_and_anything_else_is_refused():
    v = as_verdict("unknown", "why")
    assert v == UNKNOWN_VERDICT and v.reason == "why"
    with pytest.raises(TypeError):
        bool(v)
    assert as_verdict(True) is True and as_verdict(False) is False
    with pytest.raises(ValueError):
        as_verdict("yes")
