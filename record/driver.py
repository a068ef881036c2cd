"""The workload every recorder shares; a system is an :class:`Adapter` (how to connect,
write a row, read it, and where replication stands) and, optionally, a nemesis.

Clients (threads, each a session with its own connections) write per-user rows on the
node that takes writes and read them back through a routing:

- ``primary``: always the writer.
- ``replica``: a follower (one at random per read when there are several), the usual
  way to scale reads and to miss one's own write while the follower lags.
- ``pin-after-write:<ms>``: the writer for ``ms`` after the client's last write, a
  follower otherwise. Fixes read-your-writes only while the lag stays under ``ms``.
- ``wait-for-lsn``: a follower, once it has applied the replication position the writer
  reported right after the client's last write (PostgreSQL's LSN, MariaDB's GTID). The
  position is read *after* the write returns, and the row by a fresh statement *after*
  the wait.

The rows hold a register or a list (``workload``); a row retires after
``max_writes_per_key`` writes, as in Elle, so lists stay short. Every written value is
unique, so a read names exactly the writes it saw.

Every error is recorded, never dropped: a write that errs or times out is ``info`` (it
may have taken effect), a read that errs is ``fail`` (a read changes nothing), and an
operation that could not reach a server (:class:`NoConnection`) is ``fail``.

A nemesis (a function run in its own thread) injects faults while the clients run and
records each as a nemesis event when it happens; it may move the writer (a failover).
When the clients stop, a ``final`` session waits until every follower has applied the
writer's last position and a quiet period has passed, then reads every row on the
writer and each follower: durability and convergence are judged on those reads.
Ctrl-C stops the clients after the operation each has in hand; the final reads still run.
"""

from __future__ import annotations

import math
import os
import random
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .recorder import Operation, Recorder, Session
from .secrets import Redactor

WORKLOADS = ("list-append", "register")
ROUTINGS = ("primary", "replica", "pin-after-write:<ms>", "wait-for-lsn")
SETUP_TIMEOUT = 30.0  # seconds for setting up, and for followers to catch up at the end
FINAL_QUIET_MS = 500  # beyond the largest replay delay, before the final reads


class RecordError(Exception):
    """The run cannot start or go on (cannot connect, a replica that is not one...)."""


class NoConnection(Exception):
    """The statement never reached the server, so the operation certainly failed."""


class Rejected(Exception):
    """The server refused the write (a lost compare-and-set race...): certainly no effect."""


@dataclass(frozen=True)
class Routing:
    kind: str  # primary | replica | pin-after-write | wait-for-lsn
    pin_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Routing:
        if text in ("primary", "replica", "wait-for-lsn"):
            return cls(text)
        m = re.fullmatch(r"pin-after-write:(\d+(?:\.\d+)?)(ms)?", text)
        if m:
            return cls("pin-after-write", float(m.group(1)))
        raise ValueError(f"unknown routing {text!r}; expected one of {', '.join(ROUTINGS)}")

    def __str__(self) -> str:
        return f"pin-after-write:{self.pin_ms:g}" if self.kind == "pin-after-write" else self.kind


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def replica_names(n: int) -> list[str]:
    """The history's names for the replicas: replica, replica2, replica3..."""
    return ["replica" if i == 0 else f"replica{i + 1}" for i in range(n)]


