"""How stale partial quorums read (W + R <= N): Probabilistically Bounded Staleness.

Partial quorums do not intersect, so the question becomes how often a read misses the
latest write. ``staleness`` gives the closed form of Bailis et al. (PBS, VLDB 2012),
C(N-W, R) / C(N, R), its k-staleness form, an exhaustive count and a seeded Monte Carlo
estimate; ``wars`` is a seeded Monte Carlo of their WARS latency model (write, ack,
read-request and read-response delays), giving the probability of a consistent read
t ms after a write commits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

from .latency import LATENCY_PRESETS, Latency, LatencyError, Mixture
from .latency import parse_latency as _parse
from .systems import QuorumSpecError, _require, threshold

__all__ = [
    "StalenessReport",
    "staleness",
    "Latency",
    "WarsDelay",
    "parse_latency",
    "LATENCY_PRESETS",
    "WarsReport",
    "wars",
]


@dataclass(frozen=True)
class StalenessReport:
    """Probability that a read quorum misses the latest write (and the last k writes).

    ``closed_form`` is C(N-W, R) / C(N, R) for quorums picked uniformly at random,
    ``k_stale`` its k-th power (writes pick quorums independently), ``exhaustive`` the
    same probability by counting every read quorum against a fixed write quorum, and
    ``monte_carlo`` a seeded sampling estimate with its 95% interval half-width.
    """

    n: int
    w: int
    r: int
    k: int
    closed_form: str
    closed_form_float: float
    k_stale: float
    exhaustive: str | None
    monte_carlo: float
    monte_carlo_ci95: float
    trials: int
    seed: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _ci95(p: float, trials: int) -> float:
    """Half-width of a 95% interval for a sampled proportion (never 0, even at 0 or 1)."""
    return 1.96 * math.sqrt(max(p * (1 - p), 1.0 / trials) / trials)


def staleness(n: int, w: int, r: int, k: int = 1, trials: int = 100_000, seed: int = 0) -> StalenessReport:
    threshold(n, w, r)  # validates
    _require(isinstance(k, int) and k >= 1, f"k={k} must be at least 1")
    _require(isinstance(trials, int) and trials >= 1, f"trials={trials} must be at least 1")
    p = Fraction(math.comb(n - w, r), math.comb(n, r))
    exhaustive = None
    if math.comb(n, r) <= 200_000:
        # By symmetry one write quorum suffices; count the read quorums that miss it.
        written = set(range(w))
        misses = sum(1 for read in combinations(range(n), r) if written.isdisjoint(read))
        exhaustive = str(Fraction(misses, math.comb(n, r)))
    rng = random.Random(seed)
    nodes = range(n)
    stale = 0
    for _ in range(trials):
        # k consecutive writes, each to its own random quorum; the read is stale beyond
        # k versions when it misses all of them.
        read = set(rng.sample(nodes, r))
        if all(read.isdisjoint(rng.sample(nodes, w)) for _ in range(k)):
            stale += 1
    estimate = stale / trials
    half = _ci95(estimate, trials)
    # At large N the exact fraction has tens of thousands of digits: past Python's limit
    # for printing an int, and no one reads them.
    short = p.denominator < 10**1000
    exact = str(p) if short else f"~{float(p):.17g} (the exact fraction is too long to print)"
    k_stale = float(p**k) if short else float(p) ** k
    return StalenessReport(n, w, r, k, exact, float(p), k_stale, exhaustive, estimate, half, trials, seed)


@dataclass(frozen=True)
class WarsDelay(Latency):
    """A parsed delay that keeps the spelling it was given, which the report echoes."""

    text: str
    dist: Latency

    def sample(self, rng: random.Random) -> float:
        return self.dist.sample(rng)

    def describe(self) -> str:
        return self.text


def parse_latency(text: str) -> WarsDelay:
    """A WARS delay in the project's one latency grammar (:mod:`replicheck.quorum.latency`;
    ``exp:MEAN`` in ms), always as a mixture: PBS draws the component with one uniform
    draw per sample even when there is only one, and keeping that draw keeps the seeded
    figures of a single-distribution delay where they were."""
    try:
        lat = _parse(text)
    except LatencyError as e:
        raise QuorumSpecError(str(e)) from None
    return WarsDelay(text, lat if isinstance(lat, Mixture) else Mixture(((1.0, lat),)))


@dataclass(frozen=True)
class WarsReport:
    """P(a read started t ms after the write committed returns it), per t, with 95% CI."""

    n: int
    w: int
    r: int
    latencies: dict[str, str]
    times: list[float]
    consistent: list[float]
    ci95: list[float]
    trials: int
    seed: int

    def to_dict(self) -> dict:
        return {
            k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
            for k, v in self.__dict__.items()
        }


def wars(
    n: int,
    w: int,
    r: int,
    times: Sequence[float],
    w_lat: Latency,
    a_lat: Latency,
    r_lat: Latency,
    s_lat: Latency,
    trials: int = 100_000,
    seed: int = 0,
) -> WarsReport:
    """Seeded Monte Carlo of the WARS model (Bailis et al.).

    Per replica i: the write reaches it after W_i and its ack returns after A_i; the
    write commits at the W-th smallest W_i + A_i. A read issued t ms later reaches
    replica i after R_i and the reply returns after S_i; the coordinator takes the
    first R replies. The read is consistent when one of those replicas had the write
    when the request arrived: W_i <= commit + t + R_i. Every t uses the same draws, so
    the estimate is monotone in t.
    """
    threshold(n, w, r)
    _require(isinstance(trials, int) and trials >= 1, f"trials={trials} must be at least 1")
    _require(all(t >= 0 for t in times), "times must be >= 0")
    rng = random.Random(seed)
    ordered = sorted(enumerate(times), key=lambda p: p[1])
    hits = [0] * len(times)
    for _ in range(trials):
        ws = [w_lat.sample(rng) for _ in range(n)]
        acks = sorted(ws[i] + a_lat.sample(rng) for i in range(n))
        commit = acks[w - 1]
        rs = [r_lat.sample(rng) for _ in range(n)]
        replies = sorted(range(n), key=lambda i: rs[i] + s_lat.sample(rng))[:r]
        # The read is consistent for every t >= the smallest lag at which some replier had it.
        need = min(ws[i] - commit - rs[i] for i in replies)
        for index, t in ordered:
            if t >= need:
                hits[index] += 1
    consistent = [h / trials for h in hits]
    ci = [_ci95(p, trials) for p in consistent]
    lat = {"W": w_lat.describe(), "A": a_lat.describe(), "R": r_lat.describe(), "S": s_lat.describe()}
    return WarsReport(n, w, r, lat, list(times), consistent, ci, trials, seed)
