"""etcd as a :mod:`.driver` adapter, through its v3 HTTP/JSON gateway (no client library:
``http.client`` and JSON), and two nemeses: kill -9 the Raft leader, and pause a member.

Each user row is the key ``replicheck/<table>/<row>`` holding JSON: a list (list-append)
or an integer (register). A register write is a put. An append is a compare-and-set
loop: read the list with its ``mod_revision``, then a transaction that puts the longer
list only if the revision is unchanged; a lost race retries (up to 64 times, then the
write fails, certainly without effect). Reads are linearizable (the member asks the
leader) unless ``serializable``, when the member answers from its own state, as fast
and as stale as it is. The replication position is the store's revision; a member has
applied it once a serializable read there reports a revision at least as high.

Endpoints are the members' client URLs (``http://127.0.0.1:2379``), named n1, n2... in
the history; clients write through n1 (etcd forwards to the leader) until a nemesis
kills it. The nemeses signal the member's process, found by its listening port, so
they work only with members on this machine.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .driver import SETUP_TIMEOUT, Adapter, Conn, Nemesis, NoConnection, RecordError, Rejected, first_line
from .procs import pid_listening_on

CAS_TRIES = 64


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class EtcdError(Exception):
    """A non-200 answer from the gateway."""


class _EtcdConn(Conn):
    def __init__(self, adapter: EtcdAdapter, node: str, timeout: float):
        self.adapter, self.node = adapter, node
        host, port = adapter.addresses[node]
        self.http = http.client.HTTPConnection(host, port, timeout=timeout)

    def post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        try:
            self.http.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        except ConnectionRefusedError as e:
            self.http.close()
            raise NoConnection(f"cannot connect to {self.node}: {e}") from None
        try:
            resp = self.http.getresponse()
            text = resp.read()
        except BaseException:
            self.http.close()  # the next request opens a fresh connection
            raise
        if resp.status != 200:
            raise EtcdError(f"{self.node}: HTTP {resp.status}: {text[:200].decode(errors='replace')}")
        out: dict = json.loads(text)
        return out

    def get(self, key: str, serializable: bool) -> tuple[Any, int, int]:
        """(value or None, its mod_revision or 0, the store's revision)"""
        r = self.post("/v3/kv/range", {"key": _b64(self.adapter.path(key)), "serializable": serializable})
        rev = int(r["header"]["revision"])
        kvs = r.get("kvs") or []
        if not kvs:
            return None, 0, rev
        kv = kvs[0]
        return json.loads(base64.b64decode(kv["value"])), int(kv.get("mod_revision", 0)), rev

    def write(self, key: str, value: int) -> None:
        k = _b64(self.adapter.path(key))
        if self.adapter.workload == "register":
            self.post("/v3/kv/put", {"key": k, "value": _b64(json.dumps(value))})
            return
        for _ in range(CAS_TRIES):
            current, mod, _rev = self.get(key, serializable=False)
            new = [*(current or []), value]
            r = self.post(
                "/v3/kv/txn",
                {
                    "compare": [{"key": k, "target": "MOD", "mod_revision": str(mod), "result": "EQUAL"}],
                    "success": [{"requestPut": {"key": k, "value": _b64(json.dumps(new))}}],
                },
            )
            if r.get("succeeded"):
                return
        raise Rejected(f"lost {CAS_TRIES} compare-and-set races in a row")

    def read(self, key: str) -> Any:
        return self.get(key, self.adapter.serializable)[0]

    def position(self) -> Any:
        return self.get("", serializable=False)[2]

    def applied(self, position: Any) -> bool:
        return self.get("", serializable=True)[2] >= int(position)

    def close(self) -> None:
        self.http.close()


class EtcdAdapter(Adapter):
    system = "etcd"
    label = "etcd"
    writer = "n1"

    def __init__(
        self, dsns: dict[str, str], *, workload: str, timeout: float, table: str, serializable: bool = False
    ):
        super().__init__(dsns, workload=workload, timeout=timeout, table=table)
        self.serializable = serializable
        self.addresses: dict[str, tuple[str, int]] = {}
        for node, url in dsns.items():
            try:
                u = urlsplit(url)
                port = u.port
            except ValueError as e:
                raise RecordError(self.redact(f"bad etcd endpoint for {node}: {e}")) from None
            if u.scheme != "http" or not u.hostname or not port:
                raise RecordError(f"an etcd endpoint looks like http://HOST:PORT, not {self.redact.dsn(url)}")
            self.addresses[node] = (u.hostname, port)

    def path(self, key: str) -> str:
        return f"replicheck/{self.table}/{key}"

    def connect(self, node: str) -> Conn:
        return _EtcdConn(self, node, self.timeout)

    def status(self, node: str) -> dict:
        c = _EtcdConn(self, node, SETUP_TIMEOUT)
        try:
            return c.post("/v3/maintenance/status", {})
        finally:
            c.close()

    def prepare(self) -> dict:
        """Delete this table's keys, wait until every member has applied that, and
        describe the cluster (version, leader)."""
        facts: dict[str, Any] = {"read_consistency": "serializable" if self.serializable else "linearizable"}
        members = {}
        try:
            for node in self.dsns:
                st = self.status(node)
                members[st["header"]["member_id"]] = node
                facts["server_version"] = st["version"]
                facts["leader"] = st["leader"]
            facts["leader"] = members.get(facts["leader"], facts["leader"])
            c = _EtcdConn(self, self.writer, SETUP_TIMEOUT)
            prefix = self.path("")
            end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            r = c.post("/v3/kv/deleterange", {"key": _b64(prefix), "range_end": _b64(end)})
            c.close()
            rev = int(r["header"]["revision"])
            for node in self.dsns:
                c = _EtcdConn(self, node, SETUP_TIMEOUT)
                if not c.applied(rev):  # followers apply within a heartbeat; one more look
                    import time

                    time.sleep(0.5)
                    if not c.applied(rev):
                        raise RecordError(f"{node} did not apply the cleanup: is it in this cluster?")
                c.close()
        except (OSError, EtcdError, NoConnection, ValueError, KeyError) as e:
            raise RecordError(f"etcd: {first_line(e)}") from None
        return facts


def _pid(adapter: EtcdAdapter, node: str) -> int:
    host, port = adapter.addresses[node]
    pid = pid_listening_on(port)
    if pid is None:
        raise RecordError(f"no local process listens on {host}:{port} ({node}): is it on this machine?")
    return pid


def _leader(adapter: EtcdAdapter, among: list[str]) -> str:
    members = {}
    leader = None
    for node in among:
        st = adapter.status(node)
        members[st["header"]["member_id"]] = node
        leader = st["leader"]
    if leader not in members:
        raise RecordError(f"the leader {leader} is none of {', '.join(among)}")
    return members[leader]


def kill_leader(after: float) -> Callable[[Nemesis], None]:
    """At ``after`` seconds kill -9 the Raft leader; the clients move to the members
    left (the first of them takes the writes) and Raft elects a new leader itself."""

    def run(n: Nemesis) -> None:
        adapter = n.run.adapter
        assert isinstance(adapter, EtcdAdapter)
        if not n.wait_until(after):
            n.report["error"] = "the clients finished before the fault was due"
            return
        nodes = list(adapter.dsns)
        leader = _leader(adapter, nodes)
        pid = _pid(adapter, leader)
        n.report["killed"] = leader
        n.report["killed_at_ms"] = n.fault("kill", leader)
        os.kill(pid, signal.SIGKILL)
        alive = [node for node in nodes if node != leader]
        n.run.fail_over(alive[0], alive[1:])

    return run


def pause_member(node: str, after: float, duration: float) -> Callable[[Nemesis], None]:
    """SIGSTOP ``node`` at ``after`` seconds and SIGCONT it ``duration`` later: it falls
    behind, and serves whatever it has when it wakes."""

    def run(n: Nemesis) -> None:
        adapter = n.run.adapter
        assert isinstance(adapter, EtcdAdapter)
        pid = _pid(adapter, node)
        if not n.wait_until(after):
            n.report["error"] = "the clients finished before the fault was due"
            return
        n.report["paused_at_ms"] = n.fault("pause", node)
        os.kill(pid, signal.SIGSTOP)
        try:
            n.run.done.wait(duration)  # the pause lasts its length even if the clients stop
        finally:
            os.kill(pid, signal.SIGCONT)
            n.report["resumed_at_ms"] = n.fault("resume", node)

    return run


def record_etcd(
    out: str,
    *,
    endpoints: list[str] | tuple[str, ...],
    routing: str = "primary",
    workload: str = "list-append",
    serializable: bool = False,
    timeout: float = 5.0,
    table: str = "replicheck_rows",
    kill_leader_after_ms: float | None = None,
    pause_member_after_ms: float | None = None,
    pause_ms: float = 1000.0,
    pause_node: str = "n3",
    **params: Any,
) -> dict:
    """Run the shared workload against an etcd cluster (see :func:`.driver.record`)."""
    from .driver import Routing, record

    route = Routing.parse(routing)
    dsns = {f"n{i + 1}": url for i, url in enumerate(endpoints)}
    if not dsns:
        raise ValueError("give the members' client URLs (--endpoint URL, repeated)")
    if len(dsns) < 2 and (route.kind != "primary" or kill_leader_after_ms is not None):
        raise ValueError(f"routing {route} and faults need two endpoints or more")
    if kill_leader_after_ms is not None and pause_member_after_ms is not None:
        raise ValueError("one fault per run: --kill-leader-after or --pause-member-after")
    if pause_member_after_ms is not None and pause_node not in dsns:
        raise ValueError(f"--pause-node: no member named {pause_node!r} (n1..n{len(dsns)})")
    adapter = EtcdAdapter(dsns, workload=workload, timeout=timeout, table=table, serializable=serializable)
    nemesis, name, extra = None, "nemesis", " --serializable" if serializable else ""
    if kill_leader_after_ms is not None:
        nemesis, name = kill_leader(kill_leader_after_ms / 1000), "failover"
        extra += f" --kill-leader-after {kill_leader_after_ms:g}"
    elif pause_member_after_ms is not None:
        nemesis, name = pause_member(pause_node, pause_member_after_ms / 1000, pause_ms / 1000), "pause"
        extra += f" --pause-member-after {pause_member_after_ms:g}"
        extra += f" --pause-ms {pause_ms:g} --pause-node {pause_node}"
    adapter.source_args = lambda: extra  # type: ignore[method-assign]
    return record(adapter, out, routing=str(route), nemesis=nemesis, nemesis_name=name, **params)