class Conn:
    """One client's connection to one node (made by :meth:`Adapter.connect`)."""

    def usable(self) -> bool:
        """False once the connection is broken: the next operation reconnects."""
        return True

    def write(self, key: str, value: int) -> None:
        """Append ``value`` to row ``key`` (list-append) or set it (register)."""
        raise NotImplementedError

    def read(self, key: str) -> Any:
        """The row's list (None or [] when absent) or register value (None when absent)."""
        raise NotImplementedError

    def position(self) -> Any:
        """The node's replication position now (after this client's last write)."""
        raise NotImplementedError

    def applied(self, position: Any) -> bool:
        """Whether this node has applied everything up to ``position``."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Adapter:
    """A system: its nodes (``dsns``: name -> address, the writer named ``primary``),
    how to set them up and connect; subclasses override what they need."""

    system = "system"
    label = "system"  # for humans: "PostgreSQL"
    writer = "primary"  # the node the clients write to, until a nemesis moves them
    positions = True  # whether Conn.position/applied work (wait-for-lsn, final catch-up)

    def __init__(self, dsns: dict[str, str], *, workload: str, timeout: float, table: str):
        self.dsns, self.workload, self.timeout, self.table = dsns, workload, timeout, table
        self.redact = Redactor(dsns.values())

    def prepare(self) -> dict:
        """Create the (empty) rows' home on the writer, wait until the followers have it,
        and describe the servers (plain data, into the metadata and summary)."""
        raise NotImplementedError

    def connect(self, node: str) -> Conn:
        """A new connection; raises NoConnection when the server cannot be reached."""
        raise NotImplementedError

    def quiet_ms(self, facts: dict) -> float:
        return max(facts.get("replay_delay_ms", {}).values(), default=0) + FINAL_QUIET_MS

    def source_args(self) -> str:
        """Options that made this run, beyond the shared ones, for the metadata."""
        return ""


class Link:
    """One client's connection to one node, reopened after it breaks."""

    def __init__(self, adapter: Adapter, name: str):
        self.adapter, self.name = adapter, name
        self.conn: Conn | None = None

    def get(self) -> Conn:
        if self.conn is None or not self.conn.usable():
            self.close()
            self.conn = self.adapter.connect(self.name)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


