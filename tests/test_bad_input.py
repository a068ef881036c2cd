"""Bad input: one line naming file, line and problem; exit 2; never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli

INV = '{"process": 0, "type": "invoke", "f": "write", "value": 1}'
OK = '{"process": 0, "type": "ok", "f": "write", "value": 1}'

CASES = {
    # name: (file content, spec, line expected in the message, words expected)
    "malformed json": (
        INV + "\n" + '{"process": 0, "type": "ok", "f": "write" "value": 1}\n',
        "register",
        2,
        "malformed JSON",
    ),
    "malformed edn": (
        "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0 :type :ok :f :write :value 1]\n",
        "register",
        2,
        "malformed EDN",
    ),
    "unclosed edn": (
        "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0 :type :ok :f :write :value 1}\n",
        "register",
        2,
        "unclosed",
    ),
    "unknown type": (
        INV + "\n" + '{"process": 0, "type": "done", "f": "write", "value": 1}\n',
        "register",
        2,
        "unknown type",
    ),
    "completion without invocation": (OK + "\n", "register", 1, "has no invocation"),
    "invoke twice": (INV + "\n" + INV + "\n", "register", 2, "before its write at line 1 completed"),
    "invoke after info": (
        INV + "\n" + '{"process": 0, "type": "info", "f": "write", "value": 1}\n' + INV + "\n",
        "register",
        3,
        "after its write at line 2 ended with info",
    ),
    "wrong value shape": (
        '{"process": 0, "type": "invoke", "f": "cas", "value": 3}\n'
        '{"process": 0, "type": "ok", "f": "cas", "value": 3}\n',
        "cas-register",
        1,
        "cas value must be a pair",
    ),
    "unknown function": (
        '{"process": 0, "type": "invoke", "f": "increment", "value": 3}\n',
        "register",
        1,
        "has no operation 'increment'",
    ),
    "completion of another function": (
        INV + "\n" + '{"process": 0, "type": "ok", "f": "read", "value": 1}\n',
        "register",
        2,
        "does not match",
    ),
    "missing process": (
        '{"type": "invoke", "f": "write", "value": 1}\n',
        "register",
        1,
        "no 'process' field",
    ),
    "not an object": ("[1, 2]\n", "register", None, "expected"),
    "time goes backwards": (
        '{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 50}\n'
        '{"process": 0, "type": "ok", "f": "write", "value": 1, "time": 10}\n',
        "register",
        2,
        "before its invocation",
    ),
    # issue 18: hostile inputs, each once a traceback, a usage error or a wrong verdict
    "nested 500 deep": (
        '{"process": 0, "type": "invoke", "f": "write", "value": ' + "[" * 500 + "1" + "]" * 500 + "}\n",
        "register",
        1,
        "nested deeper",
    ),
    "nested 100000 deep": (
        INV
        + "\n"
        + '{"process": 0, "type": "ok", "f": "write", "value": '
        + "[" * 100_000
        + "]" * 100_000
        + "}\n",
        "register",
        2,
        "nested deeper",
    ),
    "nested 500 deep, edn": (
        "[{:process 0 :type :invoke :f :write :value " + "[" * 500 + "1" + "]" * 500 + "}]\n",
        "register",
        1,
        "nested deeper",
    ),
    "nested 100000 deep, json array": (
        '[{"process": 0, "type": "invoke", "f": "write", "value": ' + "[" * 100_000 + "]" * 100_000 + "}]\n",
        "register",
        None,
        "nested deeper",
    ),
    "nested 500 deep, jepsen log": (
        "INFO jepsen.util - 0 :invoke :write " + "[" * 500 + "1" + "]" * 500 + "\n",
        "register",
        1,
        "nested deeper",
    ),
    "key is a map": (
        '{"process": 0, "type": "invoke", "f": "write", "key": {"a": 1}, "value": 1}\n',
        "register",
        1,
        "'key' must be",
    ),
    "integer of 5000 digits": (
        INV + "\n" + OK.replace('"value": 1', '"value": ' + "9" * 5000) + "\n",
        "register",
        2,
        "4300 digits",
    ),
    "integer of 5000 digits, edn": (
        "{:process 0 :type :invoke :f :write :value " + "9" * 5000 + "}\n",
        "register",
        1,
        "4300 digits",
    ),
    "integer of 5000 digits, jepsen log": (
        "INFO jepsen.util - 0 :invoke :write [" + "9" * 5000 + "]\n",
        "register",
        1,
        "4300 digits",
    ),
    "NaN time": (INV.replace("}", ', "time": NaN}') + "\n", "register", 1, "NaN"),
    "infinite time": (INV.replace("}", ', "time": 1e400}') + "\n", "register", 1, "finite"),
    "NaN value, edn": ("{:process 0 :type :invoke :f :write :value ##NaN}\n", "register", 1, "NaN"),
    "half a surrogate pair": (
        INV.replace('"value": 1', '"value": "\\ud800"') + "\n",
        "register",
        1,
        "surrogate",
    ),
    "half a surrogate pair, edn": (
        '{:process 0 :type :invoke :f :write :value 1 :node "\\ud83d"}\n',
        "register",
        1,
        "surrogate",
    ),
    "a map where a queue's dequeue takes nothing": (
        '{"process": 0, "type": "invoke", "f": "dequeue", "value": {}}\n',
        "fifo-queue",
        1,
        "a value holding a map",
    ),
    "a newline in a function's name": (
        '{"process": 0, "type": "ok", "f": "wr\\nite", "value": 1}\n',
        "register",
        1,
        "wr\\nite",
    ),
    "a map inside a key, edn": (
        "{:process 0 :type :invoke :f :write :key [1 {:a 1}] :value 1}\n",
        "register",
        1,
        "'key' must be",
    ),
    "invoke earlier than the previous completion": (
        '{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0}\n'
        '{"process": 0, "type": "ok", "f": "write", "value": 1, "time": 5}\n'
        '{"process": 0, "type": "invoke", "f": "read", "value": null, "time": 3}\n',
        "register",
        3,
        "times cannot go backwards",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_line(tmp_path, name):
    content, spec, line, words = CASES[name]
    path = tmp_path / "h.jsonl"
    path.write_text(content)
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", spec])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    msg = res.output.strip()
    assert "\n" not in msg and "Traceback" not in msg
    assert str(path) in msg
    if line is not None:
        assert f"{path}:{line}:" in msg
    assert words in msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
    assert res.exit_code == 2
    assert "empty history" in res.output and str(path) in res.output


def test_binary_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 4)
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
    assert res.exit_code == 2
    assert "not a text file" in res.output and str(path) in res.output


def test_missing_file_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(cli, ["check", str(tmp_path / "nope.jsonl"), "--spec", "register"])
    assert res.exit_code == 2
    assert "cannot read file" in res.output


def test_unknown_spec_is_a_usage_error(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(INV + "\n" + OK + "\n")
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "btree"])
    assert res.exit_code == 2
    assert "unknown spec 'btree'" in res.output


def test_no_spec_anywhere_says_what_to_do(tmp_path):
    # reads alone fit several specs: nothing names one, and nothing can be inferred
    path = tmp_path / "h.jsonl"
    path.write_text(INV.replace("write", "read") + "\n" + OK.replace("write", "read") + "\n")
    res = CliRunner().invoke(cli, ["check", str(path)])
    assert res.exit_code == 2
    assert "--spec" in res.output


def test_bad_input_among_many_files_gets_its_own_line(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(INV + "\n" + OK + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(OK + "\n")
    res = CliRunner().invoke(cli, ["check", str(good), str(bad), "--spec", "register"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert lines[0] == f"{good}\tvalid"
    assert lines[1].startswith(f"{bad}\tbad input: ")


def test_installed_command_prints_no_traceback(tmp_path):
    # The real entry point, in a real process: what a user sees on the terminal.
    path = tmp_path / "h.edn"
    path.write_text("[{:process 0 :type :invoke :f :write :value 1}\n{:process 0 :type :ok")
    proc = subprocess.run(
        [sys.executable, "-m", "replicheck.cli.main", "check", str(path), "--spec", "register"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(f"error: {path}:")


TIED = (
    '{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0}\n'
    '{"process": 0, "type": "ok", "f": "write", "value": 1, "time": 1}\n'
    '{"process": 0, "type": "invoke", "f": "read", "value": null, "time": 1}\n'
    '{"process": 0, "type": "ok", "f": "read", "value": null, "time": 2}\n'
)


@pytest.mark.parametrize("timed", [True, False])
def test_equal_times_keep_a_process_own_order(tmp_path, timed):
    # issue 18.2: the read invoked at the instant its process's write completed comes
    # after the write, so reading nil is a violation, with times as without
    path = tmp_path / "h.jsonl"
    text = TIED if timed else "".join(line.split(', "time"')[0] + "}\n" for line in TIED.splitlines())
    path.write_text(text)
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
    assert res.exit_code == 1, res.output
    assert "NOT linearizable" in res.output


def test_equal_times_of_two_processes_stay_concurrent(tmp_path):
    # the tie rule orders only a process's own events: another process's write that
    # completed at the same instant may still come after the read
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0}\n'
        '{"process": 0, "type": "ok", "f": "write", "value": 1, "time": 1}\n'
        '{"process": 1, "type": "invoke", "f": "read", "value": null, "time": 1}\n'
        '{"process": 1, "type": "ok", "f": "read", "value": null, "time": 2}\n'
    )
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
    assert res.exit_code == 0, res.output


def test_metadata_of_the_wrong_kind_is_this_file_bad_input(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(INV + "\n" + OK + "\n")
    numbered = tmp_path / "numbered.jsonl"
    numbered.write_text('{"replicheck": {"spec": 1}}\n' + INV + "\n" + OK + "\n")
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"replicheck": {"spec": "btree"}}\n' + INV + "\n" + OK + "\n")
    digits = tmp_path / "digits.jsonl"
    digits.write_text(INV + "\n" + OK.replace('"value": 1', '"value": ' + "9" * 5000) + "\n")
    last = tmp_path / "last.jsonl"
    last.write_text('{"replicheck": {"spec": "register"}}\n' + INV + "\n" + OK + "\n")
    files = [good, numbered, unknown, digits, last]
    res = CliRunner().invoke(cli, ["check", *map(str, files)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 5 and "Traceback" not in res.output
    assert lines[0] == f"{good}\tvalid" and lines[4] == f"{last}\tvalid"
    for path, line in zip(files[1:4], lines[1:4]):
        assert line.startswith(f"{path}\tbad input: {path}:")


def test_process_named_by_a_superscript_digit(tmp_path):
    # "²" passes str.isdigit but int() refuses it: a name, in every format
    for name, text in {
        "h.log": "INFO jepsen.util - \u00b2 :invoke :write 1\nINFO jepsen.util - \u00b2 :ok :write 1\n",
        "h.edn": "{:process \u00b2 :type :invoke :f :write :value 1}\n"
        "{:process \u00b2 :type :ok :f :write :value 1}\n",
        "h.jsonl": INV.replace("0", '"\u00b2"') + "\n" + OK.replace("0", '"\u00b2"') + "\n",
    }.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
        assert res.exit_code == 0, (name, res.output)


@pytest.mark.parametrize("option", ["--html", "--minimize-out"])
@pytest.mark.parametrize("where", ["no such folder", "not writable"])
def test_unwritable_output_is_one_line(tmp_path, option, where):
    path = tmp_path / "h.jsonl"
    path.write_text(TIED)
    folder = tmp_path / "out"
    if where == "not writable":
        folder.mkdir()
        folder.chmod(0o500)
    try:
        res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register", option, str(folder / "x")])
    finally:
        if folder.exists():
            folder.chmod(0o700)
    if where == "not writable" and res.exit_code == 1:
        pytest.skip("running as root: the folder is writable anyway")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0 and "cannot write" in res.output


def test_json_output_holds_no_nan_or_infinity(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(
        INV.replace('"value": 1', '"value": 1e400') + "\n" + OK.replace('"value": 1', '"value": 1e400') + "\n"
    )
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register", "--json"])
    assert res.exit_code == 0, res.output
    import json

    json.loads(res.output, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))


def test_session_field_given_as_a_list(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(INV.replace("}", ', "session": [1]}') + "\n" + OK + "\n")
    res = CliRunner().invoke(
        cli, ["check", str(path), "--spec", "register", "--consistency", "read-your-writes"]
    )
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("depth", [500, 100_000])
def test_the_api_refuses_deep_values_as_history_errors(depth):
    from replicheck.checker import HistoryError, check, parse_history
    from replicheck.checker.history import History

    text = '{"process": 0, "type": "invoke", "f": "write", "value": ' + "[" * depth + "]" * depth + "}\n"
    with pytest.raises(HistoryError, match="nested deeper"):
        parse_history(text)
    deep: list = []
    for _ in range(depth):
        deep = [deep]
    with pytest.raises(HistoryError, match="nested deeper"):
        check(
            History.from_events([{"process": 0, "type": "invoke", "f": "write", "value": deep}]), "register"
        )


def test_a_surrogate_pair_in_edn_is_one_character_and_prints(tmp_path):
    # found by the fuzz campaign: "\ud83d\ude00" read as two halves could not be printed
    path = tmp_path / "h.edn"
    path.write_text(
        '{:process 0 :type :invoke :f :write :value 1 :node "\\ud83d\\ude00"}\n'
        '{:process 0 :type :ok :f :write :value 1 :node "\\ud83d\\ude00"}\n'
    )
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
    assert res.exit_code == 0, res.output


def test_the_api_refuses_text_holding_half_a_surrogate_pair():
    from replicheck.checker import HistoryError, parse_history

    with pytest.raises(HistoryError, match="surrogate"):
        parse_history(INV[:-1] + ', "node": "\ud800"}\n')


def test_ties_at_integer_times_past_what_a_float_holds(tmp_path):
    path = tmp_path / "h.jsonl"
    big = 10**400
    path.write_text(
        "".join(line.replace('"time": ', f'"time": {big // 10}') + "\n" for line in TIED.splitlines())
    )  # times 10**399 * 10 + 0, 1, 2: far past a float
    res = CliRunner().invoke(cli, ["check", str(path), "--spec", "register"])
    assert res.exit_code == 1, res.output
