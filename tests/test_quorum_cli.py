"""`replicheck quorum`: exit codes, text and JSON output, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from replicheck import quorum as q
from replicheck.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, ["quorum", *args])


def test_strict_quorum_holds_exit_0():
    result = run("check", "--n", "5", "--w", "3", "--r", "3")
    assert result.exit_code == 0, result.output
    assert "proved    read-write intersection" in result.output
    assert "write fault tolerance = 2" in result.output


def test_partial_quorum_refuted_exit_1_with_named_nodes():
    result = run("check", "--n", "3", "--w", "1", "--r", "2", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    rw = next(r for r in data["results"] if r["property"] == "read-write intersection")
    assert rw["status"] == "refuted"
    read, write = set(rw["counterexample"]["quorums"]["read"]), set(rw["counterexample"]["quorums"]["write"])
    assert len(read) == 2 and len(write) == 1 and not read & write
    assert read | write <= {"n1", "n2", "n3"}


def test_local_quorum_across_datacenters_text():
    result = run(
        *"check --dc east=3,west=3 --write LOCAL_QUORUM@east --read LOCAL_QUORUM@west --no-measure".split()
    )
    assert result.exit_code == 1
    assert "REFUTED   read-write intersection" in result.output
    assert "west1 west2" in result.output


def test_each_quorum_with_dc_down_json():
    result = run(
        *(
            "check --dc east=3,west=3 --write EACH_QUORUM "
            "--read LOCAL_QUORUM --coordinator west --dc-down --json"
        ).split()
    )
    data = json.loads(result.output)
    statuses = {r["property"]: r["status"] for r in data["results"]}
    assert statuses["read-write intersection"] == "proved"
    assert statuses["write availability with a datacenter down"] == "refuted"
    assert result.exit_code == 1


def test_sloppy_prints_the_stand_ins():
    result = run("check", "--n", "3", "--w", "2", "--r", "2", "--sloppy", "--fallback", "2", "--no-measure")
    assert result.exit_code == 1
    assert "fallbacks stood in" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--weights", "a=2,b=1,c=1,d=1"],
        ["--n", "5", "--q1", "4", "--q2", "2", "--f", "1"],
        ["--grid", "3x3"],
        ["--n", "1001", "--w", "501", "--r", "501", "--f", "500"],
    ],
)
def test_other_systems_hold(args):
    result = run("check", *args)
    assert result.exit_code == 0, result.output


def test_unknown_is_exit_3():
    # The per-node encoding of a 301-node majority cannot finish in 1 ms.
    result = run(*"check --n 301 --w 151 --r 151 --encoding per-node --timeout-ms 1 --no-measure".split())
    assert result.exit_code == 3, result.output
    assert "UNKNOWN" in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["check", "--n", "3", "--w", "4", "--r", "1"], "W=4 must be between 1 and N=3"),
        (["check", "--dc", "east=3", "--write", "SOMETIMES", "--read", "ONE"], "unknown consistency level"),
        (
            ["check", "--dc", "east=3", "--write", "LOCAL_QUORUM@mars", "--read", "ONE"],
            "'mars' does not exist",
        ),
        (["check", "--dc", "east=3,west", "--write", "ONE", "--read", "ONE"], "NAME=INTEGER"),
        (["check", "--dc", "east=3", "--write", "ONE"], "--read"),
        (["check", "--weights", "a=-1,b=2"], "votes must be >= 0"),
        (["check", "--grid", "3by3"], "ROWSxCOLS"),
        (["check", "--n", "3", "--w", "2"], "give --nodes, -w and -r"),
        (["check", "--n", "3", "--w", "2", "--r", "2", "--dc-down"], "--dc-down needs datacenters"),
        (["check", "--dc", "a=1", "--write", "ONE", "--read", "ONE", "--grid", "2x2"], "choose one kind"),
        (["table", "--min-n", "5", "--max-n", "3"], "larger than"),
        (["staleness", "--n", "3", "--w", "1", "--r", "1", "--latency", "gauss:3"], "unknown latency kind"),
        (
            ["staleness", "--n", "3", "--w", "1", "--r", "1", "--latency", "exp:1", "--t", "a,b"],
            "--t expects",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert sum(1 for line in result.output.splitlines() if line.startswith("Error:")) == 1


def test_table_lists_every_configuration_and_agrees_with_check():
    result = run("table", "--max-n", "4", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)["rows"]
    assert len(rows) == sum(n * n for n in range(1, 5))
    for row in rows:
        assert (row["read_write"] == "proved") == (row["w"] + row["r"] > row["n"])
        assert (row["write_write"] == "proved") == (2 * row["w"] > row["n"])
        assert row["write_fault_tolerance"] == row["n"] - row["w"]
    text = run("table", "--max-n", "3")
    assert text.exit_code == 0
    assert len(text.output.splitlines()) == 2 + 1 + 4 + 9


def test_solve_text_and_json():
    result = run("solve", "--write-failures", "2", "--read-failures", "1")
    assert result.exit_code == 0
    assert "smallest: N=4 W=2 R=3" in result.output
    data = json.loads(
        run("solve", "--write-failures", "1", "--read-failures", "1", "--write-write", "--json").output
    )
    assert (data["n"], data["w"], data["r"]) == (3, 2, 2)
    impossible = run("solve", "--write-failures", "3", "--n", "3")
    assert impossible.exit_code == 1


def test_staleness_prints_closed_form_and_seed():
    result = run(*"staleness --n 3 --w 1 --r 1 --trials 2000 --seed 9 --latency lnkd-ssd --t 0,5".split())
    assert result.exit_code == 0, result.output
    assert "= 2/3" in result.output and "seed 9" in result.output
    data = json.loads(
        run(
            *"staleness --n 3 --w 1 --r 1 --trials 2000 --latency exp:1 --w-latency exp:0.1 --json".split()
        ).output
    )
    assert data["wars"]["latencies"]["W"] == "exp:0.1" and data["wars"]["latencies"]["A"] == "exp:1"
    assert data["staleness"]["closed_form"] == "2/3"


def test_compact_node_lists():
    from replicheck.cli.quorum import compact

    assert compact(["n1", "n2", "n3", "n4", "n7"]) == "n1..n4 n7  (5 nodes)"
    assert compact(["east1", "east2", "west1"]) == "east1 east2 west1"
    assert compact([]) == "(none)"


def test_cli_reports_the_same_verdict_as_the_api():
    for n, w, r in [(4, 2, 2), (4, 2, 3), (6, 1, 6)]:
        report = q.check(q.threshold(n, w, r), q.default_properties(q.threshold(n, w, r)))
        result = run("check", "--n", str(n), "--w", str(w), "--r", str(r))
        assert result.exit_code == report.exit_code


# -- --simulate --------------------------------------------------------------------------


def test_simulate_strict_quorum_reports_violations_with_seed_file_and_replay(tmp_path):
    result = run(*"check --n 3 --w 2 --r 2 --no-measure --simulate --runs 2 --out-dir".split(), str(tmp_path))
    assert result.exit_code == 1, result.output  # proved intersection, refuted by a history
    assert "proved    read-write intersection" in result.output
    assert "seed 0" in result.output and "NOT linearizable" in result.output
    assert "new value, then old" in result.output
    assert "replicheck simulate leaderless --nodes 3 -w 2 -r 2" in result.output
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved and all(name in result.output for name in saved)


def test_simulate_abd_is_linearizable_exit_0():
    result = run(*"check --n 3 --w 2 --r 2 --no-measure --simulate --runs 2 --read-repair blocking".split())
    assert result.exit_code == 0, result.output
    assert "every history was linearizable" in result.output


def test_simulate_sloppy_json(tmp_path):
    result = run(
        *(
            "check --n 3 --w 2 --r 2 --sloppy --fallback "
            "2 --no-measure --simulate --runs 2 --seed 5 --read-repair blocking --out-dir"
        ).split(),
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["results"][0]["status"] == "refuted"
    sim = data["simulation"]
    assert sim["sloppy"] is True and sim["fallbacks"] == 2 and sim["seeds"] == [5, 6]
    assert sim["linearizable"] is False
    assert all(r["saved"] and r["replay"] for r in sim["runs"] if r["valid"] is False)


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--dc", "east=3,west=3", "--write", "QUORUM", "--read", "QUORUM", "--simulate"],
            "plain --nodes/-w/-r",
        ),
        (["--n", "3", "--w", "2", "--r", "2", "--runs", "3"], "--runs applies to --simulate"),
        (["--n", "31", "--w", "16", "--r", "16", "--simulate", "--no-measure"], "N <= 25"),
        (["--n", "3", "--w", "2", "--r", "2", "--simulate", "--read-repair", "eager"], "read-repair"),
    ],
)
def test_simulate_bad_usage_is_exit_2(args, message):
    result = run("check", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
