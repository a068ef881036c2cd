"""MariaDB as a :mod:`.driver` adapter: a primary and GTID replicas (asynchronous or
semi-synchronous), and two nemeses: kill the primary and promote a replica, as an
operator would; and pause a replica (SIGSTOP) to watch semi-sync fall back.

The rows live in ``DB.replicheck_rows`` (DB from the DSN's path, ``replicheck`` if none;
dropped and recreated at the start): a register ``value BIGINT`` and a list ``elems``
(space-separated integers) per user, written by upserts on the primary. A replication
position is the primary's ``@@gtid_binlog_pos`` read right after the write returns; a
replica has applied it once ``MASTER_GTID_WAIT(pos, 0)`` returns 0.

DSNs are URLs: ``mariadb://USER[:PASSWORD]@HOST:PORT/DB`` (``mysql://`` too), as
``scripts/mariadb-cluster.sh`` prints them. The nemeses signal server processes by the
pid in ``@@pid_file``, so they work only with servers on this machine.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from .driver import SETUP_TIMEOUT, Adapter, Conn, Nemesis, NoConnection, RecordError, first_line


def _pymysql() -> Any:
    try:
        import pymysql  # type: ignore[import-untyped]
    except ImportError:
        raise RecordError("recording from MariaDB needs PyMySQL: pip install 'replicheck[mariadb]'") from None
    return pymysql


def parse_dsn(dsn: str) -> dict[str, Any]:
    """``mariadb://user:password@host:port/db`` as PyMySQL's connect() arguments."""
    try:
        u = urlsplit(dsn)
        port = u.port
    except ValueError as e:
        raise RecordError(f"bad MariaDB DSN: {e}") from None
    if u.scheme not in ("mariadb", "mysql") or not u.hostname:
        raise RecordError("a MariaDB DSN looks like mariadb://USER[:PASSWORD]@HOST:PORT/DB")
    return {
        "host": u.hostname,
        "port": port or 3306,
        "user": unquote(u.username or "root"),
        "password": unquote(u.password or ""),
        "database": unquote(u.path.lstrip("/")) or "replicheck",
    }


class _MariaConn(Conn):
    def __init__(self, adapter: MariaDBAdapter, conn: Any):
        self.adapter, self.conn = adapter, conn

    def usable(self) -> bool:
        return bool(self.conn.open)

    def one(self, sql: str, args: tuple = ()) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
        return None if row is None else row[0]

    def write(self, key: str, value: int) -> None:
        self.one(
            self.adapter.write_sql, (key, value) if self.adapter.workload == "register" else (key, str(value))
        )

    def read(self, key: str) -> Any:
        value = self.one(self.adapter.read_sql, (key,))
        if self.adapter.workload == "list-append":
            return [int(x) for x in value.split()] if value else []
        return value

    def position(self) -> Any:
        return self.one("SELECT @@gtid_binlog_pos")

    def applied(self, position: Any) -> bool:
        return self.one("SELECT MASTER_GTID_WAIT(%s, 0)", (position,)) == 0

    def close(self) -> None:
        self.conn.close()


