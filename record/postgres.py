"""PostgreSQL as a :mod:`.driver` adapter: per-user rows on a primary and streaming
replicas, and a failover nemesis.

The rows (table ``replicheck_rows`` unless told otherwise, dropped and recreated at the
start) hold a register (``value bigint``) and a list (``elems bigint[]``) per user.
Writes are upserts on the primary. Under ``wait-for-lsn`` the position is
``pg_current_wal_lsn()`` read on the primary right after the client's commit returns (a
position read inside the transaction may precede its commit record), and a replica has
applied it once ``pg_last_wal_replay_lsn()`` has passed it; the row is then read by a
fresh statement (a standby statement's snapshot is taken when it starts).

The failover (``failover``) cuts the replica off the primary's WAL stream, lets the
primary acknowledge writes alone for a gap, then promotes the replica and sends every
client to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from .driver import (
    ROUTINGS,
    SETUP_TIMEOUT,
    WORKLOADS,
    Adapter,
    Conn,
    Nemesis,
    NoConnection,
    RecordError,
    Routing,
    first_line,
    record,
    replica_names,
)
from .secrets import Redactor

__all__ = ["ROUTINGS", "WORKLOADS", "PostgresError", "Routing", "record_postgres"]


class PostgresError(RecordError):
    """The run cannot start or go on (cannot connect, replica not a standby...)."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise PostgresError(
            "recording from PostgreSQL needs psycopg: pip install 'replicheck[postgres]'"
        ) from None
    return psycopg


SYNC_MODES = ("off", "local", "remote_write", "on", "remote_apply")


def _connect(
    psycopg: Any, dsn: str, timeout: float, name: str = "replicheck", synchronous_commit: str | None = None
) -> Any:
    ms = max(1, int(timeout * 1000))
    options = f"-c statement_timeout={ms}"
    if synchronous_commit:  # a session setting: one cluster serves every mode
        options += f" -c synchronous_commit={synchronous_commit}"
    # application_name lets an operator (or a test injecting faults) find our sessions
    return psycopg.connect(
        dsn,
        autocommit=True,
        connect_timeout=max(1, math.ceil(timeout)),
        application_name=name,
        options=options,
    )


def _redact(dsn: str) -> str:
    """The DSN for an error message, without its password (key=value or URL form)."""
    return Redactor([dsn]).dsn(dsn)


