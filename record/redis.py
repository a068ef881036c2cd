"""Redis as a :mod:`.driver` adapter: a primary with asynchronous replicas watched by
Sentinel, and a partition nemesis after which Sentinel fails over on its own.

Each user row is the key ``replicheck:<table>:<row>``: a list (``RPUSH``, list-append)
or a string (``SET``, register). With ``wait`` = n, every write is followed by
``WAIT n timeout``; a write that fewer than n replicas acknowledged in time is recorded
``info`` (the primary has it; whether it survives, nobody knows). The replication
position is the primary's ``master_repl_offset``; a replica has applied it once its
``slave_repl_offset`` has reached it.

The partition (``partition``): before the run, the replicas and the Sentinels are
pointed at the primary through a :class:`~.proxy.Proxy`, the clients straight at it.
Cutting the proxy isolates the primary from its replicas and Sentinels but not from the
clients, which go on writing to it; the Sentinels mark it down, elect, and promote a
replica. When a Sentinel names the new primary, the clients move to it; when the
partition heals, the Sentinels make the old primary a replica of the new one, and it
drops what it acknowledged alone. DSNs are ``redis://HOST:PORT``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .driver import SETUP_TIMEOUT, Adapter, Conn, Nemesis, NoConnection, RecordError, first_line
from .proxy import Proxy


def _redis() -> Any:
    try:
        import redis
    except ImportError:
        raise RecordError("recording from Redis needs redis-py: pip install 'replicheck[redis]'") from None
    return redis


class NotReplicated(Exception):
    """WAIT returned before enough replicas had the write."""


def _address(url: str) -> tuple[str, int]:
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError as e:
        raise RecordError(f"bad Redis address: {e}") from None
    if u.scheme != "redis" or not u.hostname or not port:
        raise RecordError("a Redis address looks like redis://HOST:PORT")
    return u.hostname, port


class _RedisConn(Conn):
    def __init__(self, adapter: RedisAdapter, client: Any):
        self.adapter, self.r = adapter, client

    def write(self, key: str, value: int) -> None:
        a = self.adapter
        k = a.path(key)
        if a.workload == "list-append":
            self.r.rpush(k, value)
        else:
            self.r.set(k, value)
        if a.wait:
            got = self.r.execute_command("WAIT", a.wait, a.wait_timeout_ms)
            if got < a.wait:
                raise NotReplicated(f"WAIT {a.wait} {a.wait_timeout_ms}: {got} replicas acknowledged")

    def read(self, key: str) -> Any:
        k = self.adapter.path(key)
        if self.adapter.workload == "list-append":
            return [int(x) for x in self.r.lrange(k, 0, -1)]
        v = self.r.get(k)
        return None if v is None else int(v)

    def position(self) -> Any:
        return int(self.r.info("replication")["master_repl_offset"])

    def applied(self, position: Any) -> bool:
        info = self.r.info("replication")
        return info.get("role") == "slave" and int(info.get("slave_repl_offset", -1)) >= int(position)

    def close(self) -> None:
        self.r.close()


class RedisAdapter(Adapter):
    system = "redis"
    label = "Redis"

    def __init__(
        self,
        dsns: dict[str, str],
        *,
        workload: str,
        timeout: float,
        table: str,
        sentinels: list[str],
        master_name: str = "replicheck",
        wait: int = 0,
        wait_timeout_ms: int = 1000,
        partition: bool = False,
    ):
        super().__init__(dsns, workload=workload, timeout=timeout, table=table)
        self.redis = _redis()
        try:
            self.addresses = {node: _address(url) for node, url in dsns.items()}
            self.sentinels = [_address(url) for url in sentinels]
        except RecordError as e:
            raise RecordError(self.redact(str(e))) from None
        self.master_name = master_name
        self.wait, self.wait_timeout_ms = wait, wait_timeout_ms
        self.partition = partition
        self.proxy: Proxy | None = None

    def path(self, key: str) -> str:
        return f"replicheck:{self.table}:{key}"

    def client(self, address: tuple[str, int], timeout: float) -> Any:
        # no retries: a command sent twice would be a write recorded once
        return self.redis.Redis(
            host=address[0],
            port=address[1],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=self.redis.retry.Retry(self.redis.backoff.NoBackoff(), 0),
            decode_responses=True,
        )

    def connect(self, node: str) -> Conn:
        r = self.client(self.addresses[node], self.timeout)
        try:
            r.ping()
        except self.redis.RedisError as e:
            r.close()
            raise NoConnection(f"cannot connect to the {node}: {first_line(e)}") from None
        return _RedisConn(self, r)

    def prepare(self) -> dict:
        """Delete this table's keys on the primary, check the roles, and wait until the
        replicas have applied the deletion; with ``partition``, route the replicas and
        Sentinels to the primary through the proxy first."""
        facts: dict[str, Any] = {"replication": f"async, WAIT {self.wait}" if self.wait else "async"}
        err = self.redis.RedisError
        p = self.client(self.addresses["primary"], SETUP_TIMEOUT)
        try:
            info = p.info("server")
            facts["server_version"] = info["redis_version"]
            if p.info("replication")["role"] != "master":
                raise RecordError("the primary is a replica: give the server that takes writes")
            if self.partition:
                self._through_proxy()
            for node, address in self.addresses.items():
                if node != "primary" and self.replication(address)["role"] != "slave":
                    raise RecordError(f"the {node} is not a replica")
            keys = list(p.scan_iter(match=self.path("*"), count=1000))
            for i in range(0, len(keys), 500):
                p.delete(*keys[i : i + 500])
            pos = int(p.info("replication")["master_repl_offset"])
            for node, address in self.addresses.items():
                if node == "primary":
                    continue
                c = _RedisConn(self, self.client(address, SETUP_TIMEOUT))
                deadline = time.monotonic() + SETUP_TIMEOUT
                while not c.applied(pos):
                    if time.monotonic() > deadline:
                        raise RecordError(f"the {node} did not catch up within {SETUP_TIMEOUT:g} s")
                    time.sleep(0.01)
                c.close()
        except err as e:
            raise RecordError(f"redis: {first_line(e)}") from None
        finally:
            p.close()
        return facts

    def _through_proxy(self) -> None:
        proxy = self.proxy = Proxy(self.addresses["primary"])
        for node, address in self.addresses.items():
            if node != "primary":
                self.ask(address, "REPLICAOF", "127.0.0.1", proxy.port)
        name = self.master_name
        for address in self.sentinels:
            conf = self.ask(address, "SENTINEL", "MASTER", name)
            conf = dict(zip(conf[::2], conf[1::2])) if isinstance(conf, list) else conf
            self.ask(address, "SENTINEL", "REMOVE", name)
            self.ask(address, "SENTINEL", "MONITOR", name, "127.0.0.1", proxy.port, conf.get("quorum", 2))
            for option in ("down-after-milliseconds", "failover-timeout", "parallel-syncs"):
                if option in conf:
                    self.ask(address, "SENTINEL", "SET", name, option, conf[option])
        deadline = time.monotonic() + SETUP_TIMEOUT
        replicas = len(self.addresses) - 1
        while True:  # every Sentinel has found the replicas and the others again
            ready = True
            for address in self.sentinels:
                m = self.ask(address, "SENTINEL", "MASTER", name)
                m = dict(zip(m[::2], m[1::2])) if isinstance(m, list) else m
                if int(m["num-slaves"]) < replicas or int(m["num-other-sentinels"]) < len(self.sentinels) - 1:
                    ready = False
            links = [
                self.replication(a).get("master_link_status")
                for n, a in self.addresses.items()
                if n != "primary"
            ]
            if ready and all(link == "up" for link in links):
                return
            if time.monotonic() > deadline:
                raise RecordError("the Sentinels did not rediscover the cluster through the proxy in time")
            time.sleep(0.1)

    def sentinel_primary(self) -> tuple[str, int] | None:
        """The primary's address as the first Sentinel that answers names it."""
        for address in self.sentinels:
            try:
                with self.client(address, 1.0) as s:
                    host, port = s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
                return host, int(port)
            except (self.redis.RedisError, TypeError, ValueError):
                continue
        return None

    def ask(self, address: tuple[str, int], *command: Any) -> Any:
        """One command on a connection of its own, closed after."""
        with self.client(address, SETUP_TIMEOUT) as c:
            return c.execute_command(*command)

    def replication(self, address: tuple[str, int]) -> dict:
        with self.client(address, SETUP_TIMEOUT) as c:
            info: dict = c.info("replication")
            return info