class Client:
    """One closed-loop client: think, pick a user row, write it or read it back."""

    def __init__(self, run: Run, name: str, index: Any):
        self.run = run
        self.rng = random.Random(f"{run.seed}/{index}")  # each client its own draws from the seed
        self.index = index  # also makes its written values unique
        self.written = 0
        self.session: Session = run.recorder.session(name)
        self.links = {node: Link(run.adapter, node) for node in run.adapter.dsns}
        self.last_write = -math.inf  # monotonic seconds when the last write returned
        self.pos: Any = None  # the writer's replication position after the last write
        self.stale_pos = False  # a write returned but its position is unknown
        self.tally, self.waits = run.reads, run.waits  # reads per server, replay waits

    @property
    def writer(self) -> Link:
        return self.links[self.run.writer]

    def loop(self) -> None:
        try:
            while self.run.take():
                if self.run.think_ms:
                    time.sleep(self.rng.expovariate(1000.0 / self.run.think_ms))
                slot = self.rng.randrange(self.run.keys)
                if self.rng.random() < self.run.read_ratio:
                    self.read(self.run.key_in(slot))
                else:
                    self.written += 1
                    self.write(self.run.key_to_write(slot), self.index + self.run.clients * self.written)
        except BaseException as e:  # recorded for the summary; the other clients go on
            self.run.crashed.append(self.run.adapter.redact(f"client {self.session.name}: {first_line(e)}"))
        finally:
            self.close()

    def close(self) -> None:
        for link in self.links.values():
            link.close()

    def route(self) -> Link:
        run = self.run
        kind = run.routing.kind
        followers = run.followers
        if not followers:
            return self.writer  # failed over with nobody following: the writer is all there is
        if kind == "primary" or (
            kind == "pin-after-write" and (time.monotonic() - self.last_write) * 1000 < run.routing.pin_ms
        ):
            return self.writer
        return self.links[self.rng.choice(followers)]

    def _invoke(
        self, f: str, v: Any, key: str, choose: Callable[[], Link], read_only: bool = False
    ) -> tuple[Link, Operation]:
        """Choose the node and record the invocation as one step, under the lock a
        fail-over takes: an operation the history shows invoked after a fail-over was
        routed after it too, never to the old writer on a choice made just before."""
        with self.run.lock:
            link = choose()
            return link, self.session.op(
                f, v, key=self.run.key_field(key), node=link.name, read_only=read_only
            )

    def write(self, key: str, value: int) -> None:
        run = self.run
        f, v = run.shape_write(key, value)
        link, op = self._invoke(f, v, key, lambda: self.writer)
        with op:
            started = time.monotonic()
            try:
                conn = link.get()
            except NoConnection as e:
                op.fail(e)
                return
            try:
                conn.write(key, value)
            except (NoConnection, Rejected) as e:
                op.fail(e)
                return
            except Exception as e:
                op.info(e)  # it may have taken effect before the error reached us
                return
        run.note_write_latency(time.monotonic() - started)
        self.last_write = time.monotonic()
        if run.routing.kind == "wait-for-lsn":
            try:
                self.pos, self.stale_pos = conn.position(), False
            except Exception:
                self.stale_pos = True  # the next read asks for a fresh (later, so safe) position

    def read(self, key: str, link: Link | None = None, wait: float | None = None) -> None:
        """Read ``key`` on ``link`` (by default where the routing sends it); on a follower,
        first wait (up to ``wait`` seconds, by default under wait-for-lsn only) until it
        has applied this client's last write."""
        run = self.run
        if wait is None and run.routing.kind == "wait-for-lsn":
            wait = run.timeout
        f, v = run.shape_read(key, None, done=False)
        link, op = self._invoke(f, v, key, lambda: link or self.route(), read_only=True)
        with op:
            try:
                if wait is not None and link.name in run.followers:
                    self.wait_for_apply(link, wait)
                value = link.get().read(key)
            except Exception as e:  # a read changes nothing, so an error is a plain fail
                op.fail(e)
                return
            with run.lock:
                self.tally[link.name] += 1
            op.ok(run.shape_read(key, value)[1])

    def wait_for_apply(self, follower: Link, wait: float) -> None:
        if self.stale_pos:
            self.pos, self.stale_pos = self.writer.get().position(), False
        if self.pos is None:
            return
        started = time.monotonic()
        conn = follower.get()
        while not conn.applied(self.pos):
            if time.monotonic() > started + wait:
                raise TimeoutError(f"{follower.name} did not apply {self.pos} within {wait:g} s")
            time.sleep(0.002)
        with self.run.lock:
            self.waits.append(time.monotonic() - started)

    def final_reads(self, quiet: float) -> None:
        """Once every client has stopped: wait until every node still following the
        writer has applied the writer's last position and ``quiet`` seconds have passed,
        then read each row on each node. Durability and convergence are judged on
        these reads (the history's ``quiet_period`` sets them apart)."""
        run = self.run
        stopped = time.monotonic()
        self.stale_pos, self.tally, self.waits = True, run.final_reads, []
        followers = [self.links[name] for name in run.followers]
        if run.adapter.positions:
            for follower in followers:
                try:
                    self.wait_for_apply(follower, SETUP_TIMEOUT)
                except Exception as e:  # read anyway: a follower that never catches up is news
                    run.crashed.append(run.adapter.redact(f"final reads: {follower.name}: {first_line(e)}"))
        time.sleep(max(0.0, stopped + quiet - time.monotonic()))
        keys = run.used_keys()
        for link in [self.writer, *followers]:
            for key in keys:
                self.read(key, link)
        self.close()