class MariaDBAdapter(Adapter):
    system = "mariadb"
    label = "MariaDB"

    def __init__(self, dsns: dict[str, str], *, workload: str, timeout: float, table: str):
        super().__init__(dsns, workload=workload, timeout=timeout, table=table)
        self.pymysql = _pymysql()
        try:
            self.params = {node: parse_dsn(dsn) for node, dsn in dsns.items()}
        except RecordError as e:
            raise RecordError(self.redact(str(e))) from None
        t = f"`{table.replace('`', '``')}`"
        if workload == "list-append":
            self.write_sql = (
                f"INSERT INTO {t} (id, elems) VALUES (%s, %s) "
                "ON DUPLICATE KEY UPDATE elems = CONCAT(elems, ' ', VALUES(elems))"
            )
            self.read_sql = f"SELECT elems FROM {t} WHERE id = %s"
        else:
            self.write_sql = (
                f"INSERT INTO {t} (id, value) VALUES (%s, %s) ON DUPLICATE KEY UPDATE value = VALUES(value)"
            )
            self.read_sql = f"SELECT value FROM {t} WHERE id = %s"

    def raw(self, node: str, timeout: float | None = None, database: bool = True) -> Any:
        p = dict(self.params[node])
        if not database:
            p.pop("database")
        t = self.timeout if timeout is None else timeout
        return self.pymysql.connect(
            **p,
            autocommit=True,
            connect_timeout=max(1, int(t + 0.999)),
            read_timeout=t,
            write_timeout=t,
        )

    def connect(self, node: str) -> Conn:
        try:
            return _MariaConn(self, self.raw(node))
        except self.pymysql.Error as e:
            raise NoConnection(self.redact(f"cannot connect to the {node}: {first_line(e)}")) from None

    def admin(self, node: str) -> _MariaConn:
        """A connection for setting up and for the nemesis (generous timeouts)."""
        try:
            return _MariaConn(self, self.raw(node, max(self.timeout, SETUP_TIMEOUT), database=False))
        except self.pymysql.Error as e:
            raise RecordError(
                f"cannot connect to the {node} ({self.redact.dsn(self.dsns[node])}): {first_line(e)}"
            ) from None

    def prepare(self) -> dict:
        """Recreate the table on the primary, wait until every replica has it, and
        describe the servers and their replication mode."""
        err = self.pymysql.Error
        facts: dict[str, Any] = {}
        db = self.params["primary"]["database"]
        p = self.admin("primary")
        try:
            if p.one("SELECT @@read_only"):
                raise RecordError("the primary is read-only (a replica?): give the server that takes writes")
            facts["server_version"] = p.one("SELECT VERSION()")
            semi = bool(p.one("SELECT @@rpl_semi_sync_master_enabled"))
            facts["replication"] = (
                f"semi-sync {p.one('SELECT @@rpl_semi_sync_master_wait_point')}" if semi else "async"
            )
            if semi:
                facts["semi_sync_timeout_ms"] = int(p.one("SELECT @@rpl_semi_sync_master_timeout"))
            q = f"`{db.replace('`', '``')}`"
            t = f"`{self.table.replace('`', '``')}`"
            try:
                p.one(f"CREATE DATABASE IF NOT EXISTS {q}")
                p.one(f"DROP TABLE IF EXISTS {q}.{t}")
                p.one(
                    f"CREATE TABLE {q}.{t} (id VARCHAR(64) PRIMARY KEY, value BIGINT NULL, "
                    "elems LONGTEXT NOT NULL DEFAULT '') ENGINE=InnoDB"
                )
            except err as e:
                raise RecordError(
                    f"cannot create table {self.table} on the primary: {first_line(e)}"
                ) from None
            pos = p.position()
        except err as e:
            raise RecordError(f"the primary: {first_line(e)}") from None
        finally:
            p.close()
        semi_replicas = []
        for node in self.dsns:
            if node == "primary":
                continue
            r = self.admin(node)
            try:
                if r.one("SHOW SLAVE STATUS") is None:
                    raise RecordError(f"the {node} ({self.redact.dsn(self.dsns[node])}) is not a replica")
                if r.one("SELECT @@rpl_semi_sync_slave_enabled"):
                    semi_replicas.append(node)
                if r.one("SELECT MASTER_GTID_WAIT(%s, %s)", (pos, SETUP_TIMEOUT)) != 0:
                    raise RecordError(
                        f"the {node} did not apply the new table within {SETUP_TIMEOUT:g} s: "
                        "is it replicating from this primary?"
                    )
            except err as e:
                raise RecordError(f"the {node}: {first_line(e)}") from None
            finally:
                r.close()
        if facts["replication"] != "async":
            facts["semi_sync_replicas"] = semi_replicas
        return facts


def _pid(conn: _MariaConn) -> int:
    path = conn.one("SELECT @@pid_file")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError) as e:
        raise RecordError(f"cannot read the server's pid from {path} (is it on this machine?): {e}") from None


