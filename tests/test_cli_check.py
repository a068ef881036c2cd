"""`replicheck check` as a user drives it: verdicts, evidence, exit codes, JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from replicheck.checker import History, check
from replicheck.checker.verdict import EXIT_BAD_INPUT, exit_code, worst_exit_code
from replicheck.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(cli, ["check", *map(str, args)])


def test_bundled_examples_get_the_verdict_their_metadata_expects():
    bundled = sorted((ROOT / "histories").glob("*.jsonl"))
    assert bundled
    for path in bundled:
        meta = json.loads(path.read_text().splitlines()[0])["replicheck"]
        # every bundled history says what it shows; one without would go unchecked
        assert meta.get("expected") in ("valid", "invalid"), f"{path.name}: no expected verdict"
        res = run(path)
        assert res.exit_code == {"valid": 0, "invalid": 1}[meta["expected"]], (path, res.output)


def test_invalid_report_names_the_operation_and_the_reason():
    res = run(ROOT / "histories" / "stale-replica-read.jsonl")
    assert res.exit_code == 1
    assert "NOT linearizable" in res.output
    assert "op 2: process 0 read nil on n3  [lines 6-8]" in res.output
    assert "can't read nil from register 1" in res.output
    assert "The last operation that was still fine" in res.output


def test_json_output_has_the_documented_keys():
    res = run(ROOT / "histories" / "stale-replica-read.jsonl", "--json")
    d = json.loads(res.output)
    assert d["valid"] is False and d["spec"] == "register" and d["ops"] == 4
    assert d["op"]["id"] == 2 and d["op"]["process"] == 0 and d["op"]["line"] == 6
    assert d["previous_ok"]["f"] == "read"
    assert any("can't read nil" in t["why"] for a in d["attempts"] for t in a["tried"])
    ok = json.loads(run(ROOT / "histories" / "leader-reads.jsonl", "--json").output)
    assert ok["valid"] is True and ok["linearization"] == [[1, 0, 3, 2, 5]]


def test_several_files_print_one_line_each(tmp_path):
    a = ROOT / "histories" / "leader-reads.jsonl"
    b = ROOT / "histories" / "stale-replica-read.jsonl"
    res = run(a, b)
    assert res.output.splitlines() == [f"{a}\tvalid", f"{b}\tinvalid"]
    assert res.exit_code == 1


def test_flags_override_metadata(tmp_path):
    # The bundled stale read is fine under Knossos's rule: nil then means "unknown".
    res = run(ROOT / "histories" / "stale-replica-read.jsonl", "--nil-read", "unknown")
    assert res.exit_code == 0, res.output
    res = run(ROOT / "histories" / "leader-reads.jsonl", "--init", "7")
    assert res.exit_code == 1


def hard_history(n: int = 16) -> History:
    # n overlapping crashed writes, each value read later by someone: to prove the
    # final impossible read impossible the search must try every subset of them.
    events = []
    for p in range(n):
        events.append({"process": p, "type": "invoke", "f": "write", "value": p})
    for p in range(n):
        events.append({"process": 100 + p, "type": "invoke", "f": "read", "value": None})
    for p in range(n):
        events.append({"process": 100 + p, "type": "ok", "f": "read", "value": p})
    events.append({"process": 999, "type": "invoke", "f": "read", "value": None})
    events.append({"process": 999, "type": "ok", "f": "read", "value": -1})
    return History.from_events(events)


def test_budget_exhausted_gives_unknown_not_a_guess(tmp_path):
    h = hard_history()
    result = check(h, "register", timeout=0)
    assert result.valid == "unknown"
    assert "time budget" in result.reason
    result = check(h, "register", max_memory_mb=0.01)
    assert result.valid == "unknown" and "memory budget" in result.reason
    assert check(hard_history(6), "register").valid is False  # small enough to decide


def test_unknown_exit_code_and_report(tmp_path):
    from replicheck.checker import write_jsonl

    path = tmp_path / "hard.jsonl"
    write_jsonl(path, hard_history().events, {"spec": "register"})
    res = run(path, "--timeout", "0")
    assert res.exit_code == 3
    assert "Unknown: time budget exhausted" in res.output
    assert json.loads(run(path, "--timeout", "0", "--json").output)["valid"] == "unknown"


def test_several_files_exit_with_the_most_serious_verdict(tmp_path):
    valid = ROOT / "histories" / "leader-reads.jsonl"
    invalid = ROOT / "histories" / "stale-replica-read.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"process": 0, "type": "ok", "f": "read", "value": 1}\n')
    assert run(valid, invalid, valid).exit_code == 1
    assert run(invalid, bad, valid).exit_code == 2  # bad input outranks a violation
    assert run(valid, valid).exit_code == 0
    # the same ranking, with unknown, for every command (they all use checker.verdict)
    assert worst_exit_code([exit_code(True), exit_code("unknown")]) == 3
    assert worst_exit_code([exit_code("unknown"), exit_code(False), exit_code(True)]) == 1
    assert worst_exit_code([EXIT_BAD_INPUT, exit_code(False)]) == 2
    assert worst_exit_code([]) == 0


def test_user_spec_loaded_by_module_path(tmp_path, monkeypatch):
    (tmp_path / "myspecs.py").write_text(
        "from replicheck.checker import UNKNOWN\n"
        "class Counter:\n"
        "    name = 'counter'\n"
        "    def init(self):\n"
        "        return 0\n"
        "    def step(self, state, op):\n"
        "        if op.f == 'add':\n"
        "            return True, state + op.value\n"
        "        if op.f == 'read':\n"
        "            return op.output in (state, UNKNOWN), state\n"
        "        return False, state\n"
    )
    h = tmp_path / "h.jsonl"
    h.write_text(
        '{"process": 0, "type": "invoke", "f": "add", "value": 2}\n'
        '{"process": 0, "type": "ok", "f": "add", "value": 2}\n'
        '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
        '{"process": 1, "type": "ok", "f": "read", "value": 3}\n'
    )
    monkeypatch.chdir(tmp_path)
    res = run(h, "--spec", "myspecs:Counter")
    assert res.exit_code == 1, res.output
    assert "counter" in res.output
    res = run(h, "--spec", "myspecs:Nope")
    assert res.exit_code == 2 and "cannot load spec" in res.output


def test_a_failed_op_of_a_user_spec_did_nothing(tmp_path, monkeypatch):
    # BaseSpec's prune keeps every op: the failed add must still not count as one that
    # may have happened, or the read of 2 would pass
    (tmp_path / "basespecs.py").write_text(
        "from replicheck.checker.specs import BaseSpec\n"
        "class Counter(BaseSpec):\n"
        "    name = 'counter'\n"
        "    functions = ('add', 'read')\n"
        "    def __init__(self, init=0, nil_read='absent'):\n"
        "        super().__init__(init or 0, nil_read)\n"
        "    def step(self, state, op):\n"
        "        if op.f == 'add':\n"
        "            return True, state + op.value\n"
        "        return op.output == state, state\n"
    )
    h = tmp_path / "h.jsonl"
    h.write_text(
        '{"process": 0, "type": "invoke", "f": "add", "value": 2}\n'
        '{"process": 0, "type": "fail", "f": "add", "value": 2}\n'
        '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
        '{"process": 1, "type": "ok", "f": "read", "value": 2}\n'
    )
    monkeypatch.chdir(tmp_path)
    res = run(h, "--spec", "basespecs:Counter")
    assert res.exit_code == 1, res.output


def test_minimize_prints_and_writes_a_history_that_checks_invalid_alone(tmp_path):
    out = tmp_path / "min.jsonl"
    res = run(ROOT / "histories" / "stale-replica-read.jsonl", "--minimize-out", out)
    assert res.exit_code == 1
    assert "Minimal counterexample: 2 of 4 operations" in res.output
    again = run(out)  # its metadata line says how to judge it
    assert again.exit_code == 1, again.output
    assert "2 operations" in again.output
    d = json.loads(run(ROOT / "histories" / "stale-replica-read.jsonl", "--minimize", "--json").output)
    assert d["minimal"]["size"] == 2 and d["minimal"]["one_minimal"] is True


def test_minimize_is_a_no_op_for_valid_histories(tmp_path):
    res = run(ROOT / "histories" / "leader-reads.jsonl", "--minimize")
    assert res.exit_code == 0 and "Minimal" not in res.output


def test_html_report_written_for_any_verdict(tmp_path):
    for name, code in (("stale-replica-read.jsonl", 1), ("leader-reads.jsonl", 0)):
        page = tmp_path / (name + ".html")
        res = run(ROOT / "histories" / name, "--html", page)
        assert res.exit_code == code
        text = page.read_text()
        assert text.startswith("<!DOCTYPE html>") and "http://" not in text.replace("http://www.w3.org", "")


def test_progress_is_silent_when_not_a_terminal(tmp_path):
    from replicheck.checker import write_jsonl

    path = tmp_path / "hard.jsonl"
    write_jsonl(path, hard_history(13).events, {"spec": "register"})
    res = CliRunner().invoke(cli, ["check", str(path)])
    assert res.exit_code == 1
    assert "linearizing" not in res.output


def test_progress_bar_appears_on_a_terminal_for_long_checks(monkeypatch):
    import replicheck.cli.progress as progress

    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    seen = []
    bar = progress.Progress("linearizing")
    monkeypatch.setattr(bar, "enabled", True)
    import click

    class Recorder:
        pos = 0

        def __enter__(self):
            return self

        def __exit__(self, *a):
            pass

        def update(self, n):
            self.pos += n
            seen.append(self.pos)

    monkeypatch.setattr(click, "progressbar", lambda **kw: Recorder())
    check(hard_history(13), "register", max_memory_mb=None)  # warm: no progress hook
    from replicheck.checker import make_spec
    from replicheck.checker.linearizable import check_ops

    check_ops(hard_history(13).ops, make_spec("register"), progress=bar)
    bar.close()
    assert seen and seen == sorted(seen)
    assert progress.Progress("x", quiet=True).enabled is False


def _log(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "h.log"
    path.write_text("".join(f"INFO  jepsen.util - {ln}\n" for ln in lines))
    return str(path)


def test_a_history_without_a_spec_is_judged_by_the_one_its_functions_fit(tmp_path):
    # read, write and cas fit only the cas register: a stale read is caught by it
    path = _log(
        tmp_path,
        ["0\t:invoke\t:write\t1", "0\t:ok\t:write\t1", "1\t:invoke\t:cas\t[1 2]", "1\t:ok\t:cas\t[1 2]",
         "0\t:invoke\t:read\tnil", "0\t:ok\t:read\t1"],
    )  # fmt: skip
    res = run(path)
    assert res.exit_code == 1, res.output
    assert "spec cas-register (inferred from the functions it uses)" in res.output
    # a named spec wins, and is not called inferred
    res = run(path, "--spec", "cas-register", "--json")
    assert json.loads(res.output)["spec"] == "cas-register"


def test_a_history_whose_functions_fit_several_specs_needs_one_named(tmp_path):
    # reads alone fit a register, a set and a list: no guess
    path = _log(tmp_path, ["0\t:invoke\t:read\tnil", "0\t:ok\t:read\t1"])
    res = run(path)
    assert res.exit_code == EXIT_BAD_INPUT
    assert "operations (read) do not say which object" in res.output and "--spec" in res.output
    assert "Traceback" not in res.output
