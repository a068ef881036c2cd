"""Each input mistake issue 14 found taken silently is now a clean usage error (exit 2,
saying how to write it) or gives the right result."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from replicheck.cli.check import parse_init
from replicheck.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def register_history(tmp_path):
    """write 1 then a read of 1: linearizable whatever the initial value."""
    path = tmp_path / "h.jsonl"
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 0, "type": "invoke", "f": "read", "value": None},
        {"process": 0, "type": "ok", "f": "read", "value": 1},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


@pytest.mark.parametrize("text", ["zero", "None", '{"x":1', "True", "[a]", "1 2", '{"a":1}', "{:a 1}"])
def test_init_that_is_not_one_json_or_edn_value_is_exit_2(register_history, text):
    r = run("check", register_history, "--spec", "register", "--init", text)
    assert r.exit_code == 2, r.output
    assert "--init" in r.output and ("JSON" in r.output or "map" in r.output)
    assert "Traceback" not in r.output


def test_init_word_error_says_how_to_quote_it(register_history):
    r = run("check", register_history, "--init", "zero")
    assert "'\"zero\"'" in r.output


@pytest.mark.parametrize(
    "text, value",
    [
        ("0", 0),
        ("nil", None),
        ("null", None),
        ('"zero"', "zero"),
        ("[1,2]", (1, 2)),
        ("[1 2]", (1, 2)),
        (":x", ":x"),
        ("true", True),
        ("-3", -3),
        ("#{1 2}", frozenset({1, 2})),
    ],
)
def test_init_reads_json_and_edn(text, value):
    assert parse_init(text) == value


def test_a_right_init_gives_the_right_verdict(register_history):
    assert run("check", register_history, "--spec", "register", "--init", "0").exit_code == 0
    assert run("check", register_history, "--spec", "register", "--init", '"zero"').exit_code == 0
