"""Per-cell figures of the claims matrix: exhaustive depth, distinct states and time, then
the random search beyond. What docs/explore.md's table is measured with.

Run: .venv/bin/python bench/bench_exhaustive.py [--seconds 30] [--json cells.jsonl]

With --layouts DESIGN PROPERTY DEPTH: one bounded search in this process, then on a local
Dask cluster of 1 and of 2 workers (started apart, reached by address, so start-up is not
timed): wall time and distinct states per second, --repeat times each, medians printed.
The results must be identical field for field; the bench says so or stops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from replicheck.model.explore import matrix


def layouts(design: str, prop: str, depth: int, repeat: int) -> None:
    import logging
    import statistics

    from distributed import LocalCluster

    from replicheck.engine import Layout
    from replicheck.model.exhaustive import exhaustive

    def timed(layout: Layout) -> tuple[float, dict]:
        t = time.perf_counter()
        r = exhaustive(design, prop, depth=depth, layout=layout)
        wall = time.perf_counter() - t
        d = r.to_dict()
        for k in ("elapsed", "summary", "counterexample"):
            d.pop(k, None)
        return wall, d

    print(f"{design} / {prop}, every schedule of <= {depth} steps; {repeat} runs per layout")
    reference = None
    for workers in (0, 1, 2):
        cluster = None
        if workers:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.CRITICAL,
            )  # fmt: skip
        layout = Layout(scheduler=cluster.scheduler_address) if cluster else Layout()
        try:
            runs = [timed(layout) for _ in range(repeat)]
        finally:
            if cluster is not None:
                cluster.close()
        walls = [w for w, _ in runs]
        result = runs[0][1]
        if reference is None:
            reference = result
        elif result != reference:
            raise SystemExit(
                f"the {layout.describe()} result differs from in-process: {result} != {reference}"
            )
        wall = statistics.median(walls)
        name = f"{workers} worker{'s' if workers != 1 else ''}" if workers else "in-process"
        print(
            f"{name:12} median {wall:6.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls)}), "
            f"{result['states'] / wall:,.0f} states/s, {result['cell']}",
            flush=True,
        )
    print("results identical in every layout")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layouts", nargs=3, metavar=("DESIGN", "PROPERTY", "DEPTH"), default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30.0, help="exhaustive budget per cell")
    ap.add_argument("--max-depth", type=int, default=8)
    ap.add_argument("--max-examples", type=int, default=300)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="cells run side by side on a local cluster")
    ap.add_argument("--json", default=None, help="also write each cell as a JSON line here")
    args = ap.parse_args()
    if args.layouts:
        design, prop, depth = args.layouts
        layouts(design, prop, int(depth), args.repeat)
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"exhaustive {args.seconds:g} s per cell (depth <= {args.max_depth}), then "
        f"{args.max_examples} random examples of <= {args.steps} steps, seed {args.seed}",
        flush=True,
    )
    out = open(args.json, "w", encoding="utf-8") if args.json else None
    started = time.perf_counter()

    def heard(name: str, prop: str, c) -> None:
        ex, rnd = c.exhaustive, c.random
        rt = f"{rnd.elapsed:6.1f}" if rnd is not None else "     -"
        mark = {True: "agrees", False: "DISAGREES", None: "-"}[c.agrees]
        print(
            f"{name:26} {prop:17} d={ex.complete_depth:<2} {ex.states:>8,} st {ex.elapsed:6.1f} s "
            f"rnd {rt} s  {c.cell()}  [{c.claim or 'no claim'}: {mark}]",
            flush=True,
        )
        if out is not None:
            out.write(json.dumps(c.to_dict()) + "\n")
            out.flush()

    if args.jobs > 1:  # cells side by side, each on one core; a cell's own figures are unchanged
        from replicheck.engine import Layout
        from replicheck.model.campaign import run_matrix

        run_matrix(
            seconds=args.seconds,
            max_examples=args.max_examples,
            steps=args.steps,
            seed=args.seed,
            derandomize=False,
            layout=Layout(jobs=args.jobs),
            on_cell=heard,
        )
    else:
        matrix(
            seconds=args.seconds,
            max_depth=args.max_depth,
            max_examples=args.max_examples,
            steps=args.steps,
            seed=args.seed,
            derandomize=False,
            on_cell=heard,
        )
    print(f"whole matrix: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
