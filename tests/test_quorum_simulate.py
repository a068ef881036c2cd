"""`quorum check --simulate` underneath: the leaderless model run with a quorum system's
parameters, every history judged by the checker. The known facts must come out."""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner

from replicheck.checker import History, check, read_history
from replicheck.cli.main import cli
from replicheck.model.config import ConfigError, parse_config, run
from replicheck.model.quorum_run import find_anomaly, scenario, simulate_quorum

SEEDS = range(4)


def test_strict_quorums_without_blocking_read_repair_are_not_linearizable(tmp_path):
    sim = simulate_quorum(3, 2, 2, read_repair="none", seeds=SEEDS, out_dir=tmp_path)
    assert sim.verdict is False and sim.exit_code == 1
    bad = [r for r in sim.runs if r.valid is False]
    assert bad
    # The textbook pattern: a read saw a new value, a later read the old one.
    assert any(r.anomaly and r.anomaly["kind"] == "new-then-old" for r in bad)
    for r in bad:
        saved = read_history(r.saved)
        assert check(saved).valid is False  # the file alone carries its spec
        assert r.replay[0].startswith("replicheck simulate leaderless") and f"--seed {r.seed}" in r.replay[0]
    assert sim.to_dict()["linearizable"] is False


def test_the_printed_replay_command_regenerates_the_saved_history(tmp_path):
    sim = simulate_quorum(3, 2, 2, seeds=[0], out_dir=tmp_path)
    (bad,) = sim.runs
    assert bad.valid is False
    replayed = tmp_path / "replayed.jsonl"
    words = shlex.split(bad.replay[0])
    assert words[:2] == ["replicheck", "simulate"]
    words[words.index("--out") + 1] = str(replayed)
    result = CliRunner().invoke(cli, words[1:])
    assert result.exit_code == 0, result.output
    # Same events, line for line; only the metadata's "source" differs.
    assert replayed.read_text().splitlines()[1:] == open(bad.saved).read().splitlines()[1:]


def test_abd_write_back_keeps_strict_quorums_linearizable():
    for n, w, r in ((3, 2, 2), (5, 3, 3)):
        sim = simulate_quorum(n, w, r, read_repair="blocking", seeds=range(2), out_dir=None)
        assert [x.valid for x in sim.runs] == [True, True], (n, w, r)
        assert sim.exit_code == 0


def test_sloppy_quorums_give_stale_reads_even_with_abd_and_w_plus_r_above_n():
    sim = simulate_quorum(3, 2, 2, fallbacks=2, read_repair="blocking", seeds=SEEDS, out_dir=None)
    assert all(r.valid is False for r in sim.runs)
    assert all(r.sloppy_operations > 0 for r in sim.runs)
    assert {r.anomaly["kind"] for r in sim.runs if r.anomaly} & {"stale-read", "new-then-old"}


def test_sloppy_with_w_plus_r_above_n_plus_2k_behaves_like_a_strict_quorum():
    # Z3 proves read-write intersection on home nodes once W + R > N + 2K (a read cannot
    # see a fallback's hint); ABD then stays linearizable though fallbacks stand in.
    sim = simulate_quorum(3, 3, 3, fallbacks=1, read_repair="blocking", seeds=range(2), out_dir=None)
    assert sim.verdict is True
    assert all(r.sloppy_operations > 0 for r in sim.runs)


def test_scenario_puts_fallbacks_with_the_small_side_and_parses():
    text = scenario(5, 3, 3, fallbacks=2, read_repair="async")
    assert "--partition '20:n1,n2,f1,f2|n3,n4,n5'" in text
    cfg = parse_config(text + " --seed 1")
    assert cfg.protocol.sloppy and cfg.protocol.fallbacks == 2 and cfg.protocol.w == 3
    with pytest.raises(ConfigError, match="N <= 25"):
        simulate_quorum(101, 51, 51, seeds=[0], out_dir=None)


def _ev(process, typ, f, value, t):
    return {"process": process, "type": typ, "f": f, "value": value, "time": t, "node": "n1"}


def test_find_anomaly_names_sound_patterns_only():
    writes = [
        _ev(0, "invoke", "write", 1, 0),
        _ev(0, "ok", "write", 1, 10),
        _ev(0, "invoke", "write", 2, 20),
        _ev(0, "ok", "write", 2, 30),
    ]
    new_then_old = writes + [
        _ev(1, "invoke", "read", None, 40),
        _ev(1, "ok", "read", 2, 50),
        _ev(2, "invoke", "read", None, 60),
        _ev(2, "ok", "read", 1, 70),
    ]
    a = find_anomaly(new_then_old)
    assert a["kind"] == "new-then-old" and a["first_read"]["value"] == 2 and a["later_read"]["value"] == 1
    # Reading 1 after 2 was acknowledged is already stale, with no earlier read needed.
    stale = writes + [_ev(2, "invoke", "read", None, 60), _ev(2, "ok", "read", 1, 70)]
    assert find_anomaly(stale)["kind"] == "stale-read"
    # Overlapping reads, or a read concurrent with the write, prove nothing.
    fine = writes[:3] + [
        _ev(1, "invoke", "read", None, 22),
        _ev(1, "ok", "read", 2, 24),
        _ev(2, "invoke", "read", None, 24),
        _ev(2, "ok", "read", 1, 26),
        writes[3],
    ]
    assert find_anomaly(fine) is None
    assert check(History.from_events(fine), "register").valid is True
    for events in (new_then_old, stale):
        assert check(History.from_events(events), "register").valid is False


def test_find_anomaly_never_contradicts_the_checker_on_model_histories():
    found = 0
    for seed in range(6):
        r = run(parse_config(f"leaderless --nodes 3 -w 1 -r 1 --ops 150 --loss 0.05 --seed {seed}"))
        if find_anomaly(r.events) is not None:
            found += 1
            assert check(History.from_events(r.events, meta=r.meta)).valid is False
    assert found  # W + R <= N: stale reads are everywhere, so the comparison is not vacuous
