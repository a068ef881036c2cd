"""Time to the first counterexample and time to shrink it, for every broken cell.

Runs the claims matrix (every design against every property, as `replicheck explore
--matrix` does) and prints, for each cell that breaks, the seconds to the first
counterexample, the seconds to shrink it, and its length before and after; then the
whole matrix's time. Run: .venv/bin/python bench/bench_explore.py [--seed 0] [--max-examples 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from replicheck.model.explore import DESIGNS, matrix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-examples", type=int, default=300)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"seed {args.seed}, up to {args.max_examples} examples of up to {args.steps} steps per cell"
    )
    started = time.perf_counter()
    # the random search alone: no exhaustive time per cell (0.001 s judges the root only)
    cells = matrix(
        seconds=0.001, max_examples=args.max_examples, steps=args.steps, seed=args.seed, derandomize=False
    )
    results = [c.random for c in cells if c.random is not None]
    total = time.perf_counter() - started
    print(f"{'design':27} {'property':17} {'examples':>8} {'first (s)':>9} {'shrink (s)':>10} {'steps':>11}")
    names = {text: name for name, text in DESIGNS.items()}
    for r in results:
        if r.outcome != "broken":
            continue
        print(
            f"{names.get(r.design, r.design)[:27]:27} {r.property:17} {r.examples:8} "
            f"{r.found_after:9.2f} {r.shrink_time:10.2f} {r.unshrunk_steps:>4} -> {r.counterexample.steps:<3}"
        )
    worst = max((r.found_after + r.shrink_time for r in results if r.outcome == "broken"), default=0.0)
    print(f"whole matrix: {total:.1f} s; slowest broken cell, search and shrink: {worst:.2f} s")


if __name__ == "__main__":
    main()
