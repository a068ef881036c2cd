"""The designs the claims matrix covers, by name, and which properties say nothing about one.

Shared by the random search (:mod:`~replicheck.model.explore`) and the exhaustive one
(:mod:`~replicheck.model.exhaustive`), which import it; it imports neither.
"""

from __future__ import annotations

from .schedules import Design

__all__ = ["DESIGNS", "not_applicable"]

DESIGNS: dict[str, str] = {
    "lf-sync-leader-reads": "leader-follower --replication sync --reads leader",
    "lf-async-failover": "leader-follower --replication async --failover auto --stale-clients 1",
    "lf-async-failover-fencing": (
        "leader-follower --replication async --failover auto --fencing --stale-clients 1"
    ),
    "lf-sync-failover-fencing": (
        "leader-follower --replication sync --failover auto --fencing --stale-clients 1"
    ),
    "lf-pin-after-write": "leader-follower --replication async --reads pin-after-write:20",
    "lf-wait-for-position": "leader-follower --replication async --reads wait-for-position",
    "leaderless-quorum": "leaderless --nodes 3 -w 2 -r 2 --read-repair none",
    "leaderless-abd": "leaderless --nodes 3 -w 2 -r 2 --read-repair blocking",
    "leaderless-sloppy": "leaderless --nodes 3 -w 2 -r 2 --read-repair blocking --sloppy",
    "ml-lww": "multi-leader --nodes 2 --conflict lww",
    "ml-version-vectors": "multi-leader --nodes 2 --conflict version-vectors",
}


def not_applicable(design: Design, prop: str) -> str | None:
    """Why ``prop`` says nothing about ``design``, or None when it does."""
    if prop == "single-leader" and not design.leader_based:
        return f"{design.topology} has no single leader"
    return design.kind.not_applicable(design.protocol, prop)
