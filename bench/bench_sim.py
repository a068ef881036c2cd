"""Simulated client operations per second: a 5-node leader-follower run of 100,000 ops.

Prints figures; asserts nothing about time. Target: the whole run under 10 s on the
2-core machine. Usage: python bench/bench_sim.py [--ops N] [--replication MODE]
"""

from __future__ import annotations

import argparse
import time

from replicheck.model.config import make_config, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--replication", default="async")
    ap.add_argument("--reads", default="leader")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = make_config(
        "leader-follower",
        {
            "nodes": 5,
            "ops": args.ops,
            "clients": 8,
            "seed": args.seed,
            "replication": args.replication,
            "reads": args.reads,
        },
    )
    t0 = time.perf_counter()
    result = run(cfg)
    wall = time.perf_counter() - t0
    done = result.summary()["operations"]
    print(
        f"leader-follower 5 nodes, {args.replication}, reads {args.reads}: {done} ops, "
        f"{result.network['sent']} messages, {result.end_ms:.0f} ms virtual, {wall:.2f} s wall, "
        f"{done / wall:,.0f} simulated ops/s"
    )


if __name__ == "__main__":
    main()