def partition_primary(after: float, duration: float) -> Callable[[Nemesis], None]:
    """At ``after`` seconds cut the primary off its replicas and Sentinels for
    ``duration`` seconds (at least until a Sentinel has promoted a replica); move the
    clients to the new primary when a Sentinel names it; after the heal, wait (up to
    30 s) for the old primary to become a replica of the new one."""

    def run(n: Nemesis) -> None:
        adapter = n.run.adapter
        assert isinstance(adapter, RedisAdapter) and adapter.proxy is not None
        proxy = adapter.proxy
        try:
            if not n.wait_until(after):
                n.report["error"] = "the clients finished before the fault was due"
                return
            n.report["partitioned_at_ms"] = n.fault("partition", "primary")
            proxy.cut()
            by_address = {a: node for node, a in adapter.addresses.items()}
            deadline = time.monotonic() + SETUP_TIMEOUT
            new = None
            while new is None:  # bounded: Sentinel's down-after plus an election
                addr = adapter.sentinel_primary()
                if addr is not None and addr[1] != proxy.port and addr in by_address:
                    new = by_address[addr]
                elif time.monotonic() > deadline:
                    raise RecordError(f"no Sentinel promoted a replica within {SETUP_TIMEOUT:g} s")
                else:
                    time.sleep(0.02)
            n.report["promoted"] = new
            n.report["promoted_at_ms"] = n.fault("promoted", new)  # seen now; Sentinel did it
            others = [node for node in adapter.addresses if node not in ("primary", new)]
            n.run.fail_over(new, others)
            n.run.done.wait(max(0.0, n.started + after + duration - time.monotonic()))
            n.report["healed_at_ms"] = n.fault("heal", "primary")
            proxy.heal()
            deadline = time.monotonic() + SETUP_TIMEOUT
            while True:  # Sentinel turns the old primary into a replica of the new one
                info = adapter.replication(adapter.addresses["primary"])
                if info.get("role") == "slave" and info.get("master_link_status") == "up":
                    n.run.fail_over(new, [*others, "primary"])
                    n.report["rejoined_at_ms"] = n.elapsed_ms()
                    break
                if time.monotonic() > deadline:
                    n.report["not_rejoined"] = "the old primary did not become a replica within 30 s"
                    break
                time.sleep(0.05)
        finally:
            proxy.heal()

    return run