@dataclass(eq=False)
class Run:
    """What the clients share: the settings, the op budget, the recorder, the tallies."""

    recorder: Recorder
    adapter: Adapter
    routing: Routing
    workload: str
    clients: int
    ops: int
    keys: int
    max_writes_per_key: int
    read_ratio: float
    think_ms: float
    seed: int
    timeout: float
    progress: Callable[[int, int], None] | None = None
    writer: str = "primary"  # the node taking writes; a failover moves it
    started: int = 0
    interrupted: bool = False  # Ctrl-C: clients finish the operation in hand and stop
    waits: list[float] = field(default_factory=list)
    write_latencies: list[float] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)  # the clients have stopped

    def __post_init__(self) -> None:
        nodes = list(self.adapter.dsns)
        self.writer = self.adapter.writer
        self.followers = [name for name in nodes if name != self.writer]  # those following the writer
        self.reads = dict.fromkeys(nodes, 0)
        self.final_reads = dict.fromkeys(nodes, 0)
        # Elle's key rotation: a row that has taken max_writes_per_key writes retires and
        # a fresh one takes its slot, so reads (whole lists) stay short however long the run
        self.active = list(range(self.keys))  # slot -> key number
        self.writes_to: dict[int, int] = {}
        self.next_key = self.keys

    # The history's shapes: Elle's one-micro-op transactions for list-append (which both
    # the linearizability and the consistency checkers read), keyed registers otherwise.
    def shape_write(self, key: str, value: int) -> tuple[str, Any]:
        if self.workload == "list-append":
            return "txn", [["append", key, value]]
        return "write", value

    def shape_read(self, key: str, value: Any, done: bool = True) -> tuple[str, Any]:
        if self.workload == "list-append":
            # a row not written yet is an empty list: say so, rather than nil, which
            # Knossos's rule (--nil-read unknown) would take as "read nothing"
            return "txn", [["r", key, (list(value) if value else []) if done else None]]
        return "read", value

    def key_field(self, key: str) -> str | None:
        return None if self.workload == "list-append" else key

    def key_in(self, slot: int) -> str:
        with self.lock:
            return f"u{self.active[slot]}"

    def key_to_write(self, slot: int) -> str:
        """The key in ``slot``, counting this write; its last write retires it."""
        with self.lock:
            k = self.active[slot]
            self.writes_to[k] = self.writes_to.get(k, 0) + 1
            if self.writes_to[k] >= self.max_writes_per_key:
                self.active[slot], self.next_key = self.next_key, self.next_key + 1
            return f"u{k}"

    def used_keys(self) -> list[str]:
        return [f"u{k}" for k in range(self.next_key)]

    def take(self) -> bool:
        with self.lock:  # the progress bar too: it draws from whichever thread calls
            if self.started >= self.ops or self.interrupted:
                return False
            self.started += 1
            if self.progress:
                self.progress(self.started, self.ops)
        return True

    def note_write_latency(self, seconds: float) -> None:
        with self.lock:
            self.write_latencies.append(seconds)

    def fail_over(self, writer: str, followers: Sequence[str]) -> None:
        """From the next operation on, writes go to ``writer`` and follower reads to
        ``followers`` (a nemesis calls this once it has promoted a replica)."""
        with self.lock:
            self.writer, self.followers = writer, list(followers)


class Nemesis:
    """What a fault function gets: the clock since the clients started, the recorder's
    nemesis events, the run (to fail it over) and ``report`` (into the summary)."""

    def __init__(self, run: Run, started: float):
        self.run, self.started = run, started
        self.report: dict[str, Any] = {}

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    def wait_until(self, seconds: float) -> bool:
        """Sleep until ``seconds`` after the start; False when the clients finished first."""
        return not self.run.done.wait(max(0.0, self.started + seconds - time.monotonic()))

    def sleep(self, seconds: float) -> bool:
        return not self.run.done.wait(seconds)

    def fault(self, f: str, value: Any = None) -> float:
        """Record the fault as a nemesis event now; returns when, in ms since the start."""
        self.run.recorder.fault(f, value)
        return self.elapsed_ms()


NemesisFn = Callable[[Nemesis], None]


