"""A PostgreSQL workload: clients write per-user rows on the primary and read them back
through a read routing, recording the history with :class:`~.recorder.Recorder`.

The rows (table ``replicheck_rows`` unless told otherwise, dropped and recreated at the
start) hold a register (``value bigint``) and a list (``elems bigint[]``) per user;
a row retires after ``max_writes_per_key`` writes, as in Elle, so lists stay short.
Every written value is unique, so a read names exactly the writes it saw. Reads go where
the routing says:

- ``primary``: always the primary.
- ``replica``: always a replica (one at random per read when there are several), the
  usual way to scale reads, and the usual way for a user to miss their own write while
  the replica lags, or to see a row go back in time when the next read hits another.
- ``pin-after-write:<ms>``: the primary for ``ms`` after the client's last write, the
  replica otherwise. Fixes read-your-writes only while the lag stays under ``ms``.
- ``wait-for-lsn``: the replica, after it has replayed the WAL position the primary
  reported right after the client's last commit (``pg_current_wal_lsn()`` against
  ``pg_last_wal_replay_lsn()``). The position is read *after* the commit returns (a
  position read inside the transaction may precede its commit record), and the row is
  read by a fresh statement *after* the wait (a standby statement's snapshot is taken
  when it starts).

When the clients stop, a ``final`` session reads every row on each server, and with a
failover (``_failover``) every client moves to the promoted replica.

Every error is recorded, never dropped: a write that errs or times out is ``info`` (it
may have committed), a read that errs is ``fail`` (a read changes nothing), and an
operation that could not even reach the server (no connection) is ``fail``.
"""

from __future__ import annotations

import math
import random
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .recorder import Recorder, Session

WORKLOADS = ("list-append", "register")
ROUTINGS = ("primary", "replica", "pin-after-write:<ms>", "wait-for-lsn")
SETUP_TIMEOUT = 30.0  # seconds for the replica to replay the freshly created table
FINAL_QUIET_MS = 500  # beyond the largest replay delay, before the final reads


class PostgresError(Exception):
    """The run cannot start or go on (cannot connect, replica not a standby...)."""


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


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise PostgresError(
            "recording from PostgreSQL needs psycopg: pip install 'replicheck[postgres]'"
        ) from None
    return psycopg


class NoConnection(Exception):
    """The statement never reached the server, so the operation certainly failed."""


class _Link:
    """One client's connection to one server, reopened after it breaks."""

    def __init__(self, dsn: str, name: str, timeout: float):
        self.dsn, self.name, self.timeout = dsn, name, timeout
        self.conn: Any = None

    def get(self) -> Any:
        if self.conn is None or self.conn.closed or self.conn.broken:
            psycopg = _psycopg()
            try:
                self.conn = _connect(psycopg, self.dsn, self.timeout)
            except psycopg.Error as e:
                self.conn = None
                raise NoConnection(f"cannot connect to the {self.name}: {_first_line(e)}") from None
        return self.conn

    def one(self, sql: Any, args: tuple = ()) -> Any:
        row = self.get().execute(sql, args).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _connect(psycopg: Any, dsn: str, timeout: float, name: str = "replicheck") -> Any:
    ms = max(1, int(timeout * 1000))
    # application_name lets an operator (or a test injecting faults) find our sessions
    return psycopg.connect(
        dsn,
        autocommit=True,
        connect_timeout=max(1, math.ceil(timeout)),
        application_name=name,
        options=f"-c statement_timeout={ms}",
    )


