"""A toy in-process key-value store: one primary, one replica that applies the primary's
writes only when it catches up. Two read policies:

- ``StaleReplicaStore`` reads from the replica: a client may not see its own write;
- ``PinnedStore`` pins a client to the primary after it writes (pin-after-write): each
  client sees its own writes, though other clients may still read stale values.
"""

from __future__ import annotations

from typing import Any


class StaleReplicaStore:
    def __init__(self, lag: int = 3):
        self.primary: dict[str, Any] = {}
        self.replica: dict[str, Any] = {}
        self.log: list[tuple[str, Any]] = []
        self.applied = 0
        self.lag = lag  # the replica catches up once this many writes are pending

    def write(self, client: str, key: str, value: Any) -> None:
        self.primary[key] = value
        self.log.append((key, value))
        if len(self.log) - self.applied >= self.lag:
            self.catch_up()

    def catch_up(self) -> None:
        for key, value in self.log[self.applied :]:
            self.replica[key] = value
        self.applied = len(self.log)

    def read(self, client: str, key: str) -> Any:
        return self.replica.get(key)


class PinnedStore(StaleReplicaStore):
    def __init__(self, lag: int = 3):
        super().__init__(lag)
        self.pinned: set[str] = set()

    def write(self, client: str, key: str, value: Any) -> None:
        super().write(client, key, value)
        self.pinned.add(client)  # from now on this client reads the primary

    def read(self, client: str, key: str) -> Any:
        return (self.primary if client in self.pinned else self.replica).get(key)