def record_redis(
    out: str,
    *,
    primary: str,
    replicas: list[str] | tuple[str, ...] = (),
    sentinels: list[str] | tuple[str, ...] = (),
    master_name: str = "replicheck",
    routing: str = "primary",
    workload: str = "list-append",
    timeout: float = 5.0,
    table: str = "replicheck_rows",
    wait: int = 0,
    wait_timeout_ms: int = 1000,
    partition_after_ms: float | None = None,
    partition_ms: float = 3000.0,
    **params: Any,
) -> dict:
    """Run the shared workload against Redis (see :func:`.driver.record`)."""
    from .driver import Routing, record, replica_names

    route = Routing.parse(routing)
    replicas = list(replicas)
    if not replicas and (route.kind != "primary" or partition_after_ms is not None or wait):
        raise ValueError("replica reads, WAIT and the partition need a replica (--replica DSN)")
    if partition_after_ms is not None and len(sentinels) < 1:
        raise ValueError("the partition needs the Sentinels (--sentinel DSN, repeated)")
    dsns = {"primary": primary, **dict(zip(replica_names(len(replicas)), replicas))}
    adapter = RedisAdapter(
        dsns,
        workload=workload,
        timeout=timeout,
        table=table,
        sentinels=list(sentinels),
        master_name=master_name,
        wait=wait,
        wait_timeout_ms=wait_timeout_ms,
        partition=partition_after_ms is not None,
    )
    nemesis, name, extra = None, "nemesis", f" --wait {wait} --wait-timeout {wait_timeout_ms}" if wait else ""
    if partition_after_ms is not None:
        nemesis, name = partition_primary(partition_after_ms / 1000, partition_ms / 1000), "failover"
        extra += f" --partition-after {partition_after_ms:g} --partition-ms {partition_ms:g}"
    adapter.source_args = lambda: extra  # type: ignore[method-assign]
    try:
        return record(adapter, out, routing=str(route), nemesis=nemesis, nemesis_name=name, **params)
    finally:
        if adapter.proxy is not None:
            adapter.proxy.close()
