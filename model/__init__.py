"""Replication protocols as state machines on a deterministic simulator."""