def _redact(dsn: str) -> str:
    """The DSN for an error message, without its password (key=value or URL form)."""
    dsn = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class _Client:
    """One closed-loop client: think, pick a user row, write it or read it back."""

    def __init__(self, run: _Run, name: str, index: Any):
        self.run = run
        self.rng = random.Random(f"{run.seed}/{index}")  # each client its own draws from the seed
        self.index = index  # also makes its written values unique
        self.written = 0
        self.session: Session = run.recorder.session(name)
        self.links = {node: _Link(dsn, node, run.timeout) for node, dsn in run.dsns.items()}
        self.last_write = -math.inf  # monotonic seconds when the last write returned
        self.lsn: str | None = None  # the writer's WAL position after the last write
        self.stale_lsn = False  # a write returned but its position is unknown
        self.tally, self.waits = run.reads, run.waits  # reads per server, replay waits

    @property
    def writer(self) -> _Link:
        return self.links[self.run.writer]

    def loop(self) -> None:
        try:
            while self.run.take():
                if self.run.think_ms:
                    time.sleep(self.rng.expovariate(1000.0 / self.run.think_ms))
                slot = self.rng.randrange(self.run.keys)
                if self.rng.random() < self.run.read_ratio:
                    self.read(self.run.key_in(slot), self.route())
                else:
                    self.written += 1
                    self.write(self.run.key_to_write(slot), self.index + self.run.clients * self.written)
        except BaseException as e:  # recorded for the summary; the other clients go on
            self.run.crashed.append(f"client {self.session.name}: {_first_line(e)}")
        finally:
            self.close()

    def close(self) -> None:
        for link in self.links.values():
            link.close()

    def route(self) -> _Link:
        run = self.run
        kind = run.routing.kind
        if run.writer != "primary" or not run.replicas:
            return self.writer  # failed over: the promoted replica is all there is
        if kind == "primary" or (
            kind == "pin-after-write" and (time.monotonic() - self.last_write) * 1000 < run.routing.pin_ms
        ):
            return self.writer
        return self.links[self.rng.choice(run.replicas)]

    def write(self, key: str, value: int) -> None:
        run = self.run
        f, v = run.shape_write(key, value)
        link = self.writer
        with self.session.op(f, v, key=run.key_field(key), node=link.name) as op:
            try:
                conn = link.get()
            except NoConnection as e:
                op.fail(e)
                return
            try:
                conn.execute(run.write_sql, (key, value))
            except Exception as e:
                op.info(e)  # it may have committed before the error reached us
                return
        self.last_write = time.monotonic()
        if run.routing.kind == "wait-for-lsn":
            try:
                self.lsn, self.stale_lsn = link.one("SELECT pg_current_wal_lsn()::text"), False
            except Exception:
                self.stale_lsn = True  # the next read asks for a fresh (later, so safe) position

    def read(self, key: str, link: _Link, wait: float | None = None) -> None:
        """Read ``key`` on ``link``; on a replica, first wait (up to ``wait`` seconds, by
        default under wait-for-lsn only) until it has replayed this client's last write."""
        run = self.run
        if wait is None and run.routing.kind == "wait-for-lsn":
            wait = run.timeout
        f, v = run.shape_read(key, None, done=False)
        with self.session.op(f, v, key=run.key_field(key), node=link.name, read_only=True) as op:
            try:
                if wait is not None and link.name in run.replicas and run.writer == "primary":
                    self.wait_for_replay(link, wait)
                value = link.one(run.read_sql, (key,))
            except Exception as e:  # a read changes nothing, so an error is a plain fail
                op.fail(e)
                return
            with run.lock:
                self.tally[link.name] += 1
            op.ok(run.shape_read(key, value)[1])

    def wait_for_replay(self, replica: _Link, wait: float) -> None:
        if self.stale_lsn:
            self.lsn, self.stale_lsn = self.writer.one("SELECT pg_current_wal_lsn()::text"), False
        if self.lsn is None:
            return
        started = time.monotonic()
        while not replica.one("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (self.lsn,)):
            if time.monotonic() > started + wait:
                raise TimeoutError(f"{replica.name} did not replay {self.lsn} within {wait:g} s")
            time.sleep(0.002)
        with self.run.lock:
            self.waits.append(time.monotonic() - started)

    def final_reads(self, quiet: float) -> None:
        """Once every client has stopped: wait until every server still following the
        writer has replayed the writer's last position and ``quiet`` seconds have passed,
        then read each row on each server. Durability and convergence are judged on
        these reads (the history's ``quiet_period`` sets them apart)."""
        run = self.run
        stopped = time.monotonic()
        self.stale_lsn, self.tally, self.waits = True, run.final_reads, []
        followers = [self.links[name] for name in run.replicas] if run.writer == "primary" else []
        for replica in followers:
            try:
                self.wait_for_replay(replica, SETUP_TIMEOUT)
            except Exception as e:  # read anyway: a replica that never catches up is news
                run.crashed.append(f"final reads: {replica.name}: {_first_line(e)}")
        time.sleep(max(0.0, stopped + quiet - time.monotonic()))
        keys = run.used_keys()
        for link in [self.writer, *followers]:
            for key in keys:
                self.read(key, link)
        self.close()


@dataclass(eq=False)
class _Run:
    """What the clients share: the settings, the op budget, the recorder, the tallies."""

    recorder: Recorder
    dsns: dict[str, str]  # node name (primary, replica, replica2...) -> DSN
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
    table: str
    progress: Callable[[int, int], None] | None = None
    writer: str = "primary"  # the server taking writes: "replica" once it is promoted
    started: int = 0
    interrupted: bool = False  # Ctrl-C: clients finish the operation in hand and stop
    failover: dict[str, Any] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)  # the clients have stopped

    def __post_init__(self) -> None:
        from psycopg import sql  # present: prepare() has already connected

        self.replicas = [name for name in self.dsns if name != "primary"]
        self.reads = dict.fromkeys(self.dsns, 0)
        self.final_reads = dict.fromkeys(self.dsns, 0)
        # Elle's key rotation: a row that has taken max_writes_per_key writes retires and
        # a fresh one takes its slot, so reads (whole lists) stay short however long the run
        self.active = list(range(self.keys))  # slot -> key number
        self.writes_to: dict[int, int] = {}
        self.next_key = self.keys
        t = sql.Identifier(self.table)
        if self.workload == "list-append":
            # an upsert: a fresh key's row comes with its first write
            self.write_sql = sql.SQL(
                "INSERT INTO {} AS t (id, elems) VALUES (%s, ARRAY[%s]::bigint[]) "
                "ON CONFLICT (id) DO UPDATE SET elems = t.elems || EXCLUDED.elems"
            ).format(t)
            self.read_sql = sql.SQL("SELECT elems FROM {} WHERE id = %s").format(t)
        else:
            self.write_sql = sql.SQL(
                "INSERT INTO {} AS t (id, value) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value"
            ).format(t)
            self.read_sql = sql.SQL("SELECT value FROM {} WHERE id = %s").format(t)

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
            return "txn", [["r", key, (value or []) if done else None]]
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


