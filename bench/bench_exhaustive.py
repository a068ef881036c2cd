"""Per-cell figures of the claims matrix: exhaustive depth, distinct states and time, then
the random search beyond. What docs/explore.md's table is measured with.

Run: .venv/bin/python bench/bench_exhaustive.py [--seconds 30] [--json cells.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from replicheck.model.explore import matrix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0, help="exhaustive budget per cell")
    ap.add_argument("--max-depth", type=int, default=8)
    ap.add_argument("--max-examples", type=int, default=300)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write each cell as a JSON line here")
    args = ap.parse_args()
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
