"""Clients: workloads, sessions, read routing, and the history they record.

A :class:`Client` is a closed loop: invoke, wait for the reply or a timeout, think,
repeat. It records Jepsen-shaped events: ``ok`` took effect, ``fail`` certainly did not
(a rejected write, a failed cas, a read that timed out), ``info`` for a write whose fate
the client never learned — after which the client continues under a *new* process id,
as Jepsen requires. The session id (``"session": "c3"``) survives process changes.

Replicas see operations in one internal shape: ``f`` in read / write / cas / append on a
``key`` (``None`` for a single register); :class:`Workload` maps the user-facing
workloads (register, cas-register, kv, list-append) onto it and back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .sim import Node, ms_to_ns

WORKLOADS = ("register", "cas-register", "kv", "list-append")
READ_ROUTING = ("leader", "replica", "pin-after-write:<ms>", "wait-for-position")


def apply_op(store: dict, f: str, key: Any, value: Any) -> tuple[bool, Any]:
    """Apply an internal op to a plain key -> value store: (took effect, result)."""
    if f == "read":
        return True, store.get(key)
    if f == "write":
        store[key] = value
        return True, None
    if f == "append":
        store[key] = appended(store.get(key), value)
        return True, None
    if f == "cas":
        if store.get(key) == value[0]:
            store[key] = value[1]
            return True, None
        return False, None
    raise ValueError(f"unknown operation {f!r}")


def appended(cur: Any, value: Any) -> Any:
    """``cur`` (None: nothing yet) with ``value`` appended: strings concatenate, else a tuple."""
    if isinstance(value, str):
        return (cur or "") + value
    return (cur or ()) + (value,)


class Protocol:
    """What a client asks of a topology, with the answers of one that needs no help.

    A topology routes each operation to a node (``route``) and may attach metadata
    (the log position a wait-for-position read carries), learn from replies and
    timeouts (leader discovery), and hear its own messages to clients. Leader-follower
    uses every hook; leaderless and multi-leader only routing.
    """

    replicas: list

    def init_client(self, client: Any, index: int) -> None:
        pass

    def route(self, client: Any, f: str) -> str:  # pragma: no cover - every topology routes
        raise NotImplementedError

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


class Workload:
    """Draws operations with unique written values, so stale reads are visible."""

    def __init__(self, name: str, rng: random.Random, *, read_ratio: float = 0.5, keys: int = 3):
        if name not in WORKLOADS:
            raise ValueError(f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}")
        self.name = name
        self.rng = rng
        self.read_ratio = read_ratio
        self.keys = keys
        self.counter = 0
        self.recent: list[Any] = [None]

    @property
    def spec(self) -> str:
        return self.name

    def next(self) -> tuple[str, Any, Any]:
        """(internal f, key, value) of the next operation."""
        rng = self.rng
        is_read = rng.random() < self.read_ratio
        self.counter += 1
        n = self.counter
        if self.name == "register":
            return ("read", None, None) if is_read else ("write", None, n)
        if self.name == "cas-register":
            if is_read:
                return "read", None, None
            if rng.random() < 0.5:
                return "cas", None, (rng.choice(self.recent), n)
            return "write", None, n
        key = f"k{rng.randrange(self.keys)}"
        if is_read:
            return "read", key, None
        if self.name == "kv":
            return ("write", key, f"p{n}") if rng.random() < 0.5 else ("append", key, f"a{n}")
        return "append", key, n

    def wrote(self, value: Any) -> None:
        if self.name == "cas-register":
            self.recent.append(value)
            if len(self.recent) > 4:
                self.recent.pop(0)

    def external(
        self, f: str, key: Any, value: Any, result: Any = None, done: bool = False
    ) -> tuple[str, Any]:
        """The (f, value) the history records for an internal op (and its result)."""
        if self.name in ("register", "cas-register"):
            if f == "read":
                return "read", result if done else None
            return f, list(value) if f == "cas" else value
        if self.name == "kv":
            if f == "read":
                return "get", (result if result is not None else "") if done else None
            return ("put" if f == "write" else "append"), value
        if f == "read":
            return "txn", [
                ["r", key, list(result) if (done and result is not None) else ([] if done else None)]
            ]
        return "txn", [["append", key, value]]


# ---------------------------------------------------------------- read routing


@dataclass(frozen=True)
class ReadRouting:
    """Where a leader-follower client sends reads.

    ``leader``: always the leader. ``replica``: any follower, chosen at random.
    ``pin-after-write:<ms>``: the leader for ``pin_ms`` after the session's own last
    write, a follower otherwise (the common fix for read-your-writes, which fails once
    replication lag exceeds the window). ``wait-for-position``: any follower, carrying the
    log position of the session's last write; the follower answers only once it has
    applied that far.
    """

    kind: str
    pin_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> ReadRouting:
        s = text.strip()
        if s in ("leader", "replica", "wait-for-position"):
            return cls(s)
        if s.startswith("pin-after-write"):
            _, sep, ms = s.partition(":")
            try:
                v = float(ms) if sep else -1.0
            except ValueError:
                v = -1.0
            if v < 0:
                raise ValueError(
                    f"--reads {text!r}: write pin-after-write:<ms> with a non-negative number, "
                    "e.g. pin-after-write:100"
                )
            return cls("pin-after-write", v)
        raise ValueError(f"--reads {text!r}: choose one of {', '.join(READ_ROUTING)}")

    def describe(self) -> str:
        return f"pin-after-write:{self.pin_ms:g}" if self.kind == "pin-after-write" else self.kind


# ---------------------------------------------------------------- clients


class HistoryLog:
    """The client history, in virtual-time order, plus which writes were acknowledged."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.acked_writes: list[tuple[Any, Any, int]] = []  # (key, value, ack time)
        self.acked_uids: list[tuple[str, int]] = []  # (client id, op number)
        self.next_process = 0

    def new_process(self) -> int:
        p = self.next_process
        self.next_process += 1
        return p


