"""The benchmark generator's ground truth: what it calls linearizable is, and what it calls
not linearizable is not, in every format it writes, as `replicheck check` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_modules import gen_histories
from click.testing import CliRunner

from replicheck.cli.main import cli

gh = gen_histories()

# (spec, generator options): unique and few values, nil and 0 initial registers
CASES = [
    ("kv", {"keys": 4, "values": None}),
    ("kv", {"keys": 3, "values": 3}),
    ("cas-register", {"values": None}),
    ("cas-register", {"values": 3, "init": 0}),
]


def _verdict(path: Path, flags: list[str]) -> int:
    result = CliRunner().invoke(cli, ["check", "--quiet", *flags, str(path)])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code


@pytest.mark.parametrize("fmt", gh.FORMATS)
@pytest.mark.parametrize("spec,opts", CASES)
@pytest.mark.parametrize("linearizable", [True, False])
def test_generated_verdicts(tmp_path: Path, fmt: str, spec: str, opts: dict, linearizable: bool) -> None:
    gen = gh.generate(spec, 300, concurrency=5, crash=0.05, seed=7, linearizable=linearizable, **opts)
    path = tmp_path / ("h" + gh.SUFFIX[fmt])
    gh.write_history(gen, path, fmt)
    assert _verdict(path, gh.check_flags(gen, fmt)) == (0 if linearizable else 1)


def test_versions_differ_in_one_read_only() -> None:
    a = gh.generate("kv", 400, keys=5, seed=3)
    b = gh.generate("kv", 400, keys=5, seed=3, linearizable=False)
    assert a.order == b.order
    differ = [i for i, (x, y) in enumerate(zip(a.ops, b.ops)) if x != y]
    assert differ == [b.stale["read"]]
    assert b.ops[differ[0]][gh.F] == "get"


def test_seed_decides_everything() -> None:
    first = gh.generate("cas-register", 300, seed=11, crash=0.1)
    assert first.ops == gh.generate("cas-register", 300, seed=11, crash=0.1).ops
    assert first.ops != gh.generate("cas-register", 300, seed=12, crash=0.1).ops


def test_crashed_process_never_invokes_again() -> None:
    gen = gh.generate("kv", 500, keys=3, seed=5, crash=0.2)
    crashed = {op[gh.PID] for op in gen.ops if op[gh.STATUS] == "info"}
    assert len(crashed) == gen.crashed > 0
    last: dict = {}
    for i, op in enumerate(gen.ops):
        last[op[gh.PID]] = i
    # each crashed process's last op is the one that crashed
    assert all(gen.ops[last[p]][gh.STATUS] == "info" for p in crashed)


@pytest.mark.parametrize("spec,opts", CASES)
def test_tiny_histories_agree_with_the_oracle(spec: str, opts: dict) -> None:
    # the brute-force oracle, written apart from the checker, is the ground truth's judge
    from oracle import MAX_OPS, oracle

    for seed in range(15):
        for linearizable in (True, False):
            gen = gh.generate(spec, 7, concurrency=3, crash=0.2, seed=seed, linearizable=linearizable, **opts)
            assert len(gen.ops) <= MAX_OPS
            assert oracle(list(gen.events()), spec, gen.init) is linearizable, (spec, seed, opts)
