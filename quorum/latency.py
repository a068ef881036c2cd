"""One latency grammar for the whole project: the simulator's links and PBS/WARS delays.

Every number is in milliseconds and ``exp``/``exponential`` takes a MEAN::

    constant:MS          const:MS           a bare number MS means the same
    uniform:LOW,HIGH
    exponential:MEAN     exp:MEAN
    pareto:XM,ALPHA      (XM the minimum, ALPHA the shape; pareto:XM:ALPHA also reads)
    pareto-exp:MEAN,TAIL_P,SCALE,ALPHA   (exponential, with a Pareto tail of probability TAIL_P)
    P*dist+P*dist        a mixture; the weights add up to 1

Parameters after the colon may be separated by commas, colons or spaces, so both the
simulator's spellings (``uniform:1,2``) and the PBS paper's (``pareto:0.235:10``) read.
Distributions sample milliseconds as floats from a caller's ``random.Random``; the draws
each one makes, and their order, are part of its contract (seeded runs replay on them).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

__all__ = [
    "LATENCY_SYNTAX",
    "LATENCY_PRESETS",
    "Latency",
    "LatencyError",
    "Constant",
    "Uniform",
    "Exponential",
    "Pareto",
    "ParetoExponential",
    "Mixture",
    "parse_latency",
]

LATENCY_SYNTAX = (
    "constant:MS, uniform:LOW,HIGH, exponential:MEAN (or exp:MEAN), pareto:XM,ALPHA, "
    "pareto-exp:MEAN,TAIL_P,SCALE,ALPHA or a mixture P*dist+P*dist "
    "(milliseconds; a bare number means constant)"
)


def _fmt(x: float) -> str:
    """Short where that loses nothing (``1``, ``0.5``), exact otherwise: a description
    parses back to the same distribution."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


# Larger parameters are typing mistakes, and would overflow the simulator's nanosecond
# clock (constant:1e308).
MAX_LATENCY_MS = 1e9


class LatencyError(ValueError):
    """A latency that does not parse; the message is one line naming the text."""


class Latency:
    """A one-way delay distribution; ``sample`` returns milliseconds."""

    def sample(self, rng: random.Random) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Latency):
    ms: float

    def sample(self, rng: random.Random) -> float:
        return self.ms

    def describe(self) -> str:
        return f"constant:{_fmt(self.ms)}"


@dataclass(frozen=True)
class Uniform(Latency):
    low_ms: float
    high_ms: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low_ms, self.high_ms)

    def describe(self) -> str:
        return f"uniform:{_fmt(self.low_ms)},{_fmt(self.high_ms)}"


@dataclass(frozen=True)
class Exponential(Latency):
    mean_ms: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean_ms) if self.mean_ms > 0 else 0.0

    def describe(self) -> str:
        return f"exponential:{_fmt(self.mean_ms)}"


@dataclass(frozen=True)
class Pareto(Latency):
    scale_ms: float  # the minimum delay
    alpha: float

    def sample(self, rng: random.Random) -> float:
        return self.scale_ms * rng.paretovariate(self.alpha)

    def describe(self) -> str:
        return f"pareto:{_fmt(self.scale_ms)},{_fmt(self.alpha)}"


@dataclass(frozen=True)
class ParetoExponential(Latency):
    """Mostly exponential with a heavy tail: with probability ``tail`` a Pareto delay.

    The shape datacenter networks show: a fast common case and rare, very long waits
    (GC pauses, queueing). ``scale_ms`` is the Pareto minimum, ``alpha`` its shape.
    """

    mean_ms: float
    tail: float
    scale_ms: float
    alpha: float

    def sample(self, rng: random.Random) -> float:
        if rng.random() < self.tail:
            return self.scale_ms * rng.paretovariate(self.alpha)
        return rng.expovariate(1.0 / self.mean_ms) if self.mean_ms > 0 else 0.0

    def describe(self) -> str:
        return f"pareto-exp:{_fmt(self.mean_ms)},{_fmt(self.tail)},{_fmt(self.scale_ms)},{_fmt(self.alpha)}"


@dataclass(frozen=True)
class Mixture(Latency):
    """Weighted components: one uniform draw picks the component, then it samples."""

    components: tuple[tuple[float, Latency], ...]

    def sample(self, rng: random.Random) -> float:
        u = rng.random()
        for weight, dist in self.components:
            if u < weight:
                return dist.sample(rng)
            u -= weight
        # Rounding can leave u at or past the sum of the weights: the last component takes it.
        return self.components[-1][1].sample(rng)

    def describe(self) -> str:
        if len(self.components) == 1:
            return self.components[0][1].describe()
        return "+".join(f"{_fmt(w)}*{d.describe()}" for w, d in self.components)


