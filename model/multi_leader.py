"""Multi-leader replication: every leader accepts writes and forwards them over a graph.

The replication graph (``all-to-all``, ``ring`` or ``star``, as networkx graphs) says who
sends to whom; a leader forwards each update it has not seen before to its neighbours,
so updates reach every leader on any connected graph. Each hop is acknowledged
(``upd_ok``) and a leader re-sends every ``RESEND_MS`` what a neighbour has not yet
acknowledged, so an update cut by a partition, a crash or a lost message arrives once
the network lets it: with every message eventually delivered, LWW and version vectors
converge. Each client session sticks to one
home leader (``c0`` to ``n1``, ``c1`` to ``n2``, ...) for reads and writes, and a write is
acknowledged as soon as its home leader has applied it.

Conflict resolution, per key:

- ``lww``: the version with the highest ``(clock, node)`` wins, the clock being the
  writing node's own (skewed) clock; a node whose clock runs ahead silently overwrites
  later writes — an acknowledged update lost.
- ``version-vectors``: each version carries a version vector; concurrent versions are
  kept as siblings and a read returns them all (a sorted list when there are several);
  a later write at a node supersedes every sibling that node has seen.
- ``merge``: siblings as with version vectors, but a read returns their merge by set
  union, always as a sorted list (the application's merge function).

Workloads: ``register`` under every resolution; ``kv`` and ``list-append`` under ``lww``
only (an append is applied by the home leader to the value it holds and the whole value
replicated, so concurrent appends at two leaders conflict and one is lost); no
``cas-register`` (see :func:`workload_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from .clients import Protocol, appended
from .options import ConfigError, Option, OptionValues, num
from .sim import Node, ms_to_ns
from .topology import Topology, register

GRAPHS = ("all-to-all", "ring", "star")
CONFLICTS = ("lww", "version-vectors", "merge")


def workload_problem(cfg: MultiLeaderConfig, workload: str) -> str | None:
    """Why ``workload`` cannot be expressed with ``cfg`` (one line), or None.

    Under ``version-vectors`` and ``merge`` a read can return several siblings, which a
    register history records as a list; a kv string or an appended-to list has no way to
    say "these two versions at once", so those workloads need ``lww``.
    """
    if workload == "cas-register":
        return (
            "--workload cas-register is not supported on multi-leader: each leader would decide a "
            "compare-and-set alone, so two could both succeed; use leader-follower, "
            "or --workload register, kv or list-append"
        )
    if workload in ("kv", "list-append") and cfg.conflict != "lww":
        return (
            f"--workload {workload} with --conflict {cfg.conflict}: a read may return several "
            f"siblings, which a {workload} value cannot hold; use --conflict lww, or --workload register"
        )
    return None


@dataclass(frozen=True)
class MultiLeaderConfig:
    nodes: int = 3
    graph: str = "all-to-all"
    conflict: str = "lww"

    @classmethod
    def from_options(cls, opts: OptionValues) -> MultiLeaderConfig:
        n = num("nodes", opts["nodes"], int, 2)
        g = str(opts["graph"])
        if g not in GRAPHS:
            raise ConfigError(f"--graph {g!r}: choose one of {', '.join(GRAPHS)}")
        c = str(opts["conflict"])
        if c not in CONFLICTS:
            raise ConfigError(f"--conflict {c!r}: choose one of {', '.join(CONFLICTS)}")
        return cls(n, g, c)

    def describe(self) -> str:
        return f"multi-leader --nodes {self.nodes} --graph {self.graph} --conflict {self.conflict}"

    def topology(self) -> nx.Graph:
        names = {i: f"n{i + 1}" for i in range(self.nodes)}
        if self.graph == "all-to-all":
            g = nx.complete_graph(self.nodes)
        elif self.graph == "ring":
            g = nx.cycle_graph(self.nodes)
        else:
            g = nx.star_graph(self.nodes - 1)  # n1 is the hub
        return nx.relabel_nodes(g, names)


def _dominates(a: tuple, b: tuple) -> bool:
    """Version vector ``a`` (sorted (node, count) pairs) has seen everything ``b`` has."""
    da = dict(a)
    return all(da.get(k, 0) >= v for k, v in b)


def _merge_vv(vvs: list[tuple]) -> dict:
    out: dict = {}
    for vv in vvs:
        for k, v in vv:
            if v > out.get(k, 0):
                out[k] = v
    return out


RESEND_MS = 20.0  # how often a leader re-sends updates a neighbour has not acknowledged


class Leader(Node):
    def __init__(self, id: str, cluster: MultiLeader):
        super().__init__(id)
        self.c = cluster
        self.store: dict = {}  # lww: key -> (ts, value); otherwise key -> [(vv, value)]
        self.seen: set = set()
        # neighbour -> uid -> update not yet acknowledged by it. Kept on disk with the store
        # (an outbox): an update cut by a partition, a crash or a lost message is re-sent
        # every RESEND_MS until acknowledged, so leaders converge once messages get through.
        self.unacked: dict[str, dict] = {}
        self._resend_armed = False

    # ``seen`` pickles in hash order, which for strings differs from process to process:
    # sorted, a pickled cluster (and the exhaustive search's fingerprint of it) is the same
    # bytes in every process. Only membership is ever asked of it.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["seen"] = sorted(self.seen, key=repr)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.seen = set(self.seen)

    def on_restart(self) -> None:
        self._resend_armed = False  # the crash cancelled the timer
        self._arm_resend()

    def _arm_resend(self) -> None:
        if not self._resend_armed and any(self.unacked.values()):
            self._resend_armed = True
            self.after(ms_to_ns(RESEND_MS), self._resend)

    def _resend(self) -> None:
        self._resend_armed = False
        for n in sorted(self.unacked):
            for p in self.unacked[n].values():
                self.send(n, p)
        self._arm_resend()

    def on_message(self, src: str, p: Any) -> None:
        if p[0] == "upd":
            _, uid, key, version, value = p
            # Acknowledged even when already seen: the sender's copy of a re-sent update
            # must stop once any copy got through.
            self.send(src, ("upd_ok", uid))
            if uid in self.seen:
                return
            self.seen.add(uid)
            self._apply(key, version, value)
            self._forward(p, exclude=src)
        elif p[0] == "upd_ok":
            self.unacked.get(src, {}).pop(p[1], None)
        elif p[0] == "req":
            _, op, f, key, value, _meta = p
            if f == "read":
                self.send(src, ("resp", op, "ok", self.read(key), {}))
            elif f in ("write", "append"):
                if f == "append":
                    # The home leader appends to what it holds now and ships the whole new
                    # value: appends made concurrently at two leaders are a conflict like
                    # any other, and LWW keeps one of them.
                    value = appended(self.read(key), value)
                uid = (self.id, src, op)
                version = self._new_version(key)
                self.seen.add(uid)
                self._apply(key, version, value)
                self._forward(("upd", uid, key, version, value), exclude=None)
                self.send(src, ("resp", op, "ok", None, {}))
            else:
                self.send(src, ("resp", op, "fail", None, {}))

    def _forward(self, p: tuple, exclude: str | None) -> None:
        for n in self.c.neighbours[self.id]:
            if n != exclude:
                self.unacked.setdefault(n, {})[p[1]] = p
                self.send(n, p)
        self._arm_resend()

    def _new_version(self, key: Any) -> tuple:
        if self.c.cfg.conflict == "lww":
            return (self.clock(), self.id)
        vv = _merge_vv([s[0] for s in self.store.get(key, [])])
        vv[self.id] = vv.get(self.id, 0) + 1
        return tuple(sorted(vv.items()))

    def _apply(self, key: Any, version: tuple, value: Any) -> None:
        if self.c.cfg.conflict == "lww":
            cur = self.store.get(key)
            if cur is None or version > cur[0]:
                self.store[key] = (version, value)
            return
        siblings = self.store.get(key, [])
        if any(_dominates(vv, version) for vv, _ in siblings):
            return  # already seen, or superseded
        self.store[key] = [(vv, v) for vv, v in siblings if not _dominates(version, vv)] + [(version, value)]

    def read(self, key: Any) -> Any:
        cur = self.store.get(key)
        if cur is None:
            return None
        if self.c.cfg.conflict == "lww":
            return cur[1]
        values = sorted({v for _, v in cur}, key=lambda v: (str(type(v)), v))
        if self.c.cfg.conflict == "merge" or len(values) > 1:
            return values
        return values[0]

    def describe(self) -> dict:
        return {
            "up": self.up,
            "state": {("" if k is None else k): self.read(k) for k in sorted(self.store, key=str)},
        }


class MultiLeader(Protocol):
    name = "multi-leader"

    def __init__(self, sim: Any, cfg: MultiLeaderConfig):
        self.sim = sim
        self.cfg = cfg
        self.graph = cfg.topology()
        self.replica_ids = [f"n{i + 1}" for i in range(cfg.nodes)]
        self.neighbours = {n: sorted(self.graph.neighbors(n)) for n in self.replica_ids}
        self.replicas = [sim.add(Leader(n, self)) for n in self.replica_ids]

    @property
    def node_ids(self) -> list[str]:
        return list(self.replica_ids)

    def current_leader(self) -> str:
        raise ValueError("every multi-leader node leads: name a node, e.g. n1@200")

    def init_client(self, client: Any, index: int) -> None:
        client.session["home"] = self.replica_ids[index % len(self.replica_ids)]

    def route(self, client: Any, f: str) -> str:
        return client.session["home"]

    def measurements(self, history: Any) -> dict:
        states = [r.describe()["state"] for r in self.replicas]
        lost = lost_writes(history.events, states[0])
        return {
            "acked_writes": len(history.acked_uids),
            "graph": self.cfg.graph,
            "edges": [list(e) for e in sorted(self.graph.edges())],
            "replicas_agree": all(s == states[0] for s in states),
            "lost_updates": len(lost),
            "lost_writes": lost,
        }


def lost_updates(events: list[dict], final_state: dict) -> int:
    """How many acknowledged writes :func:`lost_writes` finds."""
    return len(lost_writes(events, final_state))


def lost_writes(events: list[dict], final_state: dict) -> list[dict]:
    """Acknowledged writes invoked after the final value's write was acknowledged, per key.

    Such a write came strictly later in real time, yet the converged state does not hold
    it: an acknowledged update that conflict resolution threw away. Each as its key (when
    there is one) and value, in the order they were acknowledged.
    """
    invoked: dict = {}
    writes = []  # (key, value, invoke time, ack time)
    for e in events:
        if e.get("process") == "nemesis" or e.get("f") not in ("write", "put"):
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e["time"]
        elif e["type"] == "ok":
            writes.append((e.get("key"), e["value"], invoked[e["process"]], e["time"]))
    lost = []
    for key in {w[0] for w in writes}:
        final = final_state.get("" if key is None else key)
        finals = set(final) if isinstance(final, list) else {final}
        acks = [w[3] for w in writes if w[0] == key and w[1] in finals]
        if not acks:
            continue
        last_final_ack = max(acks)
        lost += [w for w in writes if w[0] == key and w[1] not in finals and w[2] > last_final_ack]
    return [
        {"value": w[1]} if w[0] is None else {"key": w[0], "value": w[1]}
        for w in sorted(lost, key=lambda w: w[3])
    ]


def _lost_acknowledged_writes(cluster: Any) -> tuple[bool, str]:
    """Durability as conflict resolution can break it: an acknowledged update thrown away."""
    for r in cluster.protocol.replicas:
        state = r.describe()["state"]
        # Judge each replica on the writes it received: a write that never reached it
        # (a lost message, no anti-entropy) is a convergence failure, not a conflict
        # resolution that threw an acknowledged update away.
        received = {uid[1:] for uid in r.seen}
        events = [
            e
            for e in cluster.events
            if e.get("f") != "write" or cluster.writes.get(e.get("value")) in received
        ]
        n = lost_updates(events, state)
        if n:
            return False, (
                f"{n} acknowledged write{'s' if n > 1 else ''} invoked after the write {r.id} finally holds "
                f"({state.get('', state)!r}) was acknowledged, yet {r.id} does not hold "
                f"{'them' if n > 1 else 'it'}: conflict resolution threw an acknowledged update away"
            )
    return True, "no acknowledged update was thrown away by conflict resolution"


def _history_spec(cfg: MultiLeaderConfig, workload: str) -> str:
    # Reads return every sibling: a multi-value register (replicheck.checker.mvregister).
    return "mv-register" if cfg.conflict != "lww" and workload == "register" else workload


def _not_applicable(cfg: MultiLeaderConfig, prop: str) -> str | None:
    if cfg.conflict != "lww" and prop in ("linearizable", "read-your-writes"):
        return "reads return sibling sets, not register values"
    return None


TOPOLOGY = register(
    Topology(
        name="multi-leader",
        help="every node leads and replicates to its neighbours; conflicts resolved by --conflict",
        options=(
            Option("--graph", "all-to-all, ring or star", "all-to-all", metavar="SHAPE"),
            Option("--conflict", "lww, version-vectors or merge", "lww", metavar="RULE"),
        ),
        build_config=MultiLeaderConfig.from_options,
        build=MultiLeader,
        uses_clocks=lambda cfg: cfg.conflict == "lww",
        workload_problem=workload_problem,
        not_applicable=_not_applicable,
        lost_acknowledged_writes=_lost_acknowledged_writes,
        history_spec=_history_spec,
    )
)
