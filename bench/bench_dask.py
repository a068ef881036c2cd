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

With --history OPS, the other mode instead: ONE generated history (bench/gen_histories.py,
kv, OPS operations over --keys keys, seeded by --seed, linearizable) checked as
`check FILE --scheduler` does, its partitions (keys) grouped into tasks of at least
--task-ops operations (2,000 is check's own), in-process and on the same warm local
clusters of 1 and 2 workers; the median of --repeat runs each. The check is timed from
the parsed history (reading the file is the same in every layout). Per layout: the wall
time, keys per second, the summed task time (inside the tasks) and, on one worker, the
overhead: (wall - in-process wall) / summed task time, with the milliseconds it makes
per task. What is sent: the pickled size of every task's arguments.

Run: .venv/bin/python bench/bench_dask.py --history 200000 --keys 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import statistics
import sys
import tempfile
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
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # as the engine: no port-in-use warning
    )


def started_clusters(in_process: Layout | None) -> tuple[dict, list]:
    """Local clusters of 1 and 2 workers, their start-up timed and printed, and the
    layouts to compare: ``in_process`` first, then each cluster by address."""
    clusters = {}
    for n in (1, 2):
        t = time.perf_counter()
        clusters[n] = local_cluster(n)
        print(f"local cluster of {n} worker{'s' if n > 1 else ''} started in {time.perf_counter() - t:.1f} s")
    layouts = [("in-process", in_process)] + [
        (f"{n} worker{'s' if n > 1 else ''}", Layout(scheduler=c.scheduler_address))
        for n, c in clusters.items()
    ]
    return clusters, layouts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--sizes", default="10,300", help="examples per task, comma-separated")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cell", default="leaderless-abd", choices=sorted(DESIGNS))
    ap.add_argument("--property", default="linearizable")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--history", type=int, default=None, metavar="OPS", help="the one-history-by-key mode")
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=10, help="clients of the generated history")
    ap.add_argument("--crash", type=float, default=0.01, help="share of its operations that crash")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--task-ops", default="2000", help="operations per task at least, comma-separated")
    args = ap.parse_args()
    if args.history:
        history_main(args)
        return
    cells = [(args.cell, DESIGNS[args.cell], args.property)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}; {args.cell} / {args.property}, "
        f"{args.runs} runs of up to {args.steps} steps, seed {args.seed}"
    )
    clusters, layouts = started_clusters(Layout(1))
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


def _machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return (
        f"machine: {platform.machine()} {model}, {os.cpu_count()} cores (shared with other work), "
        f"Python {platform.python_version()}"
    )


def history_main(args: argparse.Namespace) -> None:
    """One history's keys as tasks: in-process, on 1 and on 2 local workers."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gen_histories

    from replicheck.checker import check, read_history, resolve_spec
    from replicheck.checker import linearizable as lin
    from replicheck.cli.fanout import pack_partitions, partitions_on

    print(_machine())
    t = time.perf_counter()
    gen = gen_histories.generate(
        "kv",
        args.history,
        keys=args.keys,
        seed=args.seed,
        concurrency=args.concurrency,
        crash=args.crash,
        linearizable=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "history.jsonl")
        gen_histories.write_history(gen, path, "jsonl")
        h = read_history(path)
    spec = resolve_spec(h, None)
    parts = lin.searchable_parts(h.ops, spec)
    order = sorted(range(len(parts)), key=lambda k: len(parts[k]))
    print(
        f"history: kv, {len(h.ops)} operations over {len(parts)} keys, {args.concurrency} clients, "
        f"{args.crash:.0%} crashed, seed {args.seed}, linearizable "
        f"(generated and read in {time.perf_counter() - t:.1f} s); median of {args.repeat} runs"
    )
    clusters, layouts = started_clusters(None)
    print(
        f"{'ops/task':>8} {'tasks':>5} {'sent MB':>7} {'layout':>10} {'wall s':>7} {'keys/s':>7} "
        f"{'task s':>7} {'overhead':>8} {'ms/task':>7}"
    )
    default = lin.PARALLEL_MIN_OPS
    try:
        for size in [int(s) for s in args.task_ops.split(",")]:
            lin.PARALLEL_MIN_OPS = size
            groups = lin.partition_groups(parts, order)
            sent = sum(
                len(pickle.dumps((pack_partitions([parts[k] for k in g]), spec, None, 2048.0)))
                for g in groups
            )
            alone = None
            for label, layout in layouts:
                walls, tasks = [], []
                for _ in range(args.repeat):
                    stats: dict = {}
                    token = lin.PARTITION_SEARCH.set(
                        None if layout is None else partitions_on(layout, True, stats)
                    )
                    try:
                        t = time.perf_counter()
                        res = check(h, jobs=1)
                        walls.append(time.perf_counter() - t)
                    finally:
                        lin.PARTITION_SEARCH.reset(token)
                    assert res.valid is True and (layout is None or stats["tasks"] == len(groups)), res
                    tasks.append(stats.get("task_seconds", walls[-1]))
                wall, task = statistics.median(walls), statistics.median(tasks)
                if layout is None:
                    alone = wall
                    extra = f"{'':>8} {'':>7}"
                elif label == "1 worker" and alone is not None:
                    extra = f"{100 * (wall - alone) / task:7.1f}% {1000 * (wall - alone) / len(groups):7.1f}"
                else:  # on 2 workers tasks overlap, so wall - task says nothing there
                    extra = f"{'-':>8} {'-':>7}"
                print(
                    f"{size:8} {len(groups):5} {sent / 1e6:7.1f} {label:>10} {wall:7.2f} "
                    f"{len(parts) / wall:7.1f} {task:7.2f} {extra}",
                    flush=True,
                )
    finally:
        lin.PARALLEL_MIN_OPS = default
        for c in clusters.values():
            c.close()


if __name__ == "__main__":
    main()