def replica_names(n: int) -> list[str]:
    """The history's names for the replicas: replica, replica2, replica3..."""
    return ["replica" if i == 0 else f"replica{i + 1}" for i in range(n)]


def prepare(dsns: dict[str, str], table: str, timeout: float) -> dict:
    """Recreate the (empty) table on the primary, wait until every replica
    has replayed it, and describe the servers. Raises PostgresError when it cannot."""
    psycopg = _psycopg()
    from psycopg import sql

    def connect(dsn: str, name: str) -> Any:
        try:  # the workload's --timeout is for its operations, not for creating a table
            return _connect(psycopg, dsn, max(timeout, SETUP_TIMEOUT), "replicheck-setup")
        except psycopg.Error as e:
            raise PostgresError(f"cannot connect to the {name} ({_redact(dsn)}): {_first_line(e)}") from None

    facts: dict[str, Any] = {}
    primary = dsns["primary"]
    with connect(primary, "primary") as p:
        if p.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise PostgresError(
                f"the primary ({_redact(primary)}) is a standby: give the server that takes writes"
            )
        facts["server_version"] = p.execute("SHOW server_version").fetchone()[0]
        t = sql.Identifier(table)
        try:
            with p.transaction():
                p.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
                p.execute(
                    sql.SQL(
                        "CREATE TABLE {} (id text PRIMARY KEY, value bigint, "
                        "elems bigint[] NOT NULL DEFAULT '{{}}')"
                    ).format(t)
                )
        except psycopg.Error as e:
            raise PostgresError(f"cannot create table {table} on the primary: {_first_line(e)}") from None
        lsn = p.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    delays = {}
    for name, dsn in dsns.items():
        if name == "primary":
            continue
        with connect(dsn, name) as r:
            if not r.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise PostgresError(
                    f"the {name} ({_redact(dsn)}) is not a standby (pg_is_in_recovery() is false)"
                )
            delays[name] = r.execute(  # in ms, pg_settings' unit for it
                "SELECT setting::int FROM pg_settings WHERE name = 'recovery_min_apply_delay'"
            ).fetchone()[0]
            deadline = time.monotonic() + SETUP_TIMEOUT
            while not r.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"the {name} did not replay the new table within {SETUP_TIMEOUT:g} s: is it "
                        "streaming from this primary?"
                    )
                time.sleep(0.01)
    if delays:
        facts["replay_delay_ms"] = delays
    return facts


def _failover(run: _Run, after: float, gap: float, started: float) -> None:
    """The nemesis: at ``after`` seconds cut the replica off the primary's WAL stream,
    let the primary acknowledge writes alone for ``gap`` seconds, then promote the
    replica and send every client's next operation to it — a failover of asynchronous
    replication. Each step is recorded as a nemesis event; what it cost, the checker says
    (``--consistency durability``: acknowledged writes the new primary never had)."""
    psycopg = _psycopg()
    if run.done.wait(max(0.0, started + after - time.monotonic())):
        run.failover["error"] = "the clients finished before the failover was due"
        return
    try:
        with _connect(psycopg, run.dsns["replica"], SETUP_TIMEOUT, "replicheck-nemesis") as r:
            run.recorder.fault("stop-replication", "replica")
            run.failover["cut_at_ms"] = round((time.monotonic() - started) * 1000, 1)
            # primary_conninfo is reloadable: emptied, the WAL receiver stops for good
            r.execute("ALTER SYSTEM SET primary_conninfo = ''")
            r.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + SETUP_TIMEOUT
            while r.execute("SELECT count(*) FROM pg_stat_wal_receiver").fetchone()[0]:
                if time.monotonic() > deadline:
                    raise PostgresError(f"the replica's WAL receiver did not stop within {SETUP_TIMEOUT:g} s")
                time.sleep(0.01)
            run.done.wait(gap)
            run.recorder.fault("promote", "replica")
            if not r.execute("SELECT pg_promote(true, 60)").fetchone()[0]:
                raise PostgresError("pg_promote() on the replica did not finish within 60 s")
            with run.lock:
                run.writer = "replica"
            run.failover["promoted_at_ms"] = round((time.monotonic() - started) * 1000, 1)
    except (psycopg.Error, PostgresError) as e:
        run.failover["error"] = _first_line(e)


