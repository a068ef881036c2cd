"""MariaDB's replication modes on real servers (scripts/mariadb-cluster.sh): what a
primary crash and a stalled semi-sync replica do to acknowledged writes, judged by
`replicheck check`."""

from __future__ import annotations

import pytest
from cluster_scripts import check, events, nemesis, record, started

pytestmark = pytest.mark.slow
SCRIPT = "mariadb-cluster.sh"
# 8 clients, 2 ms think: the cut comes well inside the run, and the run goes on past
# the promotion
LOAD = ["--clients", "8", "--ops", "3000", "--think-ms", "2"]


def servers(dsns: dict[str, str]) -> list[str]:
    return ["--primary", dsns["PRIMARY"], "--replica", dsns["REPLICA"], "--replica", dsns["REPLICA2"]]


def kill_and_promote(tmp_path, *cluster_args: str) -> tuple[dict, dict]:
    out = tmp_path / "h.jsonl"
    with started(SCRIPT, tmp_path / "db", *cluster_args) as dsns:
        s = record(
            "mariadb",
            out,
            *servers(dsns),
            *LOAD,
            "--seed",
            "2",
            "--kill-primary-after",
            "300",
            "--cut-replication",
            "300",
        )
    f = s["failover"]
    assert "error" not in f, f
    assert [x for x, _ in nemesis(out)] == ["stop-replication", "kill", "promote"]
    assert f["promoted"] in ("replica", "replica2") and f["promoted_at_ms"] >= f["killed_at_ms"]
    # the promoted replica took writes after the kill, and every row was read at the end
    # on it and on the replica that now follows it
    writes_after = [
        e
        for e in events(out)
        if e["type"] == "ok" and e["value"][0][0] == "append" and e["node"] == f["promoted"]
    ]
    assert writes_after
    assert s["final_reads"]["primary"] == 0 and s["final_reads"][f["promoted"]] == s["keys_used"]
    code, result = check(out, "--consistency", "durability")
    return s, {"code": code, **result["models"]["durability"]}


def test_async_replication_loses_acknowledged_writes_when_the_primary_dies(tmp_path):
    s, model = kill_and_promote(tmp_path)
    assert s["replication"] == "async"
    assert (model["code"], model["valid"]) == (1, False), model
    # the witness: a write the dead primary acknowledged, and a final read of its row on
    # the promoted server without it
    write, read = model["witness"]["ops"]
    assert (write["f"], write["status"], write["node"]) == ("append", "ok", "primary")
    assert read["f"] == "read" and read["key"] == write["key"] and write["value"] not in read["output"]


def test_semi_sync_after_sync_keeps_every_acknowledged_write(tmp_path):
    # the cut (300 ms) is shorter than the semi-sync timeout: the writes in it wait for an
    # acknowledgement that never comes, so the primary dies before acknowledging them
    s, model = kill_and_promote(tmp_path, "--semi-sync", "after_sync", "--semi-sync-timeout", "5000")
    assert s["replication"] == "semi-sync AFTER_SYNC" and s["semi_sync_replicas"] == ["replica"]
    assert (model["code"], model["valid"]) == (0, True), model
    assert s["info"] > 0  # the writes caught waiting: their fate unknown, and recorded so


def test_semi_sync_falls_back_to_async_when_its_only_replica_stalls(tmp_path):
    out = tmp_path / "h.jsonl"
    timeout_ms = 1000
    with started(
        SCRIPT, tmp_path / "db", "--semi-sync", "after_sync", "--semi-sync-timeout", str(timeout_ms)
    ) as dsns:
        s = record(
            "mariadb",
            out,
            *servers(dsns),
            *LOAD,
            "--seed",
            "3",
            "--pause-replica-after",
            "300",
            "--pause-ms",
            "2500",
            "--pause-node",
            "replica",
        )
    p = s["pause"]
    assert "error" not in p, p
    # the fallback was seen and recorded where it happened: after the pause, before the resume
    faults = nemesis(out)
    assert [f for f in faults if f[0] != "semi-sync"] == [("pause", "replica"), ("resume", "replica")]
    assert ("semi-sync", "off") in faults
    evs = events(out)
    at = {(e["f"], e["value"]): e["time"] for e in evs if e["process"] == "nemesis"}
    assert at["pause", "replica"] < at["semi-sync", "off"] < at["resume", "replica"]
    # writes stalled: after the pause, some write waited at least the semi-sync timeout
    # (MariaDB gives up on the acknowledgement only then) and was acknowledged before
    # the replica resumed: the timeout ended the wait, not the replica
    invoked: dict[object, int] = {}
    stalled = []
    for e in evs:
        if e["process"] == "nemesis" or e["value"][0][0] != "append":
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e["time"]
        elif e["type"] == "ok" and at["pause", "replica"] < e["time"] < at["resume", "replica"]:
            stalled.append(e["time"] - max(invoked[e["process"]], at["pause", "replica"]))
    assert stalled and max(stalled) >= timeout_ms * 1_000_000 * 0.9
    # ...and then continued, acknowledged without the replica, while it was still paused
    assert any(
        e["type"] == "ok"
        and e["value"][0][0] == "append"
        and at["semi-sync", "off"] < e["time"] < at["resume", "replica"]
        for e in evs
        if e["process"] != "nemesis"
    )
    assert s["info"] == 0  # nothing was lost track of: the stall ended in acknowledgements
    code, result = check(out, "--consistency", "durability")
    assert (code, result["models"]["durability"]["valid"]) == (0, True), result
