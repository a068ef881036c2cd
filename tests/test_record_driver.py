"""The shared workload driver with an in-memory system: what every recorder inherits
(outcomes, routing, nemesis events, failover, final reads), without a server."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner

from replicheck.checker import check
from replicheck.checker.formats import read_history
from replicheck.cli.main import cli
from replicheck.record.driver import Adapter, Conn, Nemesis, NoConnection, Rejected, record


class Store:
    """A primary and followers that apply its log only when told (replication lag on
    demand); a node can be marked down."""

    def __init__(self, nodes: list[str]):
        self.lock = threading.Lock()
        self.log: list[tuple[str, int]] = []
        self.applied = dict.fromkeys(nodes, 0)
        self.down: set[str] = set()
        self.writer = nodes[0]

    def state(self, node: str) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for key, value in self.log[: self.applied[node]]:
            rows.setdefault(key, []).append(value)
        return rows


class FakeConn(Conn):
    def __init__(self, store: Store, node: str, reject: bool):
        self.store, self.node, self.reject = store, node, reject

    def write(self, key: str, value: int) -> None:
        with self.store.lock:
            if self.node in self.store.down:
                raise ConnectionError("lost the connection mid-write")
            if self.reject and value % 5 == 0:
                raise Rejected("refused")
            self.store.log.append((key, value))
            self.store.applied[self.node] = len(self.store.log)

    def read(self, key: str) -> Any:
        with self.store.lock:
            return self.store.state(self.node).get(key)

    def position(self) -> Any:
        with self.store.lock:
            return self.store.applied[self.node]

    def applied(self, position: Any) -> bool:
        with self.store.lock:
            return self.store.applied[self.node] >= position


class FakeAdapter(Adapter):
    system = "fake"
    label = "Fake"

    def __init__(self, store: Store, reject: bool = False):
        super().__init__(
            {n: f"fake://u:pw@{n}" for n in store.applied}, workload="list-append", timeout=1, table="t"
        )
        self.store, self.reject = store, reject

    def prepare(self) -> dict:
        return {"server_version": "1"}

    def quiet_ms(self, facts: dict) -> float:
        return 0

    def connect(self, node: str) -> Conn:
        if node in self.store.down:
            raise NoConnection(f"cannot connect to the {node}")
        return FakeConn(self.store, node, self.reject)


def replicate(store: Store, until: threading.Event) -> None:
    """Followers catch up every 2 ms (bounded by the run)."""
    while not until.wait(0.002):
        with store.lock:
            for node in store.applied:
                if node not in store.down and node != store.writer:
                    store.applied[node] = len(store.log)


def run(tmp_path, nemesis=None, routing="primary", reject=False, **kw) -> tuple[dict, list[dict], Any]:
    store = Store(["primary", "replica"])
    stop = threading.Event()
    t = threading.Thread(target=replicate, args=(store, stop), daemon=True)
    t.start()
    out = tmp_path / "h.jsonl"
    try:
        s = record(FakeAdapter(store, reject), str(out), routing=routing, nemesis=nemesis, **kw)
    finally:
        stop.set()
        t.join()
    events = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    return s, events, read_history(str(out))


def test_primary_reads_are_linearizable_and_every_outcome_is_counted(tmp_path):
    s, events, history = run(tmp_path, ops=300, clients=4, seed=1, reject=True)
    assert s["operations"] == s["ok"] + s["fail"] + s["info"] + s["never_completed"]
    # a rejected write certainly did not happen: fail, never info
    assert s["fail"] > 0 and s["info"] == 0
    assert s["final_reads"] == {"primary": s["keys_used"], "replica": s["keys_used"]}
    assert check(history).valid is True


def test_a_failover_is_recorded_when_it_happens_and_moves_the_clients(tmp_path):
    def fail_over(n: Nemesis) -> None:
        assert n.wait_until(0.05)
        store = n.run.adapter.store  # type: ignore[attr-defined]
        n.report["killed_at_ms"] = n.fault("kill", "primary")
        with store.lock:
            store.down.add("primary")
            store.writer = "replica"
        n.run.fail_over("replica", [])
        n.fault("promote", "replica")

    s, events, history = run(tmp_path, nemesis=fail_over, ops=2000, clients=4, think_ms=0.2, seed=2)
    kinds = [e["f"] for e in events if e["process"] == "nemesis"]
    assert kinds == ["kill", "promote"]
    # clients move once the promotion is recorded; ops invoked before it may still reach
    # the old primary (its kill is only a flag in this fake)
    at = next(e["time"] for e in events if e["process"] == "nemesis" and e["f"] == "promote")
    invoked: dict = {}
    after = []
    for e in events:
        if e["process"] == "nemesis":
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e["time"]
        elif e["type"] == "ok" and invoked[e["process"]] > at:
            after.append(e)
    assert after and all(e["node"] == "replica" for e in after if e.get("session") != "final")
    assert "killed_at_ms" in s["nemesis"]  # what the nemesis reported reaches the summary
    assert s["final_reads"] == {"primary": 0, "replica": s["keys_used"]}


@pytest.mark.parametrize("routing", ["replica", "wait-for-lsn"])
def test_routings_reach_the_followers(tmp_path, routing):
    s, events, history = run(tmp_path, routing=routing, ops=300, clients=4, seed=3)
    assert s["reads"]["replica"] > 0 and s["reads"]["primary"] == 0
    if routing == "wait-for-lsn":
        assert s["replay_wait_ms"]["reads_waited"] > 0
        res = CliRunner().invoke(
            cli, ["check", str(tmp_path / "h.jsonl"), "--consistency", "read-your-writes", "--json"]
        )
        assert res.exit_code == 0 and json.loads(res.output)["models"]["read-your-writes"]["valid"] is True
