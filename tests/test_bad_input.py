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