class Client(Node):
    """A session issuing one operation at a time to whichever node ``route`` picks.

    The protocol object supplies ``route(client, f) -> node id`` and may read or update
    ``client.session`` (cached leader, last write position, ...) in ``on_reply``.
    """

    def __init__(
        self,
        id: str,
        protocol: Any,
        workload: Workload,
        history: HistoryLog,
        budget: list[int],
        *,
        timeout_ms: float,
        think_ms: float,
    ):
        super().__init__(id)
        self.protocol = protocol
        self.workload = workload
        self.history = history
        self.budget = budget  # shared [remaining ops]
        self.timeout_ns = ms_to_ns(timeout_ms)
        self.think_ms = think_ms
        self.process = history.new_process()
        self.session: dict = {}
        self.op_no = 0
        self.current: tuple | None = None

    def start(self) -> None:
        self.after(int(self.sim.rng.random() * ms_to_ns(self.think_ms + 0.001)), self.invoke)

    def invoke(self) -> None:
        if self.budget[0] <= 0:
            return
        self.budget[0] -= 1
        f, key, value = self.workload.next()
        self.op_no += 1
        dst = self.protocol.route(self, f)
        ef, ev = self.workload.external(f, key, value)
        ev_ = {
            "process": self.process,
            "type": "invoke",
            "f": ef,
            "value": ev,
            "time": self.sim.now,
            "session": self.id,
        }
        if key is not None:
            ev_["key"] = key
        self.history.events.append(ev_)
        self.current = (self.op_no, f, key, value, dst)
        self.send(dst, ("req", self.op_no, f, key, value, self.protocol.request_meta(self, f, dst)))
        self.after(self.timeout_ns, self.on_timeout, self.op_no)

    def _complete(self, typ: str, result: Any, node: Any) -> None:
        _, f, key, value, _ = self.current  # type: ignore[misc]
        ef, ev = self.workload.external(f, key, value, result, done=typ == "ok")
        if f == "read" and typ != "ok":
            ev = None if self.workload.name != "list-append" else [["r", key, None]]
        e = {
            "process": self.process,
            "type": typ,
            "f": ef,
            "value": ev,
            "time": self.sim.now,
            "session": self.id,
        }
        if key is not None:
            e["key"] = key
        if node is not None:
            e["node"] = node
        self.history.events.append(e)
        if typ == "ok" and f != "read":
            written = value[1] if f == "cas" else value
            self.history.acked_writes.append((key, written, self.sim.now))
            self.history.acked_uids.append((self.id, self.current[0]))  # type: ignore[index]
            self.workload.wrote(written)
        if typ == "info":
            self.process = self.history.new_process()
        self.current = None
        think = ms_to_ns(self.sim.rng.expovariate(1.0 / self.think_ms)) if self.think_ms > 0 else 0
        self.after(think, self.invoke)

    def on_message(self, src: str, payload: Any) -> None:
        if payload[0] != "resp":
            self.protocol.on_client_message(self, src, payload)
            return
        _, op_no, status, result, meta = payload
        if self.current is None or op_no != self.current[0]:
            return  # a late or duplicated reply to an operation already settled
        self.protocol.on_reply(self, self.current[1], status, meta)
        self._complete(status, result, src)

    def on_timeout(self, op_no: int) -> None:
        if self.current is None or self.current[0] != op_no:
            return
        f = self.current[1]
        self.protocol.on_timeout(self, f)
        # A read that timed out changed nothing; a write may or may not have happened.
        self._complete("fail" if f == "read" else "info", None, None)


