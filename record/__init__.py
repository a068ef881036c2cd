"""Recording histories from real systems, for the checker to judge.

``Recorder`` (recorder.py) wraps any client's calls; ``postgres.py`` is a workload that
uses it against a PostgreSQL primary and streaming replica. Imports only the checker's
file format, never the simulator: ``cli -> record -> checker``.
"""

from .recorder import Operation, Recorder, Session

__all__ = ["Operation", "Recorder", "Session"]
