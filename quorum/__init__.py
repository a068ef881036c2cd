"""Quorum systems, their properties proved with Z3, and how stale partial quorums read.

- ``systems``: quorum systems and properties as plain values (thresholds, sloppy,
  multi-datacenter levels, weighted votes, Flexible Paxos, grids);
- ``prove``: ``check`` and ``solve_threshold``, the Z3 encodings (the only module that
  imports z3, loaded on first use so that ``replicheck --help`` stays quick);
- ``staleness``: probabilistically bounded staleness (PBS) and WARS;
- ``latency``: the one latency grammar (``exp:MEAN_MS``, ``pareto:...``, mixtures), which
  the simulator in ``replicheck.model`` uses too.

Nothing here reads a history: this package stands beside ``replicheck.checker``.
"""

from __future__ import annotations

from typing import Any

from .systems import *  # noqa: F403  (the values are the package's surface)
from .systems import __all__ as _systems_all

__all__ = [*_systems_all, "check", "solve_threshold", "ThresholdSolution"]


def __getattr__(name: str) -> Any:
    # z3 takes ~0.3 s to import; only the entry points that decide something need it.
    if name in ("check", "solve_threshold", "ThresholdSolution"):
        from . import prove

        return getattr(prove, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