# ---------------------------------------------------------------- final reads

FINAL_SESSION = "final"


class _QueuedWorkload(Workload):
    """A workload whose next operation is whatever was queued (the final reads')."""

    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name, rng)
        self.queued: tuple[str, Any, Any] | None = None

    def next(self) -> tuple[str, Any, Any]:
        op, self.queued = self.queued, None
        assert op is not None, "a final read is queued before each invoke"
        return op


class _LocalReads:
    """The protocol as a final reader sees it: every read goes to one chosen node and
    carries no routing metadata, so it is that node's own answer (leaderless: a quorum
    read coordinated there)."""

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self.node = ""

    def route(self, client: Any, f: str) -> str:
        return self.node

    def request_meta(self, client: Any, f: str, dst: str) -> dict:
        return {}

    def on_reply(self, client: Any, f: str, status: str, meta: dict) -> None:
        pass

    def on_timeout(self, client: Any, f: str) -> None:
        pass

    def on_client_message(self, client: Any, src: str, p: tuple) -> None:
        pass


def final_reads(
    sim: Any, protocol: Any, history: HistoryLog, workload: str, keys: list, timeout_ms: float
) -> int:
    """Read every key on every live replica, one read at a time, after the run settled.

    These are the reads convergence and durability are judged on (session ``final``):
    without them a history cannot say whether an acknowledged write survived. Returns
    how many were taken.
    """
    view = _LocalReads(protocol)
    wl = _QueuedWorkload(workload, sim.rng)
    client = sim.add(Client(FINAL_SESSION, view, wl, history, [0], timeout_ms=timeout_ms, think_ms=0))
    taken = 0
    for node in [r.id for r in protocol.replicas if r.up]:
        for key in keys:
            # Intervals are closed: a read invoked the instant the last one completed would
            # overlap it, and one session runs one operation at a time.
            sim.run(until_ns=sim.now + 1000)
            view.node = node
            wl.queued = ("read", key, None)
            client.budget[0] = 1
            client.invoke()
            taken += 1
            sim.run(until_ns=sim.now + ms_to_ns(timeout_ms + 1), stop=lambda: client.current is None)
    return taken