def _seqs(pos: str) -> dict[str, int]:
    """``0-1-57,1-2-3`` as {domain: sequence number}."""
    out: dict[str, int] = {}
    for gtid in filter(None, (pos or "").split(",")):
        domain, _server, seq = gtid.strip().split("-")
        out[domain] = int(seq)
    return out


def kill_and_promote(after: float, cut: float) -> Callable[[Nemesis], None]:
    """At ``after`` seconds: with ``cut`` > 0, stop every replica's IO thread (cut
    replication; the primary goes on alone for ``cut`` seconds); then kill -9 the
    primary; let each replica apply what it had received, promote the most advanced
    one (the operator's choice: highest GTID) and point the others at it. Each step is
    a nemesis event; the clients then write to the promoted replica."""

    def run(n: Nemesis) -> None:
        adapter = n.run.adapter
        assert isinstance(adapter, MariaDBAdapter)
        replicas = [node for node in adapter.dsns if node != "primary"]
        p = adapter.admin("primary")
        try:
            pid = _pid(p)
        finally:
            p.close()
        if not n.wait_until(after):
            n.report["error"] = "the clients finished before the fault was due"
            return
        if cut > 0:
            admins = [adapter.admin(node) for node in replicas]  # connected ahead: cut together
            n.report["cut_at_ms"] = n.fault("stop-replication", replicas)
            for r in admins:
                r.one("STOP SLAVE IO_THREAD")
                r.close()
            n.sleep(cut)
        n.report["killed_at_ms"] = n.fault("kill", "primary")
        os.kill(pid, signal.SIGKILL)
        positions = {}
        for node in replicas:
            r = adapter.admin(node)
            deadline = time.monotonic() + SETUP_TIMEOUT
            while True:  # the relay log applied: all it received from the old primary
                cur = r.conn.cursor(adapter.pymysql.cursors.DictCursor)
                cur.execute("SHOW SLAVE STATUS")
                s = cur.fetchone()
                if s is None or (
                    s["Relay_Master_Log_File"] == s["Master_Log_File"]
                    and s["Exec_Master_Log_Pos"] == s["Read_Master_Log_Pos"]
                ):
                    break
                if time.monotonic() > deadline:
                    raise RecordError(f"the {node} did not apply its relay log within {SETUP_TIMEOUT:g} s")
                time.sleep(0.01)
            r.one("STOP SLAVE")
            positions[node] = r.one("SELECT @@gtid_current_pos")
            r.close()
        new = max(replicas, key=lambda node: sum(_seqs(positions[node]).values()))
        n.report["positions"] = positions
        n.report["promoted"] = new
        n.fault("promote", new)
        r = adapter.admin(new)
        r.one("RESET SLAVE ALL")
        r.one("SET GLOBAL read_only = OFF")
        r.close()
        n.run.fail_over(new, [])  # writes go there at once; reads on the others once they follow
        n.report["promoted_at_ms"] = n.elapsed_ms()
        host, port = adapter.params[new]["host"], adapter.params[new]["port"]
        user, password = adapter.params[new]["user"], adapter.params[new]["password"]
        followers = []
        for node in replicas:
            if node == new:
                continue
            r = adapter.admin(node)
            try:
                r.one(
                    "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
                    "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
                    (host, port, user, password),
                )
                r.one("START SLAVE")
                followers.append(node)
            except adapter.pymysql.Error as e:
                n.report.setdefault("not_following", {})[node] = adapter.redact(first_line(e))
            finally:
                r.close()
        n.run.fail_over(new, followers)
        n.report["following_at_ms"] = n.elapsed_ms()

    return run