def record_postgres(
    out: str,
    *,
    primary: str,
    replicas: Sequence[str] = (),
    routing: str = "replica",
    workload: str = "list-append",
    clients: int = 8,
    ops: int = 5000,
    keys: int = 8,
    max_writes_per_key: int = 128,
    read_ratio: float = 0.5,
    think_ms: float = 0.0,
    seed: int = 0,
    timeout: float = 5.0,
    table: str = "replicheck_rows",
    durable: bool = False,
    failover_after_ms: float | None = None,
    failover_gap_ms: float = 200.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run the workload and write its history to ``out``; returns a summary (plain data).

    ``replicas``: DSNs of streaming replicas (named replica, replica2... in the history),
    reads going to one at random; none only with ``routing="primary"``.
    ``failover_after_ms``: fail over to the first replica (see ``_failover``); it leaves
    that replica promoted and cut off,
    so start a fresh cluster after. Once the clients stop, every row is read on each
    server (``_Client.final_reads``). Raises PostgresError when the run cannot start: a
    server unreachable, the replica not a standby, the table not replicated in time.
    """
    route = Routing.parse(routing)
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}")
    replicas = list(replicas)
    if not replicas and (route.kind != "primary" or failover_after_ms is not None):
        raise ValueError(
            f"{'failover' if failover_after_ms is not None else f'routing {route}'} needs a replica "
            "(--replica DSN)"
        )
    open(out, "w").close()  # an unwritable path fails here, before the table is replaced
    dsns = {"primary": primary, **dict(zip(replica_names(len(replicas)), replicas))}
    facts = prepare(dsns, table, timeout)
    source = (
        f"replicheck record postgres --routing {route} --workload {workload} --clients {clients} "
        f"--ops {ops} --keys {keys} --max-writes-per-key {max_writes_per_key} "
        f"--read-ratio {read_ratio:g} --think-ms {think_ms:g} --seed {seed}"
    )
    if failover_after_ms is not None:
        source += f" --failover-after {failover_after_ms:g} --failover-gap {failover_gap_ms:g}"
    meta: dict[str, Any] = {
        "spec": workload,
        "nil_read": "absent",
        "source": source,
        # wall-clock start, to line the history (monotonic ns from 0) up with server logs
        "recorded": {
            "system": "postgres",
            "routing": str(route),
            "seed": seed,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            **facts,
        },
    }
    if workload == "register":
        meta["init"] = None  # the rows start with value NULL
    # The final reads wait this long after the clients stop (and for the replicas to
    # catch up): reads before it fall in the replication lag, so convergence and
    # durability are judged on the final reads alone (check's default --quiet-period).
    quiet_ms = max(facts.get("replay_delay_ms", {}).values(), default=0) + FINAL_QUIET_MS
    meta["quiet_period"] = int(quiet_ms * 1_000_000)  # the history's unit: ns
    started = time.monotonic()
    with Recorder(out, meta=meta, durable=durable) as recorder:
        run = _Run(
            recorder,
            dsns,
            route,
            workload,
            clients,
            ops,
            keys,
            max_writes_per_key,
            read_ratio,
            think_ms,
            seed,
            timeout,
            table,
            progress,
        )
        workers = [_Client(run, f"c{i}", i) for i in range(clients)]
        threads = [
            threading.Thread(target=w.loop, name=f"replicheck-c{w.index}", daemon=True) for w in workers
        ]
        if failover_after_ms is not None:
            nemesis = threading.Thread(
                target=_failover,
                name="replicheck-nemesis",
                daemon=True,
                args=(run, failover_after_ms / 1000, failover_gap_ms / 1000, started),
            )
            nemesis.start()
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:
            run.interrupted = True
            for t in threads:  # each in-flight operation ends within --timeout
                t.join()
        run.done.set()
        clients_seconds = time.monotonic() - started
        if failover_after_ms is not None:
            nemesis.join()
        _Client(run, "final", "final").final_reads(quiet_ms / 1000)
        counts = recorder.close()
    summary = {
        "out": out,
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
    if failover_after_ms is not None:
        summary["failover"] = dict(run.failover)
    if run.waits:
        summary["replay_wait_ms"] = {
            "reads_waited": len(run.waits),
            "median": round(statistics.median(run.waits) * 1000, 1),
            "max": round(max(run.waits) * 1000, 1),
        }
    return summary