def _open_out(out: str) -> str:
    """A temporary file beside ``out`` (so an unwritable path fails before any server is
    touched, and an existing ``out`` survives a run that cannot start)."""
    d = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{os.path.basename(out)}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def record(
    adapter: Adapter,
    out: str,
    *,
    routing: str = "replica",
    clients: int = 8,
    ops: int = 5000,
    keys: int = 8,
    max_writes_per_key: int = 128,
    read_ratio: float = 0.5,
    think_ms: float = 0.0,
    seed: int = 0,
    durable: bool = False,
    nemesis: NemesisFn | None = None,
    nemesis_name: str = "nemesis",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run the workload against ``adapter``'s nodes and write its history to ``out``;
    returns a summary (plain data). The history goes to a temporary file that replaces
    ``out`` only once every server has been reached and set up. Raises RecordError
    (passwords redacted) when the run cannot start."""
    route = Routing.parse(routing)
    workload = adapter.workload
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}")
    tmp = _open_out(out)
    try:
        try:
            facts = adapter.prepare()
        except RecordError as e:
            raise RecordError(adapter.redact(str(e))) from None
        source = (
            f"replicheck record {adapter.system} --routing {route} --workload {workload} "
            f"--clients {clients} --ops {ops} --keys {keys} --max-writes-per-key {max_writes_per_key} "
            f"--read-ratio {read_ratio:g} --think-ms {think_ms:g} --seed {seed}" + adapter.source_args()
        )
        meta: dict[str, Any] = {
            "spec": workload,
            "nil_read": "absent",
            "source": source,
            # wall-clock start, to line the history (monotonic ns from 0) up with server logs
            "recorded": {
                "system": adapter.system,
                "routing": str(route),
                "seed": seed,
                "started_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                **facts,
            },
        }
        if workload == "register":
            meta["init"] = None  # the rows start absent
        # The final reads wait this long after the clients stop (and for the followers to
        # catch up): reads before it fall in the replication lag, so convergence and
        # durability are judged on the final reads alone (check's default --quiet-period).
        quiet_ms = adapter.quiet_ms(facts)
        meta["quiet_period"] = int(quiet_ms * 1_000_000)  # the history's unit: ns
        recorder = Recorder(tmp, meta=meta, durable=durable, scrub=adapter.redact)
        os.replace(tmp, out)  # connected and set up: now the run may replace the old file
    except BaseException:
        os.unlink(tmp)
        raise
    started = time.monotonic()
    with recorder:
        run = Run(
            recorder,
            adapter,
            route,
            workload,
            clients,
            ops,
            keys,
            max_writes_per_key,
            read_ratio,
            think_ms,
            seed,
            adapter.timeout,
            progress,
        )
        workers = [Client(run, f"c{i}", i) for i in range(clients)]
        threads = [
            threading.Thread(target=w.loop, name=f"replicheck-c{w.index}", daemon=True) for w in workers
        ]
        fault = Nemesis(run, started)
        if nemesis is not None:

            def inject() -> None:
                try:
                    nemesis(fault)
                except Exception as e:  # the run goes on; the summary says what went wrong
                    fault.report["error"] = adapter.redact(first_line(e))

            nemesis_thread = threading.Thread(target=inject, name="replicheck-nemesis", daemon=True)
            nemesis_thread.start()
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:
            run.interrupted = True
            for t in threads:  # each in-flight operation ends within the timeout
                t.join()
        run.done.set()
        clients_seconds = time.monotonic() - started
        if nemesis is not None:
            nemesis_thread.join()
        Client(run, "final", "final").final_reads(quiet_ms / 1000)
        counts = recorder.close()
    summary = {
        "out": out,
        "system": adapter.system,
        "seed": seed,
        "routing": str(route),
        "workload": workload,
        "clients": clients,
        "operations": counts["invoke"],
        "ok": counts["ok"],
        "fail": counts["fail"],
        "info": counts["info"],
        "never_completed": counts["pending"],
        "reads": dict(run.reads),
        "final_reads": dict(run.final_reads),
        "keys_used": run.next_key,
        "seconds": round(clients_seconds, 3),  # the clients' run; the final reads come after
        "final_seconds": round(time.monotonic() - started - clients_seconds, 3),
        "clients_stopped": list(run.crashed),
        "interrupted": run.interrupted,
        **facts,
    }
    if nemesis is not None:
        summary[nemesis_name] = dict(fault.report)
    if run.write_latencies:
        lat = sorted(run.write_latencies)
        summary["write_ms"] = {
            "acknowledged": len(lat),
            "p50": round(lat[len(lat) // 2] * 1000, 2),
            "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
            "max": round(lat[-1] * 1000, 2),
        }
    if run.waits:
        summary["replay_wait_ms"] = {
            "reads_waited": len(run.waits),
            "median": round(statistics.median(run.waits) * 1000, 1),
            "max": round(max(run.waits) * 1000, 1),
        }
    return summary