def pause_replica(node: str, after: float, duration: float) -> Callable[[Nemesis], None]:
    """SIGSTOP ``node``'s server at ``after`` seconds, SIGCONT it ``duration`` later, and
    meanwhile watch the primary's ``Rpl_semi_sync_master_status``: each change (semi-sync
    falling back to asynchronous replication, and coming back) is recorded as a nemesis
    event ``semi-sync`` with value ``off`` or ``on`` when it is seen (polled every 20 ms)."""

    def run(n: Nemesis) -> None:
        adapter = n.run.adapter
        assert isinstance(adapter, MariaDBAdapter)
        r = adapter.admin(node)
        try:
            pid = _pid(r)
        finally:
            r.close()
        p = adapter.admin("primary")
        changes: list[dict[str, Any]] = []
        n.report["semi_sync_changes"] = changes

        def status() -> str:
            with p.conn.cursor() as cur:
                cur.execute("SHOW STATUS LIKE 'Rpl_semi_sync_master_status'")
                row = cur.fetchone()
            return "off" if row is None else str(row[1]).lower()

        last = status()
        paused = False
        try:
            if not n.wait_until(after):
                n.report["error"] = "the clients finished before the fault was due"
                return
            n.report["paused_at_ms"] = n.fault("pause", node)
            os.kill(pid, signal.SIGSTOP)
            paused = True
            until = time.monotonic() + duration
            while True:  # bounded: the pause's length, then until the clients stop
                now = status()
                if now != last:
                    changes.append({"status": now, "at_ms": n.fault("semi-sync", now)})
                    last = now
                if paused and time.monotonic() >= until:
                    os.kill(pid, signal.SIGCONT)
                    paused = False
                    n.report["resumed_at_ms"] = n.fault("resume", node)
                if not paused and n.run.done.is_set():
                    break
                n.run.done.wait(0.02)
        finally:
            if paused:
                os.kill(pid, signal.SIGCONT)
            p.close()

    return run


def record_mariadb(
    out: str,
    *,
    primary: str,
    replicas: list[str] | tuple[str, ...] = (),
    routing: str = "primary",
    workload: str = "list-append",
    timeout: float = 5.0,
    table: str = "replicheck_rows",
    kill_primary_after_ms: float | None = None,
    cut_replication_ms: float = 0.0,
    pause_replica_after_ms: float | None = None,
    pause_ms: float = 3000.0,
    pause_node: str = "replica",
    **params: Any,
) -> dict:
    """Run the shared workload against MariaDB (see :func:`.driver.record` for
    ``params``); ``kill_primary_after_ms`` and ``pause_replica_after_ms`` choose a nemesis."""
    from .driver import Routing, record, replica_names

    route = Routing.parse(routing)
    replicas = list(replicas)
    faulty = kill_primary_after_ms is not None or pause_replica_after_ms is not None
    if not replicas and (route.kind != "primary" or faulty):
        raise ValueError(f"{'a fault' if faulty else f'routing {route}'} needs a replica (--replica DSN)")
    if kill_primary_after_ms is not None and pause_replica_after_ms is not None:
        raise ValueError("one fault per run: --kill-primary-after or --pause-replica-after")
    dsns = {"primary": primary, **dict(zip(replica_names(len(replicas)), replicas))}
    if pause_replica_after_ms is not None and (pause_node not in dsns or pause_node == "primary"):
        raise ValueError(f"--pause-node: no replica named {pause_node!r}")
    adapter = MariaDBAdapter(dsns, workload=workload, timeout=timeout, table=table)
    nemesis, name, extra = None, "nemesis", ""
    if kill_primary_after_ms is not None:
        nemesis = kill_and_promote(kill_primary_after_ms / 1000, cut_replication_ms / 1000)
        name = "failover"
        extra = f" --kill-primary-after {kill_primary_after_ms:g} --cut-replication {cut_replication_ms:g}"
    elif pause_replica_after_ms is not None:
        nemesis = pause_replica(pause_node, pause_replica_after_ms / 1000, pause_ms / 1000)
        name = "pause"
        extra = f" --pause-replica-after {pause_replica_after_ms:g} --pause-ms {pause_ms:g}"
        extra += f" --pause-node {pause_node}"
    adapter.source_args = lambda: extra  # type: ignore[method-assign]
    return record(adapter, out, routing=str(route), nemesis=nemesis, nemesis_name=name, **params)
