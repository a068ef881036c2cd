"""Leaderless (Dynamo-style) replication: N replicas, write quorum W, read quorum R.

A client sends each operation to one replica, the *coordinator*, which fans it out to
all N replicas and answers once W (writes) or R (reads) of them have replied. Each
replica keeps, per key, the value with the highest timestamp it has seen.

Timestamps are ``(clock, coordinator, request)`` from the coordinator's (skewable) clock, as in
Cassandra, except under ``--read-repair blocking``, which runs ABD (Attiya, Bar-Noy,
Dolev): a writer first reads the highest timestamp from R replicas and writes
``(highest + 1, coordinator, request)``; a reader writes the newest value it saw back to W replicas
before answering. With W + R > N that is linearizable; without blocking read repair,
W + R > N still is not (a reader can see a write in progress that a later reader misses).

Read repair ``async`` writes the newest value back to stale responders after answering;
anti-entropy (``--anti-entropy-ms``) has each replica push its whole store to a random
peer periodically. Sloppy quorums with hinted handoff are not modelled yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .sim import Node, ms_to_ns

ZERO = (0, "")


@dataclass(frozen=True)
class LeaderlessConfig:
    nodes: int = 3
    w: int = 2
    r: int = 2
    read_repair: str = "none"  # none | async | blocking
    anti_entropy_ms: float = 0.0

    @classmethod
    def from_options(cls, opts: dict, error: type, num: Callable) -> "LeaderlessConfig":
        n = num("nodes", opts.get("nodes", 3), int, 1)
        w = num("w", opts.get("w", n // 2 + 1), int, 1)
        r = num("r", opts.get("r", n // 2 + 1), int, 1)
        if w > n:
            raise error(f"-w {w}: a write quorum cannot exceed the {n} replicas (--nodes {n})")
        if r > n:
            raise error(f"-r {r}: a read quorum cannot exceed the {n} replicas (--nodes {n})")
        rr = str(opts.get("read-repair", "none"))
        if rr not in ("none", "async", "blocking"):
            raise error(f"--read-repair {rr!r}: choose none, async or blocking")
        if opts.get("sloppy"):
            raise error("--sloppy: sloppy quorums with hinted handoff are not modelled yet")
        return cls(n, w, r, rr, num("anti-entropy-ms", opts.get("anti-entropy-ms", 0)))

    def describe(self) -> str:
        s = f"leaderless --nodes {self.nodes} -w {self.w} -r {self.r} --read-repair {self.read_repair}"
        return s + (f" --anti-entropy-ms {self.anti_entropy_ms:g}" if self.anti_entropy_ms else "")


class _Request:
    __slots__ = ("client", "op", "f", "key", "value", "phase", "replies", "best", "stale")

    def __init__(self, client: str, op: int, f: str, key: Any, value: Any):
        self.client, self.op, self.f, self.key, self.value = client, op, f, key, value
        self.phase = "read"
        self.replies = 0
        self.best = (ZERO, None)
        self.stale: list[tuple[str, tuple]] = []


class Replica(Node):
    def __init__(self, id: str, cluster: "Leaderless"):
        super().__init__(id)
        self.c = cluster
        self.store: dict = {}  # key -> (ts, value)
        self.requests: dict[int, _Request] = {}
        self.next_rid = 0

    def start(self) -> None:
        if self.c.cfg.anti_entropy_ms > 0:
            self.after(ms_to_ns(self.c.cfg.anti_entropy_ms), self.anti_entropy)

    def on_restart(self) -> None:
        self.requests = {}  # coordinations in progress die with the process
        self.start()

    def anti_entropy(self) -> None:
        peers = [n for n in self.c.replica_ids if n != self.id]
        if peers and self.store:
            self.send(peers[self.sim.rng.randrange(len(peers))], ("sync", tuple(self.store.items())))
        self.after(ms_to_ns(self.c.cfg.anti_entropy_ms), self.anti_entropy)

    def _merge(self, key: Any, ts: tuple, value: Any) -> None:
        cur = self.store.get(key)
        if cur is None or ts > cur[0]:
            self.store[key] = (ts, value)

    def _fan_out(self, rid: int, payload: tuple) -> None:
        for n in self.c.replica_ids:
            self.send(n, payload)

    def on_message(self, src: str, p: Any) -> None:
        kind = p[0]
        if kind == "get":
            _, rid, key = p
            ts, value = self.store.get(key, (ZERO, None))
            self.send(src, ("got", rid, ts, value))
        elif kind == "put":
            _, rid, key, ts, value = p
            self._merge(key, ts, value)
            if rid is not None:
                self.send(src, ("put_ok", rid))
        elif kind == "sync":
            for key, (ts, value) in p[1]:
                self._merge(key, ts, value)
        elif kind == "req":
            self.coordinate(src, p)
        elif kind in ("got", "put_ok"):
            req = self.requests.get(p[1])
            if req is not None:
                self.on_reply(p[1], req, src, p)

    def coordinate(self, client: str, p: tuple) -> None:
        _, op, f, key, value, _meta = p
        if f not in ("read", "write"):
            self.send(client, ("resp", op, "fail", None, {}))
            return
        self.next_rid += 1
        rid = self.next_rid
        req = _Request(client, op, f, key, value)
        self.requests[rid] = req
        if f == "write" and self.c.cfg.read_repair != "blocking":
            req.phase = "write"
            self._fan_out(rid, ("put", rid, key, (self.clock(), self.id, rid), value))
        else:
            req.phase = "read"
            self._fan_out(rid, ("get", rid, key))

    def on_reply(self, rid: int, req: _Request, src: str, p: tuple) -> None:
        cfg = self.c.cfg
        if req.phase == "read" and p[0] == "got":
            ts, value = p[2], p[3]
            req.replies += 1
            if ts > req.best[0]:
                req.best = (ts, value)
            req.stale.append((src, ts))
            if req.replies < cfg.r:
                return
            req.replies = 0
            ts, value = req.best
            if req.f == "write":  # ABD write: one above the highest timestamp seen
                req.phase = "write"
                self._fan_out(rid, ("put", rid, req.key, (ts[0] + 1, self.id, rid), req.value))
            elif cfg.read_repair == "blocking":
                req.phase = "write-back"
                self._fan_out(rid, ("put", rid, req.key, ts, value))
            else:
                self._finish(rid, req, value)
                if cfg.read_repair == "async":
                    for n, seen in req.stale:
                        if seen < ts:
                            self.send(n, ("put", None, req.key, ts, value))
        elif req.phase in ("write", "write-back") and p[0] == "put_ok":
            req.replies += 1
            if req.replies == cfg.w:
                self._finish(rid, req, req.best[1] if req.phase == "write-back" else None)

    def _finish(self, rid: int, req: _Request, value: Any) -> None:
        del self.requests[rid]
        self.send(req.client, ("resp", req.op, "ok", value, {}))

    def describe(self) -> dict:
        return {"up": self.up, "state": {("" if k is None else k): _plain(v[1]) for k, v in sorted(self.store.items(), key=lambda kv: str(kv[0]))}}


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


class Leaderless:
    name = "leaderless"

    def __init__(self, sim: Any, cfg: LeaderlessConfig):
        self.sim = sim
        self.cfg = cfg
        self.replica_ids = [f"n{i + 1}" for i in range(cfg.nodes)]
        self.replicas = [sim.add(Replica(n, self)) for n in self.replica_ids]
        for r in self.replicas:
            r.start()

    @property
    def node_ids(self) -> list[str]:
        return list(self.replica_ids)

    def current_leader(self) -> str:
        raise ValueError("a leaderless cluster has no leader: name a node, e.g. n1@200")

    def init_client(self, client: Any, index: int) -> None:
        pass

    def route(self, client: Any, f: str) -> str:
        return self.replica_ids[self.sim.rng.randrange(len(self.replica_ids))]

    def request_meta(self, client: Any, f: str, dst: str) -> dict:
        return {}

    def on_reply(self, client: Any, f: str, status: str, meta: dict) -> None:
        pass

    def on_timeout(self, client: Any, f: str) -> None:
        pass

    def on_client_message(self, client: Any, src: str, p: tuple) -> None:
        pass

    def final_states(self) -> dict:
        return {r.id: r.describe() for r in self.replicas}

    def measurements(self, recorder: Any) -> dict:
        states = [r.describe()["state"] for r in self.replicas]
        return {
            "acked_writes": len(recorder.acked_uids),
            "quorums": {"n": self.cfg.nodes, "w": self.cfg.w, "r": self.cfg.r, "overlap": self.cfg.w + self.cfg.r > self.cfg.nodes},
            "replicas_agree": all(s == states[0] for s in states),
        }
