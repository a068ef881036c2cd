"""Leader-follower replication: one leader orders writes into a log that followers copy.

Replication ``sync`` acknowledges a write once every follower has it, ``async`` at once,
``semi-sync:k`` once k followers have it. Followers apply what they receive at once (as
MySQL and PostgreSQL replicas do), so a follower read can be stale but never shows a
write the leader does not have — until a failover drops the leader's unreplicated tail.

Failover ``auto``: an orchestrator (node ``orch``, also the clients' discovery service)
promotes the most up-to-date follower it can hear from once the leader has been silent
for ``failover_ms``, raising the epoch. Without **fencing** nothing checks epochs: a
revived old leader comes back as leader and accepts writes from clients that still reach
it (split brain). With fencing, followers reject appends from an older epoch and answer
with the newer one, a node that hears of a newer epoch steps down, and a restarted node
accepts no writes until the orchestrator has confirmed its role.

Log entries are tuples ``(epoch, f, key, value, appended_at_ns, uid)``; ``uid`` is the
client's operation identity, which lets the run count acknowledged writes that were lost.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from .clients import Protocol, ReadRouting, apply_op
from .options import FLAG, ConfigError, Option, OptionValues, num
from .sim import Node, ms_to_ns
from .topology import Topology, register

BATCH = 64


@dataclass(frozen=True)
class LeaderFollowerConfig:
    nodes: int = 3
    replication: str = "async"  # sync | async | semi-sync:k
    reads: ReadRouting = ReadRouting("leader")
    failover: str = "none"  # none | auto
    fencing: bool = False
    heartbeat_ms: float = 10.0
    failover_ms: float = 100.0
    flush_ms: float = 0.0  # 0: every append is durable at once
    # Clients that never re-discover the leader (a static address, a stale DNS cache):
    # they are how a revived old leader without fencing gets writes.
    stale_clients: int = 0

    @property
    def sync_acks(self) -> int:
        """Follower acknowledgements a write waits for (all followers for sync)."""
        if self.replication == "async":
            return 0
        if self.replication == "sync":
            return self.nodes - 1
        return int(self.replication.split(":")[1])

    @classmethod
    def from_options(cls, opts: OptionValues) -> LeaderFollowerConfig:
        rep = str(opts["replication"])
        nodes = num("nodes", opts["nodes"], int, 1)
        if rep.startswith("semi-sync"):
            _, sep, k = rep.partition(":")
            kk = int(k) if sep and k.isdigit() else None
            if kk is None or not 1 <= kk <= nodes - 1:
                raise ConfigError(
                    f"--replication {rep!r}: write semi-sync:K with 1 <= K <= {nodes - 1} (followers)"
                )
        elif rep not in ("sync", "async"):
            raise ConfigError(f"--replication {rep!r}: choose sync, async or semi-sync:K")
        failover = str(opts["failover"])
        if failover not in ("none", "auto"):
            raise ConfigError(f"--failover {failover!r}: choose none or auto")
        try:
            reads = ReadRouting.parse(str(opts["reads"]))
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return cls(
            nodes=nodes,
            replication=rep,
            reads=reads,
            failover=failover,
            fencing=bool(opts.get("fencing", False)),
            heartbeat_ms=num("heartbeat-ms", opts["heartbeat-ms"], minimum=0.001),
            failover_ms=num("failover-ms", opts["failover-ms"], minimum=0.001),
            flush_ms=num("flush-ms", opts["flush-ms"]),
            stale_clients=num("stale-clients", opts["stale-clients"], int),
        )

    def describe(self) -> str:
        s = (
            f"leader-follower --nodes {self.nodes} --replication {self.replication} "
            f"--reads {self.reads.describe()} --failover {self.failover}"
        )
        return s + (" --fencing" if self.fencing else "")


class Replica(Node):
    def __init__(self, id: str, cluster: LeaderFollower):
        super().__init__(id)
        self.c = cluster
        self.role = "follower"
        self.epoch = 1
        self.source: str | None = None  # the leader this follower copies from
        self.log: list[tuple] = []
        self.store: dict = {}
        self.flushed = 0
        self.fenced = False
        self.followers: list[str] = []
        self.match: dict[str, int] = {}
        self.next: dict[str, int] = {}
        self.waiting_acks: list[tuple[int, str, int]] = []  # (log length needed, client, op)
        self.waiting_reads: list[tuple[int, str, int, Any]] = []  # (position, client, op, key)
        self.lags: list[int] = []
        self.acked_as_leader: list[int] = []  # times this node acknowledged a write

    # -- life cycle

    def start(self) -> None:
        self.after(ms_to_ns(self.c.cfg.heartbeat_ms), self.heartbeat)
        if self.c.cfg.flush_ms > 0:
            self.after(ms_to_ns(self.c.cfg.flush_ms), self.flush)
        else:
            self.flushed = -1  # sentinel: always durable

    def become_leader(self, epoch: int) -> None:
        self.role, self.epoch, self.source, self.fenced = "leader", epoch, None, False
        self.followers = [n for n in self.c.replica_ids if n != self.id]
        self.match = {f: 0 for f in self.followers}
        self.next = {f: len(self.log) for f in self.followers}
        self.waiting_acks = []

    def become_follower(self, leader: str, epoch: int) -> None:
        self.role, self.epoch, self.source, self.fenced = "follower", epoch, leader, False
        for _, client, op in self.waiting_acks:
            self.send(client, ("resp", op, "info", None, {"leader": leader}))
        self.waiting_acks = []

    def on_crash(self, lose_unflushed: bool) -> None:
        self.waiting_acks, self.waiting_reads = [], []
        if lose_unflushed and self.flushed >= 0 and self.flushed < len(self.log):
            del self.log[self.flushed :]
            self._rebuild()

    def on_restart(self) -> None:
        if self.c.cfg.fencing:
            self.fenced = True
            self.send("orch", ("whoami", self.epoch))
        elif self.role == "leader":
            self.become_leader(self.epoch)  # naive: resumes leadership at its old epoch
        self.start()

    def flush(self) -> None:
        self.flushed = len(self.log)
        self.after(ms_to_ns(self.c.cfg.flush_ms), self.flush)

    def _rebuild(self) -> None:
        self.store = {}
        for e in self.log:
            apply_op(self.store, e[1], e[2], e[3])

    def heartbeat(self) -> None:
        if self.role == "leader":
            for f in self.followers:
                self._replicate(f, ack=True)
        if self.c.cfg.failover == "auto" or self.c.cfg.fencing:
            self.send("orch", ("hb", self.role, self.epoch, len(self.log)))
        self.after(ms_to_ns(self.c.cfg.heartbeat_ms), self.heartbeat)

    # -- messages

    def on_message(self, src: str, p: Any) -> None:
        kind = p[0]
        if kind == "append":
            self.on_append(src, p)
        elif kind == "req":
            self.on_request(src, p)
        elif kind == "ack":
            self.on_ack(src, p)
        elif kind == "promote":
            if p[1] >= self.epoch:
                self.become_leader(p[1])
        elif kind == "follow":
            _, leader, epoch = p
            if epoch >= self.epoch or not self.c.cfg.fencing:
                self.become_follower(leader, epoch)

    def _replicate(self, f: str, ack: bool) -> None:
        # Optimistic: send from what we last sent; a follower with a gap answers with its
        # length and the next round resends from there (lost messages heal this way).
        start = min(self.next[f], len(self.log))
        entries = tuple(self.log[start : start + BATCH])
        prev = self.log[start - 1][0] if start > 0 else 0
        self.send(f, ("append", self.epoch, start, prev, entries, len(self.log), ack))
        self.next[f] = start + len(entries)

    def on_append(self, src: str, p: tuple) -> None:
        _, epoch, start, prev, entries, end, want_ack = p
        fencing = self.c.cfg.fencing
        if fencing and epoch < self.epoch:
            self.send(src, ("ack", self.epoch, len(self.log), self.source))
            return
        if fencing and epoch > self.epoch:
            self.become_follower(src, epoch)
        if self.role == "leader" and not fencing:
            return  # a naive leader ignores other leaders: that is split brain
        if src != self.source:
            return
        log = self.log
        if start > len(log):
            self.send(src, ("ack", self.epoch, len(log), self.source))
            return
        if start > 0 and log[start - 1][0] != prev:
            del log[start - 1 :]
            self._rebuild()
            self.send(src, ("ack", self.epoch, len(log), self.source))
            return
        now = self.sim.now
        for i, e in enumerate(entries):
            idx = start + i
            if idx < len(log):
                if log[idx][5] == e[5]:
                    continue
                del log[idx:]
                self._rebuild()
            log.append(e)
            apply_op(self.store, e[1], e[2], e[3])
            self.lags.append(now - e[4])
        # Entries past the leader's end that an older epoch wrote are a lost tail.
        if len(log) > end and log[end][0] < epoch:
            del log[end:]
            self._rebuild()
        if want_ack or self.c.cfg.sync_acks:
            self.send(src, ("ack", self.epoch, len(log), self.source))
        if self.waiting_reads:
            self._serve_waiting_reads()

    def on_ack(self, src: str, p: tuple) -> None:
        _, epoch, length, their_leader = p
        if epoch > self.epoch and self.c.cfg.fencing:
            self.become_follower(their_leader, epoch)
            if their_leader is None:
                # The new leader itself answered (it copies from no one): without asking
                # who leads, this node would ignore every append and keep its divergent
                # tail forever (explore found it: the replicas never converged).
                self.send("orch", ("whoami", self.epoch))
            return
        if self.role != "leader" or src not in self.match:
            return
        if length > self.match[src]:
            self.match[src] = length
        if length < self.next[src]:
            self.next[src] = length
        if self.waiting_acks:
            self._release_acks()
        if self.next[src] < len(self.log):
            self._replicate(src, ack=True)

    def _release_acks(self) -> None:
        k = self.c.cfg.sync_acks
        matches = sorted(self.match.values(), reverse=True)
        committed = matches[k - 1] if k <= len(matches) else -1
        still = []
        for need, client, op in self.waiting_acks:
            if need <= committed:
                self._ack_write(client, op)
            else:
                still.append((need, client, op))
        self.waiting_acks = still

    def _ack_write(self, client: str, op: int) -> None:
        self.acked_as_leader.append(self.sim.now)
        self.send(client, ("resp", op, "ok", None, {"position": len(self.log), "epoch": self.epoch}))

    def on_request(self, client: str, p: tuple) -> None:
        _, op, f, key, value, meta = p
        if f == "read":
            if (
                meta.get("position") is not None
                and self.role == "follower"
                and len(self.log) < meta["position"]
            ):
                self.waiting_reads.append((meta["position"], client, op, key))
                return
            if meta.get("leader_only") and self.role != "leader":
                self.send(client, ("resp", op, "fail", None, {"leader": self.source}))
                return
            self.send(client, ("resp", op, "ok", self.store.get(key), {}))
            return
        if self.role != "leader" or self.fenced:
            self.send(client, ("resp", op, "fail", None, {"leader": self.source}))
            return
        took, _ = apply_op(self.store, f, key, value)
        if not took:
            self.send(client, ("resp", op, "fail", None, {}))
            return
        entry = (
            self.epoch,
            "write" if f == "cas" else f,
            key,
            value[1] if f == "cas" else value,
            self.sim.now,
            (client, op),
        )
        self.log.append(entry)
        n = len(self.log)
        for fo in self.followers:
            if self.next[fo] == n - 1:
                self.send(
                    fo, ("append", self.epoch, n - 1, self.log[n - 2][0] if n > 1 else 0, (entry,), n, False)
                )
                self.next[fo] = n
        if self.c.cfg.sync_acks == 0:
            self._ack_write(client, op)
        else:
            self.waiting_acks.append((n, client, op))
            self._release_acks()

    def _serve_waiting_reads(self) -> None:
        n = len(self.log)
        still = []
        for pos, client, op, key in self.waiting_reads:
            if pos <= n:
                self.send(client, ("resp", op, "ok", self.store.get(key), {}))
            else:
                still.append((pos, client, op, key))
        self.waiting_reads = still

    def describe(self) -> dict:
        return {
            "up": self.up,
            "role": self.role,
            "epoch": self.epoch,
            "log_length": len(self.log),
            "state": {
                ("" if k is None else k): _plain(v)
                for k, v in sorted(self.store.items(), key=lambda kv: str(kv[0]))
            },
        }


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


class Orchestrator(Node):
    """Failure detector, promoter and discovery service (think Orchestrator or Patroni)."""

    def __init__(self, cluster: LeaderFollower):
        super().__init__("orch")
        self.c = cluster
        self.leader = cluster.replica_ids[0]
        self.epoch = 1
        self.last_seen: dict[str, int] = {}
        self.position: dict[str, int] = {}
        self.failovers: list[dict] = []

    def start(self) -> None:
        if self.c.cfg.failover == "auto":
            self.after(ms_to_ns(self.c.cfg.heartbeat_ms), self.watch)

    def watch(self) -> None:
        now = self.sim.now
        timeout = ms_to_ns(self.c.cfg.failover_ms)
        if now - self.last_seen.get(self.leader, 0) > timeout:
            alive = [
                n
                for n in self.c.replica_ids
                if n != self.leader and now - self.last_seen.get(n, -timeout - 1) <= timeout
            ]
            if alive:
                best = max(alive, key=lambda n: (self.position.get(n, 0), -self.c.replica_ids.index(n)))
                self.epoch += 1
                self.failovers.append({"time": now, "from": self.leader, "to": best, "epoch": self.epoch})
                self.sim.note_fault("failover", {"from": self.leader, "to": best, "epoch": self.epoch})
                self.leader = best
                self.send(best, ("promote", self.epoch))
                for n in self.c.replica_ids:
                    if n != best:
                        self.send(n, ("follow", best, self.epoch))
        self.after(ms_to_ns(self.c.cfg.heartbeat_ms), self.watch)

    def on_message(self, src: str, p: Any) -> None:
        kind = p[0]
        if kind == "hb":
            _, role, epoch, length = p
            self.last_seen[src] = self.sim.now
            self.position[src] = length
            if self.c.cfg.fencing and role == "leader" and src != self.leader:
                self.send(src, ("follow", self.leader, self.epoch))
        elif kind == "whoami":
            if src == self.leader:
                self.send(src, ("promote", self.epoch))
            else:
                self.send(src, ("follow", self.leader, self.epoch))
        elif kind == "whois":
            self.send(src, ("leader", self.leader, self.epoch))


class LeaderFollower(Protocol):
    """The protocol object: builds the nodes and routes client operations."""

    name = "leader-follower"

    def __init__(self, sim: Any, cfg: LeaderFollowerConfig):
        self.sim = sim
        self.cfg = cfg
        self.replica_ids = [f"n{i + 1}" for i in range(cfg.nodes)]
        self.replicas = [sim.add(Replica(n, self)) for n in self.replica_ids]
        self.orch = sim.add(Orchestrator(self))
        self.replicas[0].become_leader(1)
        for r in self.replicas[1:]:
            r.become_follower(self.replica_ids[0], 1)
        for r in self.replicas:
            r.start()
        self.orch.start()

    @property
    def node_ids(self) -> list[str]:
        return self.replica_ids + ["orch"]

    # -- client side

    def init_client(self, client: Any, index: int) -> None:
        if index < self.cfg.stale_clients:
            client.session["static"] = True

    def route(self, client: Any, f: str) -> str:
        s = client.session
        leader = s.get("leader") or self.replica_ids[0]
        if f != "read":
            return leader
        r = self.cfg.reads
        if r.kind == "leader":
            return leader
        if r.kind == "pin-after-write":
            last = s.get("last_write_at")
            if last is not None and self.sim.now - last < ms_to_ns(r.pin_ms):
                return leader
        followers = [n for n in self.replica_ids if n != leader] or [leader]
        return followers[self.sim.rng.randrange(len(followers))]

    def request_meta(self, client: Any, f: str, dst: str) -> dict:
        if f != "read":
            return {}
        kind = self.cfg.reads.kind
        if kind == "wait-for-position":
            return {"position": client.session.get("position")}
        if kind in ("leader", "pin-after-write") and dst == (
            client.session.get("leader") or self.replica_ids[0]
        ):
            # Meant for the leader: a node that is no longer leader must refuse, not answer stale.
            return {"leader_only": True}
        return {}

    def on_reply(self, client: Any, f: str, status: str, meta: dict) -> None:
        s = client.session
        if status == "ok" and f != "read":
            s["last_write_at"] = self.sim.now
            s["position"] = meta.get("position")
        if status == "fail" and meta.get("leader") and not s.get("static"):
            s["leader"] = meta["leader"]

    def on_timeout(self, client: Any, f: str) -> None:
        if not client.session.get("static"):
            client.send("orch", ("whois",))

    def on_client_message(self, client: Any, src: str, p: tuple) -> None:
        if p[0] == "leader" and not client.session.get("static"):
            client.session["leader"] = p[1]

    def current_leader(self) -> str:
        return self.orch.leader

    # -- results

    def authoritative(self) -> Replica:
        """The replica whose log is the system's truth at the end: the orchestrator's leader."""
        return next(r for r in self.replicas if r.id == self.orch.leader)

    def measurements(self, history: Any) -> dict:
        truth = self.authoritative()
        kept = {e[5] for e in truth.log}
        acked_uids = history.acked_uids
        lost = [u for u in acked_uids if u not in kept]
        # Which writes, not only how many: each by its value (unique per run) and session.
        lost_writes = [
            _lost_write(uid, w) for uid, w in zip(acked_uids, history.acked_writes) if uid not in kept
        ]
        lags = sorted(x for r in self.replicas for x in r.lags)
        leaders = {}
        for r in self.replicas:
            if r.acked_as_leader:
                leaders[r.id] = (r.acked_as_leader[0], r.acked_as_leader[-1])
        spans = sorted(leaders.items(), key=lambda kv: kv[1])
        split = any(spans[i][1][1] > spans[i + 1][1][0] for i in range(len(spans) - 1))
        return {
            "acked_writes": len(acked_uids),
            "acked_writes_lost": len(lost),
            "lost_writes": lost_writes,
            "replication_lag_ms": summary_ms(lags),
            "failovers": self.orch.failovers,
            "leaders_that_acked_writes": sorted(leaders),
            "split_brain": split,
        }


def _lost_write(uid: tuple, write: tuple) -> dict:
    key, value, acked_at = write
    d = {"value": _plain(value), "session": uid[0], "acked_ms": round(acked_at / 1e6, 3)}
    if key is not None:
        d["key"] = key
    return d


def summary_ms(xs: list[int]) -> dict:
    if not xs:
        return {"count": 0}
    n = len(xs)
    return {
        "count": n,
        "mean": round(sum(xs) / n / 1e6, 3),
        "median": round(xs[n // 2] / 1e6, 3),
        "p99": round(xs[min(n - 1, int(n * 0.99))] / 1e6, 3),
        "max": round(xs[-1] / 1e6, 3),
    }


def stale_read_rate(events: list[dict]) -> float:
    """The fraction of reads that returned a value some later write had already replaced.

    A read is stale when a write invoked after the read value's write was acknowledged
    was itself acknowledged before the read began: every linearization puts the newer
    write in between, so this needs no knowledge of the replicas' logs.
    """
    invoked: dict = {}
    write_acks: list[tuple[int, int]] = []  # (ack time, invoke time)
    acked_at: dict = {None: -1}
    reads: list[tuple[int, Any]] = []  # (read invoke time, value)
    for e in events:
        if e.get("process") == "nemesis":
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e["time"]
        elif e["type"] == "ok" and e["f"] == "write":
            write_acks.append((e["time"], invoked[e["process"]]))
            acked_at[e["value"]] = e["time"]
        elif e["type"] == "ok" and e["f"] == "read":
            reads.append((invoked[e["process"]], e["value"]))
    write_acks.sort()
    times = [t for t, _ in write_acks]
    latest_invoke = []
    hi = -1
    for _, inv in write_acks:
        hi = max(hi, inv)
        latest_invoke.append(hi)
    stale = 0
    for t, v in reads:
        i = bisect.bisect_left(times, t) - 1
        if i >= 0 and latest_invoke[i] > acked_at.get(v, float("inf")):
            stale += 1
    return stale / len(reads) if reads else 0.0


def _lost_acknowledged_writes(cluster: Any) -> tuple[bool, str]:
    """Durability as leader-follower defines it: every acknowledged write is in the log of
    the leader at the end (the log the system serves from)."""
    truth = cluster.protocol.authoritative()
    kept = {e[5] for e in truth.log}
    history = cluster.history
    lost = [(uid, w[1]) for uid, w in zip(history.acked_uids, history.acked_writes) if uid not in kept]
    if lost:
        (client, _), value = lost[0]
        plural = "s" if len(lost) > 1 else ""
        return False, (
            f"write {value} by client {client} was acknowledged, but the log of {truth.id}, the "
            f"leader at the end, does not hold it ({len(lost)} acknowledged write{plural} lost)"
        )
    return True, f"every acknowledged write is in the log of {truth.id}, the leader at the end"


TOPOLOGY = register(
    Topology(
        name="leader-follower",
        help="one leader orders writes into a log that followers copy",
        options=(
            Option("--replication", "sync, async or semi-sync:K", "async", metavar="MODE"),
            Option(
                "--reads",
                "leader, replica, pin-after-write:MS, wait-for-position",
                "leader",
                metavar="ROUTING",
            ),
            Option("--failover", "none or auto", "none", metavar="MODE"),
            Option("--heartbeat-ms", "heartbeat period", 10),
            Option("--failover-ms", "leader silence before promotion", 100),
            Option("--flush-ms", "disk flush period; 0 = every write durable", 0),
            Option("--stale-clients", "clients that never re-discover the leader", 0),
            Option("--fencing", "epochs checked, a revived leader is fenced", kind=FLAG),
        ),
        build_config=LeaderFollowerConfig.from_options,
        build=LeaderFollower,
        leader_based=True,
        has_failover=lambda cfg: cfg.failover == "auto",
        other_nodes=lambda cfg: ["orch"],
        lost_acknowledged_writes=_lost_acknowledged_writes,
    )
)