class _PgConn(Conn):
    def __init__(self, adapter: PostgresAdapter, conn: Any):
        self.adapter, self.conn = adapter, conn

    def usable(self) -> bool:
        return not (self.conn.closed or self.conn.broken)

    def _one(self, sql: Any, args: tuple = ()) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def write(self, key: str, value: int) -> None:
        self.conn.execute(self.adapter.write_sql, (key, value))

    def read(self, key: str) -> Any:
        return self._one(self.adapter.read_sql, (key,))

    def position(self) -> Any:
        return self._one("SELECT pg_current_wal_lsn()::text")

    def applied(self, position: Any) -> bool:
        return bool(self._one("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (position,)))

    def close(self) -> None:
        self.conn.close()


class PostgresAdapter(Adapter):
    system = "postgres"
    label = "PostgreSQL"

    def __init__(
        self,
        dsns: dict[str, str],
        *,
        workload: str,
        timeout: float,
        table: str,
        synchronous_commit: str | None = None,
    ):
        super().__init__(dsns, workload=workload, timeout=timeout, table=table)
        if synchronous_commit is not None and synchronous_commit not in SYNC_MODES:
            raise ValueError(f"synchronous_commit must be one of {', '.join(SYNC_MODES)}")
        self.synchronous_commit = synchronous_commit
        self.psycopg = _psycopg()
        from psycopg import sql

        t = sql.Identifier(table)
        if workload == "list-append":
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

    def connect(self, node: str) -> Conn:
        try:
            conn = _connect(
                self.psycopg, self.dsns[node], self.timeout, synchronous_commit=self.synchronous_commit
            )
            return _PgConn(self, conn)
        except self.psycopg.Error as e:
            raise NoConnection(self.redact(f"cannot connect to the {node}: {first_line(e)}")) from None

    def prepare(self) -> dict:
        """Recreate the (empty) table on the primary, wait until every replica has
        replayed it, and describe the servers. Raises PostgresError when it cannot."""
        psycopg = self.psycopg
        from psycopg import sql

        def connect(dsn: str, name: str) -> Any:
            try:  # the workload's --timeout is for its operations, not for creating a table
                return _connect(psycopg, dsn, max(self.timeout, SETUP_TIMEOUT), "replicheck-setup")
            except psycopg.Error as e:
                raise PostgresError(
                    f"cannot connect to the {name} ({self.redact.dsn(dsn)}): {first_line(e)}"
                ) from None

        facts: dict[str, Any] = {}
        primary = self.dsns["primary"]
        table = self.table
        with connect(primary, "primary") as p:
            if p.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise PostgresError(
                    f"the primary ({self.redact.dsn(primary)}) is a standby: "
                    "give the server that takes writes"
                )
            facts["server_version"] = p.execute("SHOW server_version").fetchone()[0]
            facts["synchronous_commit"] = (
                self.synchronous_commit or p.execute("SHOW synchronous_commit").fetchone()[0]
            )
            sync_names = p.execute("SHOW synchronous_standby_names").fetchone()[0]
            if sync_names:
                facts["synchronous_standby_names"] = sync_names
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
                raise PostgresError(f"cannot create table {table} on the primary: {first_line(e)}") from None
            lsn = p.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        delays = {}
        for name, dsn in self.dsns.items():
            if name == "primary":
                continue
            with connect(dsn, name) as r:
                if not r.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    raise PostgresError(
                        f"the {name} ({self.redact.dsn(dsn)}) is not a standby (pg_is_in_recovery() is false)"
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


def failover(after: float, gap: float) -> Callable[[Nemesis], None]:
    """The nemesis: at ``after`` seconds cut the replica off the primary's WAL stream,
    let the primary acknowledge writes alone for ``gap`` seconds, then promote the
    replica and send every client's next operation to it — a failover of asynchronous
    replication. Each step is recorded as a nemesis event; what it cost, the checker says
    (``--consistency durability``: acknowledged writes the new primary never had)."""

    def run(n: Nemesis) -> None:
        adapter = n.run.adapter
        assert isinstance(adapter, PostgresAdapter)
        psycopg = adapter.psycopg
        if not n.wait_until(after):
            n.report["error"] = "the clients finished before the failover was due"
            return
        try:
            with _connect(psycopg, adapter.dsns["replica"], SETUP_TIMEOUT, "replicheck-nemesis") as r:
                n.report["cut_at_ms"] = n.fault("stop-replication", "replica")
                # primary_conninfo is reloadable: emptied, the WAL receiver stops for good
                r.execute("ALTER SYSTEM SET primary_conninfo = ''")
                r.execute("SELECT pg_reload_conf()")
                deadline = time.monotonic() + SETUP_TIMEOUT
                while r.execute("SELECT count(*) FROM pg_stat_wal_receiver").fetchone()[0]:
                    if time.monotonic() > deadline:
                        raise PostgresError(
                            f"the replica's WAL receiver did not stop within {SETUP_TIMEOUT:g} s"
                        )
                    time.sleep(0.01)
                n.sleep(gap)
                n.fault("promote", "replica")
                if not r.execute("SELECT pg_promote(true, 60)").fetchone()[0]:
                    raise PostgresError("pg_promote() on the replica did not finish within 60 s")
                n.run.fail_over("replica", [])
                n.report["promoted_at_ms"] = n.elapsed_ms()
        except (psycopg.Error, PostgresError) as e:
            n.report["error"] = adapter.redact(first_line(e))

    return run


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
    synchronous_commit: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run the workload and write its history to ``out``; returns a summary (plain data).

    ``replicas``: DSNs of streaming replicas (named replica, replica2... in the history),
    reads going to one at random; none only with ``routing="primary"``.
    ``synchronous_commit``: the clients' session setting (off, local, remote_write, on,
    remote_apply); it matters where the primary has ``synchronous_standby_names``.
    ``failover_after_ms``: fail over to the first replica (see ``failover``); it leaves
    that replica promoted and cut off, so start a fresh cluster after. Raises
    PostgresError when the run cannot start: a server unreachable, the replica not a
    standby, the table not replicated in time.
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
    dsns = {"primary": primary, **dict(zip(replica_names(len(replicas)), replicas))}
    adapter = PostgresAdapter(
        dsns, workload=workload, timeout=timeout, table=table, synchronous_commit=synchronous_commit
    )
    nemesis = None
    extra = f" --synchronous-commit {synchronous_commit}" if synchronous_commit else ""
    if failover_after_ms is not None:
        nemesis = failover(failover_after_ms / 1000, failover_gap_ms / 1000)
        extra += f" --failover-after {failover_after_ms:g} --failover-gap {failover_gap_ms:g}"
    adapter.source_args = lambda: extra  # type: ignore[method-assign]
    try:
        return record(
            adapter,
            out,
            routing=str(route),
            clients=clients,
            ops=ops,
            keys=keys,
            max_writes_per_key=max_writes_per_key,
            read_ratio=read_ratio,
            think_ms=think_ms,
            seed=seed,
            durable=durable,
            nemesis=nemesis,
            nemesis_name="failover",
            progress=progress,
        )
    except RecordError as e:
        if isinstance(e, PostgresError):
            raise
        raise PostgresError(str(e)) from None
