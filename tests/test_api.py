"""The library API cannot mislead: an unknown verdict has no truth value, user specs are
held to the spec contract at the boundary, and split by key means the same for every spec."""

from __future__ import annotations

import json
import pickle
import time

import pytest

from replicheck.checker import UNKNOWN, History, check
from replicheck.checker.specs import Register, SpecError, as_spec
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


# --------------------------------------------------------------------------- the spec contract


class Counter:
    """The README's own custom spec, as written there."""

    name = "counter"

    def init(self):
        return 0

    def step(self, state, op):
        if op.f == "add":
            return True, state + op.value
        if op.f == "read":
            return op.output in (state, UNKNOWN), state
        return False, state


def _events(*ops: tuple) -> list[dict]:
    """Sequential ops (process, f, value in, value out, key), each completing before the next."""
    events = []
    for process, f, value, out, key in ops:
        extra = {} if key is None else {"key": key}
        events.append({"process": process, "type": "invoke", "f": f, "value": value, **extra})
        events.append({"process": process, "type": "ok", "f": f, "value": out, **extra})
    return events


def test_the_readme_counter_on_two_keys_is_judged_per_key():
    h = History.from_events(
        _events(
            (0, "add", 2, 2, "a"),
            (1, "add", 5, 5, "b"),
            (0, "read", None, 2, "a"),
            (1, "read", None, 5, "b"),
        )
    )
    assert check(h, Counter()).valid is True
    stale = History.from_events(_events((0, "add", 2, 2, "a"), (1, "read", None, 0, "a")))
    assert check(stale, Counter()).valid is False


class BareBool(Counter):
    def step(self, state, op):  # the mistake: the new state is left out
        return op.f == "add" or op.output == state


class NoStep:
    name = "nostep"

    def init(self):
        return 0


class SometimesBare(Counter):
    def step(self, state, op):  # a pair from the initial state, a bare bool later
        if op.f == "read" and state != 0 and op.output != state:
            return False
        return super().step(state, op)


ADD_THEN_READ = _events((0, "add", 2, 2, None), (1, "read", None, 2, None), (1, "read", None, 7, None))


def test_a_step_returning_a_bare_bool_is_a_spec_error_saying_what_to_write():
    h = History.from_events(ADD_THEN_READ)
    with pytest.raises(SpecError, match=r"returned True.*not a pair.*return ok, new_state"):
        check(h, BareBool())
    with pytest.raises(SpecError, match=r"must return a pair.*return ok, new_state"):
        check(h, SometimesBare())


def test_a_spec_without_step_is_a_spec_error_saying_what_to_write():
    h = History.from_events(ADD_THEN_READ)
    with pytest.raises(SpecError, match=r"'nostep' has no step\(state, op\) method; write `def step"):
        check(h, NoStep())
    with pytest.raises(SpecError, match="pass an instance, Counter()"):
        check(h, Counter)


def test_the_cli_reports_a_broken_user_spec_as_usage_with_exit_2(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from replicheck.cli.main import cli

    (tmp_path / "brokenspecs.py").write_text(
        "class BareBool:\n"
        "    name = 'counter'\n"
        "    def init(self):\n"
        "        return 0\n"
        "    def step(self, state, op):\n"
        "        return op.f == 'add' or op.output == state\n"
        "class NoStep:\n"
        "    def init(self):\n"
        "        return 0\n"
    )
    h = tmp_path / "h.jsonl"
    h.write_text("".join(json.dumps(e) + "\n" for e in ADD_THEN_READ))
    monkeypatch.chdir(tmp_path)
    for name, says in (("BareBool", "not a pair"), ("NoStep", "has no step(state, op) method")):
        res = CliRunner().invoke(cli, ["check", str(h), "--spec", f"brokenspecs:{name}"])
        assert res.exit_code == 2, res.output
        assert says in res.output and "Traceback" not in res.output


def test_init_given_with_a_spec_object_is_honoured():
    # a counter read at 7 after adding 2 is linearizable only if it started at 5
    h = History.from_events(_events((0, "add", 2, 2, None), (1, "read", None, 7, None)))
    assert check(h, Counter()).valid is False
    assert check(h, Counter(), init=5).valid is True
    # and for a built-in spec object: a register read at 3 before any write
    reg = History.from_events(_events((0, "read", None, 3, None)))
    assert check(reg, Register()).valid is False
    assert check(reg, Register(), init=3).valid is True


def test_every_hook_of_the_contract_is_filled_once_with_its_default():
    spec = as_spec(Counter())
    assert as_spec(spec) is spec  # idempotent: filling twice wraps once
    ops = History.from_events(_events((0, "add", 1, 1, "a"), (1, "add", 1, 1, "b"))).ops
    assert [len(p) for p in spec.partition(ops)] == [1, 1]
    assert spec.prune(ops) == ops and spec.validate(ops[0]) is None
    assert spec.read_only is None and spec.blind is None and spec.observers is None
    assert spec.effect_key is None
    assert "not allowed by counter in state 0" == spec.explain(0, ops[0])
    assert spec.describe_state(0) == "0"
    for hook in ("partition", "prune", "validate", "explain", "describe_state", "describe_op"):
        assert callable(getattr(spec, hook)), hook
    assert pickle.loads(pickle.dumps(spec)).name == "counter"


def test_a_bare_bool_step_is_a_spec_error_for_the_consistency_models_too():
    from replicheck.checker.consistency import check_consistency

    h = History.from_events(ADD_THEN_READ)
    with pytest.raises(SpecError, match="not a pair"):
        check_consistency(h, BareBool(), "sequential")
