"""Replication protocols as state machines on a deterministic simulator.

The built-in topologies register themselves with the registry (``topology.py``) when
imported; importing them here, in the order users see them listed, means they are
registered before any other code can reach the registry.
"""

# The order of these imports is the order the topologies are listed in.
# isort: off
from . import leader_follower  # noqa: F401  (registered on import)
from . import multi_leader  # noqa: F401
from . import leaderless  # noqa: F401
# isort: on
