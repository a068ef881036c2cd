"""One latency grammar (replicheck.quorum.latency) for the simulator and for PBS/WARS."""

import random
import statistics

import pytest

from replicheck.model.config import ConfigError, parse_config, run
from replicheck.model.sim import parse_latency as model_parse
from replicheck.quorum import staleness as pbs
from replicheck.quorum.latency import (
    LATENCY_PRESETS,
    Constant,
    Exponential,
    LatencyError,
    Mixture,
    Pareto,
    ParetoExponential,
    Uniform,
    parse_latency,
)


def test_the_model_and_pbs_read_the_same_grammar():
    assert model_parse is parse_latency
    for text in (
        "exp:5",
        "exponential:5",
        "const:2",
        "3",
        "uniform:1,2",
        "pareto:0.5:2",
        "pareto-exp:1,0.01,20,1.5",
        "0.7*exp:1+0.3*pareto:0.5,2",
    ):
        assert pbs.parse_latency(text).dist in (parse_latency(text), Mixture(((1.0, parse_latency(text)),)))


@pytest.mark.parametrize(
    "text,want",
    [
        ("exp:5", Exponential(5.0)),
        ("exponential:5", Exponential(5.0)),
        ("const:2", Constant(2.0)),
        ("constant:2", Constant(2.0)),
        ("2", Constant(2.0)),
        ("uniform:1,2", Uniform(1.0, 2.0)),
        ("uniform:1:2", Uniform(1.0, 2.0)),
        ("pareto:0.235:10", Pareto(0.235, 10.0)),
        ("pareto:0.235,10", Pareto(0.235, 10.0)),
        ("pareto-exp:1,0.1,5,1.5", ParetoExponential(1.0, 0.1, 5.0, 1.5)),
    ],
)
def test_both_spellings_parse_to_one_distribution(text, want):
    assert parse_latency(text) == want


def test_exp_means_a_mean_in_milliseconds_for_wars_too():
    rng = random.Random(1)
    draws = [pbs.parse_latency("exp:5").sample(rng) for _ in range(20_000)]
    assert statistics.fmean(draws) == pytest.approx(5.0, rel=0.05)


def test_presets_keep_the_published_rates_exactly():
    rates = set()
    for channels in LATENCY_PRESETS.values():
        for text in channels:
            for _, dist in parse_latency(text).components:
                if isinstance(dist, Exponential):
                    rates.add(1.0 / dist.mean_ms)
    assert rates == {1.66, 0.183, 0.0028, 0.0217}


def test_descriptions_parse_back_to_the_same_distribution():
    for text in ("exp:0.1234567", "uniform:0.5,2", "pareto-exp:1,0.01,20,1.5", *LATENCY_PRESETS["ymmr"]):
        dist = parse_latency(text)
        assert parse_latency(dist.describe()) == dist


def test_draws_are_the_documented_ones():
    # Seeded simulate runs replay on these: one expovariate per exponential delay, one
    # random() then the component's draws for a mixture.
    assert Exponential(2.0).sample(random.Random(3)) == random.Random(3).expovariate(0.5)
    rng = random.Random(4)
    u = rng.random()
    want = 0.5 * rng.paretovariate(2.0) if u < 0.3 else rng.expovariate(1.0)
    assert parse_latency("0.3*pareto:0.5,2+0.7*exp:1").sample(random.Random(4)) == want


def test_the_simulator_runs_a_pbs_style_mixture():
    result = run(parse_config("leaderless --latency 0.9*pareto:0.2:10+0.1*exp:0.6 --ops 40 --seed 1"))
    workload = [e for e in result.events if e["type"] == "invoke" and e.get("session") != "final"]
    assert len(workload) == 40


@pytest.mark.parametrize(
    "text", ["gauss:1", "exp:-1", "0.5*exp:1+0.4*exp:2", "uniform:2,1", "exp:x", "pareto:0,1"]
)
def test_bad_latency_is_one_line_in_both_places(text):
    with pytest.raises(LatencyError) as info:
        parse_latency(text)
    assert "\n" not in str(info.value) and repr(text) in str(info.value)
    with pytest.raises(ConfigError):
        parse_config(f"leader-follower --latency {text}")