_ARITY = {"constant": 1, "const": 1, "uniform": 2, "exponential": 1, "exp": 1, "pareto": 2, "pareto-exp": 4}


def parse_latency(text: str) -> Latency:
    """``"constant:1"``, ``"uniform:0.5,2"``, ``"exp:1"``, ``"0.9*pareto:0.2:10+0.1*exp:0.6"``.

    Raises :class:`LatencyError` (a ValueError) with one line saying what to write.
    """
    s = str(text).strip()
    # A '+' inside an exponent (1e+3) is not a mixture's.
    parts = re.split(r"(?<![eE])\+", s)
    if len(parts) == 1 and "*" not in s:
        return _one(text, s)
    components = []
    for part in parts:
        weight_text, star, dist = part.strip().rpartition("*")
        try:
            weight = float(weight_text) if star else 1.0
        except ValueError:
            raise LatencyError(
                f"latency {text!r}: {part.strip()!r} is not P*dist; write {LATENCY_SYNTAX}"
            ) from None
        if not weight > 0 or math.isinf(weight):
            raise LatencyError(f"latency {text!r}: mixture weights must be positive")
        components.append((weight, _one(text, dist.strip())))
    if abs(sum(w for w, _ in components) - 1.0) >= 1e-9:
        raise LatencyError(f"latency {text!r}: mixture weights must add up to 1")
    return Mixture(tuple(components))


def _one(text: str, s: str) -> Latency:
    kind, _, args = s.partition(":")
    if not args:
        kind, args = "constant", s
    kind = kind.strip()
    fields = [p for p in re.split(r"[,:\s]+", args) if p]
    try:
        nums = [float(p) for p in fields]
    except ValueError:
        raise LatencyError(f"latency {text!r}: numbers expected; write {LATENCY_SYNTAX}") from None
    if any(math.isnan(n) or math.isinf(n) for n in nums):
        raise LatencyError(f"latency {text!r}: numbers must be finite")
    if any(n < 0 for n in nums):
        raise LatencyError(f"latency {text!r}: a latency cannot be negative")
    if any(n > MAX_LATENCY_MS for n in nums):
        raise LatencyError(f"latency {text!r}: numbers must be at most {MAX_LATENCY_MS:g} (ms)")
    if kind not in _ARITY:
        raise LatencyError(f"latency {text!r}: unknown latency kind {kind!r}; write {LATENCY_SYNTAX}")
    if len(nums) != _ARITY[kind]:
        raise LatencyError(f"latency {text!r}: {kind} takes {_ARITY[kind]} number(s); write {LATENCY_SYNTAX}")
    if kind in ("constant", "const"):
        return Constant(nums[0])
    if kind == "uniform":
        if nums[0] > nums[1]:
            raise LatencyError(f"latency {text!r}: uniform needs LOW <= HIGH")
        return Uniform(nums[0], nums[1])
    if kind in ("exponential", "exp"):
        return Exponential(nums[0])
    if kind == "pareto":
        if nums[0] <= 0 or nums[1] <= 0:
            raise LatencyError(f"latency {text!r}: pareto needs a positive minimum XM and shape ALPHA")
        return Pareto(nums[0], nums[1])
    mean, tail, scale, alpha = nums
    if not 0 <= tail <= 1:
        raise LatencyError(f"latency {text!r}: the tail probability must be between 0 and 1")
    if alpha <= 0:
        raise LatencyError(f"latency {text!r}: the Pareto shape alpha must be positive")
    return ParetoExponential(mean, tail, scale, alpha)


# Fits published by Bailis et al. (PBS, VLDB 2012, Table 3) for the WARS delays, in ms:
# (W, A, R, S). LinkedIn's A=R=S fit is the one for W on SSDs. The paper gives exponential
# rates (per ms); the means here are their reciprocals, written so that 1 / mean gives the
# published rate back exactly in floating point (the seeded figures did not move).
_LNKD_SSD = "0.9122*pareto:0.235,10+0.0878*exponential:0.6024096385542169"  # rate 1.66
_YMMR_ARS = "0.982*pareto:1.5,3.8+0.018*exponential:46.08294930875576"  # rate 0.0217
LATENCY_PRESETS: dict[str, tuple[str, str, str, str]] = {
    "lnkd-ssd": (_LNKD_SSD, _LNKD_SSD, _LNKD_SSD, _LNKD_SSD),
    "lnkd-disk": ("0.38*pareto:1.05,1.51+0.62*exponential:5.46448087431694", _LNKD_SSD, _LNKD_SSD, _LNKD_SSD),
    "ymmr": ("0.939*pareto:3,3.35+0.061*exponential:357.14285714285717", _YMMR_ARS, _YMMR_ARS, _YMMR_ARS),
}
