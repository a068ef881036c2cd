"""Campaign throughput in-process, on 1 and on 2 local Dask workers, and the engine's
per-task overhead as a share of task time.

A campaign of --runs searches of one cell that holds (every run spends its whole budget,
so runs are alike) at each task size (examples per search; 300 is `explore`'s default).
For each layout: the wall time, the summed task time (measured inside the tasks), and the
examples per second. The clusters are started once, timed apart, and reached by address,
so the figures are the steady state a long campaign sees. The overhead is (wall - summed
task time) / summed task time on ONE worker, where nothing runs in parallel: what
connecting, submitting, scheduling, pickling and returning costs per task.

Run: .venv/bin/python bench/bench_dask.py [--runs 6] [--sizes 10,300] [--cell leaderless-abd]
Figures from a shared machine are noisy: take the median of a few runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from replicheck.engine import Layout
from replicheck.model.campaign import campaign
from replicheck.model.explore import DESIGNS


def local_cluster(workers: int):
    """A local Dask cluster the engine reaches by address, so that its start-up is timed
    apart and every campaign at every size runs on the same warm workers."""
    import logging

    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--sizes", default="10,300", help="examples per task, comma-separated")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cell", default="leaderless-abd", choices=sorted(DESIGNS))
    ap.add_argument("--property", default="linearizable")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cells = [(args.cell, DESIGNS[args.cell], args.property)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}; {args.cell} / {args.property}, "
        f"{args.runs} runs of up to {args.steps} steps, seed {args.seed}"
    )
    clusters = {}
    for n in (1, 2):
        t = time.perf_counter()
        clusters[n] = local_cluster(n)
        print(f"local cluster of {n} worker{'s' if n > 1 else ''} started in {time.perf_counter() - t:.1f} s")
    layouts = [("in-process", Layout(1))] + [
        (f"{n} worker{'s' if n > 1 else ''}", Layout(scheduler=c.scheduler_address))
        for n, c in clusters.items()
    ]
    print(f"{'examples/task':>13} {'layout':>10} {'wall s':>7} {'task s':>7} {'ex/s':>7} {'overhead':>8}")
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            for label, layout in layouts:
                t = time.perf_counter()
                c = campaign(
                    cells, args.runs, seed=args.seed, max_examples=size, steps=args.steps, layout=layout
                )
                wall = time.perf_counter() - t
                task = sum(cell.seconds for cell in c.cells)
                examples = sum(cell.examples for cell in c.cells)
                # on 2 workers tasks overlap, so wall - task says nothing there
                overhead = f"{100 * (wall - task) / task:7.1f}%" if label != "2 workers" else "       -"
                print(f"{size:13} {label:>10} {wall:7.2f} {task:7.2f} {examples / wall:7.1f} {overhead:>8}")
    finally:
        for c in clusters.values():
            c.close()


if __name__ == "__main__":
    main()
