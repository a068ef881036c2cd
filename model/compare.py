"""Experiments that compare designs by running them: ``replicheck compare``."""

from __future__ import annotations

from .config import make_config, run
from .leader_follower import stale_read_rate, summary_ms


def compare_replication(
    *, seed: int = 1, ops: int = 2000, nodes: int = 3, latency: str = "exponential:1"
) -> list[dict]:
    """sync vs semi-sync:1 vs async, measured: latency, durability, freshness, availability.

    Three runs per mode: a quiet one (latency, lag, stale reads with replica reads), one
    whose leader is cut off from its followers and then crashes, with automatic failover
    (acknowledged writes lost), and one with a follower down from the start (writes that
    still succeed).
    """
    modes = ["sync", "semi-sync:1", "async"] if nodes > 2 else ["sync", "async"]
    followers = ",".join(f"n{i}" for i in range(2, nodes + 1))
    rows = []
    for mode in modes:
        base = {"seed": seed, "ops": ops, "nodes": nodes, "latency": latency, "replication": mode}
        quiet = run(make_config("leader-follower", {**base, "reads": "replica"}))
        lat = summary_ms(sorted(e["time"] - inv for inv, e in _write_latencies(quiet.events)))
        crash = run(
            make_config(
                "leader-follower",
                {
                    **base,
                    "failover": "auto",
                    "partition": [f"20:n1|{followers}"],
                    "crash": ["n1@60"],
                },
            )
        )
        down = run(make_config("leader-follower", {**base, "crash": [f"n{nodes}@0"]}))
        writes = [e for e in down.events if e["type"] != "invoke" and e["f"] == "write"]
        rows.append(
            {
                "replication": mode,
                "write_latency_median_ms": lat.get("median"),
                "write_latency_p99_ms": lat.get("p99"),
                "acked_writes_lost_on_leader_crash": crash.measurements["acked_writes_lost"],
                "replication_lag_median_ms": quiet.measurements["replication_lag_ms"].get("median"),
                "replication_lag_p99_ms": quiet.measurements["replication_lag_ms"].get("p99"),
                "stale_read_rate": round(stale_read_rate(quiet.events), 4),
                "write_availability_replica_down": round(
                    sum(e["type"] == "ok" for e in writes) / len(writes), 4
                )
                if writes
                else None,
            }
        )
    return rows


def _write_latencies(events: list[dict]):
    invoked: dict = {}
    for e in events:
        if e.get("process") == "nemesis" or e["f"] != "write":
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e["time"]
        elif e["type"] == "ok":
            yield invoked[e["process"]], e
