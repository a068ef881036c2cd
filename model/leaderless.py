"""Leaderless (Dynamo-style) replication: N replicas, write quorum W, read quorum R.

A client sends each operation to one node, the *coordinator*, which fans it out to the
N replicas of the preference list (``n1..nN``) and answers once W (writes) or R (reads)
distinct replicas have replied. Each replica keeps, per key, the value with the highest
timestamp it has seen.

Timestamps are ``(clock, coordinator, request)`` from the coordinator's (skewable) clock, as in
Cassandra, except under ``--read-repair blocking``, which runs ABD (Attiya, Bar-Noy,
Dolev): a writer first reads the highest timestamp from R replicas and writes
``(highest + 1, coordinator, request)``; a reader writes the newest value it saw back to W replicas
before answering. With W + R > N that is linearizable; without blocking read repair,
W + R > N still is not (a reader can see a write in progress that a later reader misses).

Read repair ``async`` writes the newest value back to stale responders after answering;
anti-entropy (``--anti-entropy-ms``) has each replica push its whole store to a random
peer periodically.

Sloppy quorums (``--sloppy --fallback K``) add fallback nodes ``f1..fK`` after the
preference list. A coordinator that has not heard from some preferred replicas within
``--sloppy-wait-ms`` (they are down, partitioned away, or slow) sends the phase to one
fallback per silent replica, in order, and counts the fallbacks' replies toward W or R.
A fallback keeps a write as a *hint* naming the replica it stands in for and retries
handing it off every ``--handoff-ms`` until that replica acknowledges it. A hint is not
readable: a fallback answers reads from its own store, which holds nothing because it
owns no keys. That is why W + R > N no longer makes reads meet writes (a partition sends
the write to fallbacks while a read hits preferred replicas), and why reads converge
once the hints are handed off. Both quorums may use up to K fallbacks, so only
W + R > N + 2K makes them share a preferred replica: the semantics ``quorum check
--sloppy`` proves against (quorum/prove.py, SLOPPY_NOTE).

Workloads: reads and writes are single round trips; ``append`` (kv, list-append) is a
read-modify-write by the coordinator (read R, write the appended value back to W under
a higher timestamp), so two concurrent appends can lose one another even under ABD,
which makes reads and writes atomic but not read-modify-write. Compare-and-set is not
offered: it needs one place that orders operations (a leader or consensus).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clients import Protocol, appended
from .options import FLAG, ConfigError, Option, OptionValues, num
from .sim import Node, ms_to_ns
from .topology import Topology, register

READ_REPAIRS = ("none", "async", "blocking")
WORKLOADS = ("register", "kv", "list-append")


@dataclass(frozen=True)
class LeaderlessConfig:
    nodes: int = 3
    w: int = 2
    r: int = 2
    read_repair: str = "none"  # none | async | blocking
    anti_entropy_ms: float = 0.0
    sloppy: bool = False
    fallbacks: int = 0
    sloppy_wait_ms: float = 10.0
    handoff_ms: float = 20.0

    @classmethod
    def from_options(cls, opts: OptionValues) -> LeaderlessConfig:
        n = num("nodes", opts["nodes"], int, 1)
        w = num("w", opts.get("w", n // 2 + 1), int, 1)
        r = num("r", opts.get("r", n // 2 + 1), int, 1)
        if w > n:
            raise ConfigError(f"-w {w}: a write quorum cannot exceed the {n} replicas (--nodes {n})")
        if r > n:
            raise ConfigError(f"-r {r}: a read quorum cannot exceed the {n} replicas (--nodes {n})")
        rr = str(opts["read-repair"])
        if rr not in READ_REPAIRS:
            raise ConfigError(f"--read-repair {rr!r}: choose none, async or blocking")
        sloppy = bool(opts.get("sloppy", False))
        sloppy_only = [k for k in ("fallback", "sloppy-wait-ms", "handoff-ms") if k in opts.given]
        if sloppy_only and not sloppy:
            raise ConfigError(f"--{sloppy_only[0]} applies to sloppy quorums: add --sloppy")
        fallbacks = num("fallback", opts["fallback"], int, 0) if sloppy else 0
        return cls(
            n,
            w,
            r,
            rr,
            num("anti-entropy-ms", opts["anti-entropy-ms"]),
            sloppy=sloppy,
            fallbacks=fallbacks,
            sloppy_wait_ms=num("sloppy-wait-ms", opts["sloppy-wait-ms"], float, 0.001),
            handoff_ms=num("handoff-ms", opts["handoff-ms"], float, 0.001),
        )

    def describe(self) -> str:
        s = f"leaderless --nodes {self.nodes} -w {self.w} -r {self.r} --read-repair {self.read_repair}"
        if self.sloppy:
            s += (
                f" --sloppy --fallback {self.fallbacks} --sloppy-wait-ms {self.sloppy_wait_ms:g}"
                f" --handoff-ms {self.handoff_ms:g}"
            )
        return s + (f" --anti-entropy-ms {self.anti_entropy_ms:g}" if self.anti_entropy_ms else "")


def _newer(a: tuple | None, b: tuple | None) -> bool:
    """Timestamp ``a`` beats ``b``; None is "no value", older than any timestamp (even a
    negative clock reading from a skewed node)."""
    return a is not None and (b is None or a > b)


class _Request:
    __slots__ = (
        "client",
        "op",
        "f",
        "key",
        "value",
        "phase",
        "phase_no",
        "payload",
        "responders",
        "best",
        "seen",
        "stood_in",
        "write_value",
    )

    def __init__(self, client: str, op: int, f: str, key: Any, value: Any):
        self.client, self.op, self.f, self.key, self.value = client, op, f, key, value
        self.phase = "read"
        self.phase_no = 0
        self.payload: tuple = ()
        # Distinct repliers: a duplicated acknowledgement must not count twice toward W.
        self.responders: set[str] = set()
        self.best: tuple | None = None  # (ts, value) of the newest reply
        self.seen: list[tuple[str, Any]] = []  # (replica, ts) for async read repair
        self.stood_in: set[str] = set()  # preferred replicas a fallback was asked to cover
        self.write_value: Any = None

    # Sets pickle in hash order, which for strings differs from process to process: sorted,
    # a pickled cluster (and the exhaustive search's fingerprint of it) is the same bytes in
    # every process. Only membership and size of these sets are ever used.
    def __getstate__(self) -> dict:
        state = {k: getattr(self, k) for k in self.__slots__}
        state["responders"] = sorted(self.responders)
        state["stood_in"] = sorted(self.stood_in)
        return state

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self.responders = set(self.responders)
        self.stood_in = set(self.stood_in)


class Replica(Node):
    """A preferred replica (``n1..``) or, under sloppy quorums, a fallback (``f1..``)."""

    def __init__(self, id: str, cluster: Leaderless):
        super().__init__(id)
        self.c = cluster
        self.store: dict = {}  # key -> (ts, value): what this node owns
        self.hints: dict[str, dict] = {}  # intended replica -> key -> (ts, value)
        self.requests: dict[int, _Request] = {}
        self.next_rid = 0

    def start(self) -> None:
        cfg = self.c.cfg
        if cfg.anti_entropy_ms > 0 and self.id in self.c.replica_ids:
            self.after(ms_to_ns(cfg.anti_entropy_ms), self.anti_entropy)
        if cfg.sloppy:
            self.after(ms_to_ns(cfg.handoff_ms), self.hand_off)

    def on_restart(self) -> None:
        self.requests = {}  # coordinations in progress die with the process; stores and hints are on disk
        self.start()

    def anti_entropy(self) -> None:
        peers = [n for n in self.c.replica_ids if n != self.id]
        if peers and self.store:
            self.send(peers[self.sim.rng.randrange(len(peers))], ("sync", tuple(self.store.items())))
        self.after(ms_to_ns(self.c.cfg.anti_entropy_ms), self.anti_entropy)

    def hand_off(self) -> None:
        # Retried until acknowledged: a lost or partitioned hand-off is simply sent again.
        for target in sorted(self.hints):
            if self.hints[target]:
                self.send(target, ("hint", tuple(self.hints[target].items())))
        self.after(ms_to_ns(self.c.cfg.handoff_ms), self.hand_off)

    def _merge(self, key: Any, ts: tuple, value: Any) -> None:
        cur = self.store.get(key)
        if cur is None or ts > cur[0]:
            self.store[key] = (ts, value)

    def on_message(self, src: str, p: Any) -> None:
        kind = p[0]
        if kind == "get":
            _, rid, key = p
            ts, value = self.store.get(key, (None, None))
            self.send(src, ("got", rid, ts, value))
        elif kind == "put":
            _, rid, key, ts, value, hint = p
            if hint is None or hint == self.id:
                self._merge(key, ts, value)
            else:
                held = self.hints.setdefault(hint, {})
                if key not in held or ts > held[key][0]:
                    held[key] = (ts, value)
                    self.c.stats["hints_stored"] += 1
            if rid is not None:
                self.send(src, ("put_ok", rid))
        elif kind == "sync":
            for key, (ts, value) in p[1]:
                self._merge(key, ts, value)
        elif kind == "hint":
            for key, (ts, value) in p[1]:
                self._merge(key, ts, value)
            self.send(src, ("hint_ok", p[1]))
        elif kind == "hint_ok":
            held = self.hints.get(src, {})
            for key, (ts, _value) in p[1]:
                # A newer hint for the key may have arrived since this hand-off was sent.
                if key in held and held[key][0] <= ts:
                    del held[key]
                    self.c.stats["hints_handed_off"] += 1
        elif kind == "req":
            self.coordinate(src, p)
        elif kind in ("got", "put_ok"):
            req = self.requests.get(p[1])
            if req is not None:
                self.on_reply(p[1], req, src, p)

    # -- coordination

    def coordinate(self, client: str, p: tuple) -> None:
        _, op, f, key, value, _meta = p
        if f not in ("read", "write", "append"):
            self.send(client, ("resp", op, "fail", None, {}))
            return
        self.next_rid += 1
        rid = self.next_rid
        req = _Request(client, op, f, key, value)
        self.requests[rid] = req
        if f == "write" and self.c.cfg.read_repair != "blocking":
            req.write_value = value
            self._phase(rid, req, "write", ("put", rid, key, (self.clock(), self.id, rid), value))
        else:
            self._phase(rid, req, "read", ("get", rid, key))

    def _phase(self, rid: int, req: _Request, phase: str, payload: tuple) -> None:
        req.phase = phase
        req.phase_no += 1
        req.payload = payload
        req.responders = set()
        req.stood_in = set()
        msg = payload + (None,) if payload[0] == "put" else payload
        for n in self.c.replica_ids:
            self.send(n, msg)
        if self.c.cfg.sloppy and self.c.fallback_ids:
            self.after(ms_to_ns(self.c.cfg.sloppy_wait_ms), self._recruit, rid, req.phase_no)

    def _recruit(self, rid: int, phase_no: int) -> None:
        """Fallbacks stand in, one each, for the preferred replicas that have stayed silent."""
        req = self.requests.get(rid)
        if req is None or req.phase_no != phase_no:
            return
        silent = [n for n in self.c.replica_ids if n not in req.responders]
        for intended, fallback in zip(silent, self.c.fallback_ids):
            req.stood_in.add(intended)
            payload = req.payload
            self.send(fallback, payload + (intended,) if payload[0] == "put" else payload)
        if silent:
            self.c.stats["fallback_phases"] += 1

    def on_reply(self, rid: int, req: _Request, src: str, p: tuple) -> None:
        cfg = self.c.cfg
        if src in req.responders:
            return  # a duplicate
        if req.phase == "read" and p[0] == "got":
            ts, value = p[2], p[3]
            req.responders.add(src)
            if _newer(ts, req.best[0] if req.best else None):
                req.best = (ts, value)
            if src in self.c.replica_ids:
                req.seen.append((src, ts))
            if len(req.responders) < cfg.r:
                return
            best_ts, best_value = req.best if req.best else (None, None)
            if req.f in ("write", "append"):
                req.write_value = appended(best_value, req.value) if req.f == "append" else req.value
                # One above what was read, so the write supersedes it; outside ABD the
                # coordinator's clock is used when it is ahead, as Cassandra would.
                counter = best_ts[0] + 1 if best_ts is not None else 1
                if cfg.read_repair != "blocking":
                    counter = max(counter, self.clock())
                self._phase(
                    rid, req, "write", ("put", rid, req.key, (counter, self.id, rid), req.write_value)
                )
            elif cfg.read_repair == "blocking" and best_ts is not None:
                req.write_value = best_value
                self._phase(rid, req, "write-back", ("put", rid, req.key, best_ts, best_value))
            else:
                self._finish(rid, req, best_value)
                if cfg.read_repair == "async" and best_ts is not None:
                    for n, seen in req.seen:
                        if _newer(best_ts, seen):
                            self.send(n, ("put", None, req.key, best_ts, best_value, None))
        elif req.phase in ("write", "write-back") and p[0] == "put_ok":
            req.responders.add(src)
            if len(req.responders) == cfg.w:
                self._finish(rid, req, req.write_value if req.phase == "write-back" else None)

    def _finish(self, rid: int, req: _Request, value: Any) -> None:
        del self.requests[rid]
        if req.stood_in:
            self.c.stats["sloppy_ops"] += 1
        self.send(req.client, ("resp", req.op, "ok", value, {}))

    def describe(self) -> dict:
        d: dict = {"up": self.up, "state": _plain_store(self.store)}
        pending = {t: _plain_store(h) for t, h in sorted(self.hints.items()) if h}
        if pending:
            d["hints"] = pending
        return d


def _plain_store(store: dict) -> dict:
    return {
        ("" if k is None else k): _plain(v[1]) for k, v in sorted(store.items(), key=lambda kv: str(kv[0]))
    }


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


class Leaderless(Protocol):
    name = "leaderless"

    def __init__(self, sim: Any, cfg: LeaderlessConfig):
        self.sim = sim
        self.cfg = cfg
        self.replica_ids = [f"n{i + 1}" for i in range(cfg.nodes)]
        self.fallback_ids = [f"f{i + 1}" for i in range(cfg.fallbacks)] if cfg.sloppy else []
        self.stats = {"hints_stored": 0, "hints_handed_off": 0, "fallback_phases": 0, "sloppy_ops": 0}
        self.replicas = [sim.add(Replica(n, self)) for n in self.replica_ids + self.fallback_ids]
        for r in self.replicas:
            r.start()

    @property
    def node_ids(self) -> list[str]:
        return self.replica_ids + self.fallback_ids

    def current_leader(self) -> str:
        raise ValueError("a leaderless cluster has no leader: name a node, e.g. n1@200")

    def route(self, client: Any, f: str) -> str:
        # Any node coordinates, fallbacks included (in Dynamo any node can take a request),
        # so a partition that leaves only fallbacks with a client still serves it sloppily.
        nodes = self.node_ids
        return nodes[self.sim.rng.randrange(len(nodes))]

    def measurements(self, history: Any) -> dict:
        states = [r.describe()["state"] for r in self.replicas if r.id in self.replica_ids]
        m: dict = {
            "acked_writes": len(history.acked_uids),
            "quorums": {
                "n": self.cfg.nodes,
                "w": self.cfg.w,
                "r": self.cfg.r,
                "overlap": self.cfg.w + self.cfg.r > self.cfg.nodes,
            },
            "replicas_agree": all(s == states[0] for s in states),
        }
        if self.cfg.sloppy:
            m["sloppy"] = {
                "fallbacks": list(self.fallback_ids),
                "operations_with_fallbacks": self.stats["sloppy_ops"],
                "hints_stored": self.stats["hints_stored"],
                "hints_handed_off": self.stats["hints_handed_off"],
                "hints_pending": sum(len(h) for r in self.replicas for h in r.hints.values()),
            }
        return m


def _workload_problem(cfg: LeaderlessConfig, workload: str) -> str | None:
    if workload == "cas-register":
        return (
            "--workload cas-register is not supported on leaderless: leaderless replicas have no single "
            "place that orders a compare-and-set (Cassandra needs Paxos for it); use leader-follower, "
            "or --workload register, kv or list-append"
        )
    return None


def _replica_ids(cfg: LeaderlessConfig) -> list[str]:
    return [f"n{i + 1}" for i in range(cfg.nodes)] + [f"f{i + 1}" for i in range(cfg.fallbacks)]


TOPOLOGY = register(
    Topology(
        name="leaderless",
        help="Dynamo-style quorums: any node coordinates, W acks a write, R replies answer a read",
        options=(
            Option("-w", "write quorum [majority]", metavar="N"),
            Option("-r", "read quorum [majority]", metavar="N"),
            Option("--read-repair", "none, async or blocking (ABD)", "none", metavar="MODE"),
            Option("--anti-entropy-ms", "anti-entropy period, 0 = off", 0),
            Option("--fallback", "with --sloppy: fallback nodes f1..fK that stand in for silent replicas", 1),
            Option(
                "--sloppy-wait-ms", "with --sloppy: wait for preferred replicas before asking fallbacks", 10
            ),
            Option("--handoff-ms", "with --sloppy: period of hinted hand-off attempts", 20),
            Option("--sloppy", "sloppy quorums with hinted handoff to --fallback nodes", kind=FLAG),
        ),
        build_config=LeaderlessConfig.from_options,
        build=Leaderless,
        uses_clocks=lambda cfg: cfg.read_repair != "blocking",
        client_picks_node=True,
        replica_ids=_replica_ids,
        workload_problem=_workload_problem,
    )
)
