"""Replication protocols as state machines on a deterministic simulator.

The built-in topologies register themselves with the registry (``topology.py``) when
imported; importing them here, in the order users see them listed, means they are
registered before any other code can reach the registry.
"""

from . import leader_follower, leaderless, multi_leader  # noqa: F401  (registered on import)
