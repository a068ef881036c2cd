"""`replicheck record` keeps passwords out of everything it prints, and leaves an existing
history alone when a run cannot start. No server needed: each run fails connecting."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from replicheck.cli.main import cli
from replicheck.record.secrets import Redactor, passwords_in


def run(tmp_path, *dsn_args: str, out: str = "h.jsonl"):
    return CliRunner().invoke(
        cli,
        [
            "record",
            "postgres",
            *dsn_args,
            "--routing",
            "primary",
            "--statement-timeout",
            "1",
            "--ops",
            "5",
            "--out",
            str(tmp_path / out),
        ],
    )


@pytest.mark.parametrize(
    "dsn, secret",
    [
        # libpq quotes the whole URL in its own error for a malformed host...
        ("postgres://u:SECRET@[::1:1/db", "SECRET"),
        # ...and the bad token alone for an invalid percent-escape in the password
        ("postgres://u:SEC%zzRET@127.0.0.1:1/db", "SEC%zzRET"),
        ("host=127.0.0.1 port=1 password=hunter2 connect_timeout=1", "hunter2"),
        ("host=127.0.0.1 port=1 password='sp ace' bogus=1", "sp ace"),
        ("postgres://u:p%41ss@127.0.0.1:1/db", "pAss"),
        ("postgresql://127.0.0.1:1/db?password=qwerty&sslmode=bogus", "qwerty"),
    ],
)
def test_no_error_path_prints_a_password(tmp_path, dsn, secret):
    res = run(tmp_path, "--primary", dsn)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.count("\n") == 1, res.output
    assert "Traceback" not in res.output
    assert secret not in res.output


def test_a_failed_run_leaves_an_existing_history_whole(tmp_path):
    old = tmp_path / "h.jsonl"
    old.write_text('{"process": 0, "type": "invoke", "f": "read", "value": null}\n')
    before = old.read_text()
    res = run(tmp_path, "--primary", "host=127.0.0.1 port=1 connect_timeout=1")
    assert res.exit_code == 2 and "cannot connect to the primary" in res.output
    assert old.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]  # no temporary file left behind


def test_the_redactor_masks_every_spelling():
    r = Redactor(["postgres://u:a%2Fb@h/db", "host=x password='it''s'"])
    assert r("a/b and a%2Fb") == "*** and ***"
    assert "a%2Fb" in passwords_in("postgres://u:a%2Fb@h/db")
    assert r.dsn("host=x password=zzz") == "host=x password=***"


@pytest.mark.parametrize(
    "args",
    [
        ["mariadb", "--primary", "mariadb://u:SECRET@127.0.0.1:1/db"],
        ["mariadb", "--primary", "mariadb://u:SECRET@[::1:1/db"],
        ["etcd", "--endpoint", "http://u:SECRET@127.0.0.1:1"],
        ["redis", "--primary", "redis://:SECRET@127.0.0.1:1"],
    ],
)
def test_every_recorder_keeps_the_password_out_and_the_old_history_whole(tmp_path, args):
    old = tmp_path / "h.jsonl"
    old.write_text("kept\n")
    res = CliRunner().invoke(
        cli, ["record", *args, "--statement-timeout", "1", "--ops", "5", "--out", str(old)]
    )
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.count("\n") == 1, res.output
    assert "SECRET" not in res.output
    assert "connect" in res.output or "DSN" in res.output, res.output  # the error the password was near
    assert old.read_text() == "kept\n" and [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]
