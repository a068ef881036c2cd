"""One vocabulary: every command's flags checked against the table in cli/vocabulary.py."""

from __future__ import annotations

import importlib

import click
import pytest
from click.testing import CliRunner

from replicheck.cli.main import COMMANDS, cli
from replicheck.cli.vocabulary import DEPRECATED, FLAGS, PARAM_CONCEPT, PARAM_CONCEPT_IN, shown_opts


def _commands() -> list[tuple[str, click.Command]]:
    out = []
    for name, target in sorted(COMMANDS.items()):
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", c) for sub, c in sorted(cmd.commands.items())]
        else:
            out.append((name, cmd))
    return out


def _options(cmd: click.Command) -> list[click.Option]:
    ctx = click.Context(cmd, info_name="x")
    helps = {id(cmd.get_help_option(ctx))}
    return [p for p in cmd.get_params(ctx) if isinstance(p, click.Option) and id(p) not in helps]


COMMAND_OPTIONS = [(path, o) for path, cmd in _commands() for o in _options(cmd)]
SPELLING_CONCEPT = {s: c for c, spellings in FLAGS.items() for s in spellings}


def _id(case) -> str:
    return f"{case[0]}:{case[1].name}"


def test_every_command_is_walked():
    paths = {p for p, _ in COMMAND_OPTIONS}
    assert {
        "check",
        "simulate",
        "explore",
        "compare",
        "quorum check",
        "quorum staleness",
        "record postgres",
    } <= paths
    assert len(COMMAND_OPTIONS) > 100  # the topology flags of simulate and explore are included


@pytest.mark.parametrize("case", COMMAND_OPTIONS, ids=_id)
def test_option_has_help_and_a_real_metavar(case):
    path, opt = case
    assert opt.help, f"{path} {opt.opts}: no help"
    if opt.is_flag or opt.count:
        return
    ctx = click.Context(click.Command(path), info_name=path)
    metavar = opt.make_metavar(ctx)
    assert metavar not in ("V", "VALUE", "TEXT"), f"{path} {opt.opts}: metavar {metavar!r} says nothing"
    if not isinstance(opt.type, click.Choice):
        assert opt.metavar, f"{path} {opt.opts}: no metavar of its own ({metavar})"


@pytest.mark.parametrize("case", COMMAND_OPTIONS, ids=_id)
def test_option_shows_its_default(case):
    path, opt = case
    unset = opt.default is None or type(opt.default).__name__ == "Sentinel"  # click >= 8.3: UNSET
    if opt.is_flag or opt.multiple or unset or opt.required:
        return
    assert opt.show_default or "[" in (opt.help or ""), (
        f"{path} {opt.opts}: default {opt.default!r} not shown"
    )


@pytest.mark.parametrize("case", COMMAND_OPTIONS, ids=_id)
def test_same_concept_same_flag(case):
    path, opt = case
    shown = shown_opts(opt)
    concept = PARAM_CONCEPT_IN.get((path, opt.name or "")) or PARAM_CONCEPT.get(opt.name or "")
    if concept is not None:
        assert sorted(shown) == sorted(FLAGS[concept]), f"{path}: {concept} spelled {shown}"
    for s in shown:
        other = SPELLING_CONCEPT.get(s)
        assert other is None or other == concept, f"{path}: {s} is {other}'s flag, used for {opt.name}"
        assert s not in DEPRECATED, f"{path}: deprecated {s} shown in --help"


@pytest.mark.parametrize("path", sorted({p for p, _ in COMMAND_OPTIONS}))
def test_help_has_no_bare_v_metavar(path):
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert " V " not in result.output and not any(
        line.rstrip().endswith(" V") for line in result.output.splitlines()
    )
    for old in ("--n ", "--w ", "--r ", "--timeout-ms", "--think ", "--quiet "):
        assert old not in result.output, f"{path} --help shows {old.strip()}"


@pytest.mark.parametrize(
    "args",
    [
        "quorum check --n 3 --w 2 --r 2 --no-measure --timeout-ms 5000",
        "quorum check -n 3 -w 2 -r 2 --no-measure --solver-timeout-ms 5000",
        "quorum check --nodes 3 -w 2 -r 2 --no-measure",
        "quorum solve --n 3 --write-failures 1",
        "quorum staleness --n 3 --w 1 --r 1 --trials 100",
        "quorum staleness -n 3 -w 1 -r 1 --trials 100",
    ],
)
def test_old_and_new_quorum_spellings_agree(args):
    result = CliRunner().invoke(cli, args.split())
    assert result.exit_code == 0, result.output


def test_renamed_model_option_still_parses_in_saved_configurations():
    from replicheck.model.config import make_config, parse_config

    assert parse_config("leaderless -n 5 --timeout-ms 70 -w 3").timeout_ms == 70
    assert parse_config("leaderless --nodes 5 --client-timeout-ms=70").timeout_ms == 70
    assert make_config("leader-follower", {"timeout-ms": 70}).timeout_ms == 70


def test_one_seed_policy_default_zero_everywhere():
    seeds = [(path, o) for path, o in COMMAND_OPTIONS if o.name == "seed"]
    assert len(seeds) >= 6
    for path, o in seeds:
        assert o.default == 0 or (o.default is None and "[0]" in (o.help or "")), path


def test_simulate_without_seed_runs_seed_zero_and_prints_it():
    a = CliRunner().invoke(cli, ["simulate", "leader-follower", "--ops", "20", "--json"])
    b = CliRunner().invoke(cli, ["simulate", "leader-follower", "--ops", "20", "--json", "--seed", "0"])
    assert a.exit_code == 0 and a.output == b.output and '"seed": 0' in a.output


@pytest.mark.parametrize("system", ["postgres", "mariadb", "etcd", "redis"])
def test_a_required_shared_option_is_still_asked_for(system):
    # vocabulary.SHARED gives no default=None: click would take it as a value and stop
    # asking for record's required --out
    dsn = "--endpoint" if system == "etcd" else "--primary"
    result = CliRunner().invoke(cli, ["record", system, dsn, "x"])
    assert result.exit_code == 2 and "Missing option '--out'" in result.output, result.output
