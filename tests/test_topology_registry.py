"""The topology registry: built-ins register themselves, and a topology defined in one
module (tests/toy_topology.py) runs through every path the built-ins do."""

import json

import pytest
import toy_topology  # noqa: F401  (registers single-node)
from click.testing import CliRunner

from replicheck.checker import check, read_history
from replicheck.cli.main import cli
from replicheck.model import topology as registry
from replicheck.model.config import ConfigError, parse_config, run
from replicheck.model.explore import explore
from replicheck.model.options import COMMON_OPTIONS


def test_builtins_and_the_toy_are_registered_in_order():
    names = registry.names()
    assert names[:3] == ["leader-follower", "multi-leader", "leaderless"]
    assert "single-node" in names


def test_toy_runs_from_a_configuration_string_and_its_history_is_linearizable():
    result = run(parse_config("single-node --service-ms 0.5 --ops 60 --clients 3 --seed 4"))
    assert result.meta["topology"] == "single-node"
    assert result.meta["protocol"] == "single-node --service-ms 0.5"
    # the history ends with a final read of the register on the one node
    ops = [e for e in result.events if e["type"] != "invoke" and e.get("session") != "final"]
    assert [e["node"] for e in result.events if e.get("session") == "final" and e["type"] == "ok"] == ["n1"]
    assert len(ops) == 60 and all(e["type"] == "ok" for e in ops)
    assert result.measurements == {"acked_writes": sum(e["f"] == "write" for e in ops)}


def test_toy_options_are_validated_by_its_own_builder():
    with pytest.raises(ConfigError, match="exactly one node"):
        parse_config("single-node --nodes 3")
    with pytest.raises(ConfigError, match="service-ms"):
        parse_config("single-node --service-ms soon")


def test_simulate_then_check_through_the_cli(tmp_path):
    runner = CliRunner()
    out = tmp_path / "h.jsonl"
    sim = runner.invoke(
        cli,
        [
            "simulate",
            "single-node",
            "--service-ms",
            "1",
            "--ops",
            "80",
            "--seed",
            "2",
            "--crash",
            "n1@20",
            "--restart",
            "n1@40",
            "--out",
            str(out),
        ],
    )
    assert sim.exit_code == 0, sim.output
    printed = "replicheck simulate single-node --ops 80 --service-ms 1 --crash n1@20 --restart n1@40 --seed 2"
    assert printed in sim.output
    history = read_history(str(out))
    assert history.meta["source"].startswith("replicheck simulate single-node")
    # The crash loses replies, so some writes are info: still a linearizable register.
    assert any(e.type == "info" for e in history.events)
    assert check(history).valid is True
    judged = runner.invoke(cli, ["check", str(out)])
    assert judged.exit_code == 0, judged.output


def test_the_same_seed_gives_the_same_toy_history(tmp_path):
    runner = CliRunner()
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for p in paths:
        r = runner.invoke(cli, ["simulate", "single-node", "--seed", "9", "--ops", "50", "--out", str(p)])
        assert r.exit_code == 0, r.output
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_toy_flags_appear_in_help_with_their_owner():
    runner = CliRunner()
    for command in ("simulate", "explore"):
        text = runner.invoke(cli, [command, "--help"]).output
        assert "--service-ms" in text and "single-node: time the node takes to answer" in text
        assert "--replication" in text and "-w" in text


def test_an_option_of_another_topology_is_refused_not_ignored():
    r = CliRunner().invoke(cli, ["simulate", "single-node", "--replication", "sync"])
    assert r.exit_code == 2
    assert "--replication applies to leader-follower, not to single-node" in r.output
    r = CliRunner().invoke(cli, ["simulate", "leaderless", "--service-ms", "1"])
    assert r.exit_code == 2 and "applies to single-node" in r.output


def test_explore_searches_the_toy_and_finds_it_linearizable():
    result = explore(
        "single-node --service-ms 1", "linearizable", max_examples=15, steps=12, derandomize=True
    )
    assert result.outcome == "no counterexample", result.to_dict()
    assert explore("single-node", "single-leader", max_examples=1).outcome == "not applicable"


def test_explore_cli_runs_the_toy(tmp_path):
    r = CliRunner().invoke(
        cli,
        [
            "explore",
            "single-node",
            "--property",
            "durability",
            "--max-examples",
            "10",
            "--steps",
            "10",
            "--json",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["design"] == "single-node" and data["outcome"] == "no counterexample"


def test_a_topology_may_not_redeclare_a_common_option():
    clash = registry.Topology(
        name="bad",
        help="",
        options=(COMMON_OPTIONS[1],),
        build_config=lambda opts: None,
        build=lambda sim, cfg: None,
    )
    with pytest.raises(ValueError, match="redeclares common option"):
        registry.register(clash)
    assert "bad" not in registry.names()


def test_a_shared_option_must_agree_on_its_kind():
    from replicheck.model.options import Option

    clash = registry.Topology(
        name="bad",
        help="",
        options=(Option("--fencing", "a value here"),),
        build_config=lambda opts: None,
        build=lambda sim, cfg: None,
    )
    with pytest.raises(ValueError, match="declares it as --fencing"):
        registry.register(clash)
    assert "bad" not in registry.names()


def test_importing_a_protocol_module_first_keeps_the_listed_order():
    import subprocess
    import sys

    code = (
        "import replicheck.model.leaderless; from replicheck.model.topology import names; "
        "print(','.join(names()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "leader-follower,multi-leader,leaderless"
