"""What one configuration of the linearizability search costs as histories grow.

The search's work is (configurations explored) x (cost of one). The first depends on
the history's concurrency and values; the second should not depend on its length. This
prints, for single-key cas-register histories of growing size (bench/gen_histories.py,
linearizable by construction), the search time (wall and CPU: the machine may be shared),
the configurations and the CPU microseconds per configuration. Seeded; same seed, same
histories.

Run: .venv/bin/python bench/bench_search_steps.py [--sizes 10000,50000,100000] [--values 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_histories import generate

from replicheck.checker import History
from replicheck.checker.history import no_gc
from replicheck.checker.linearizable import Budget, check_ops
from replicheck.checker.specs import make_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--values", default="unique", help="unique, or how many distinct values writes draw from")
    ap.add_argument("--crash", type=float, default=0.01)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    values = None if args.values == "unique" else int(args.values)
    print(
        f"seed {args.seed}: cas-register, values {args.values}, crash {args.crash}, "
        f"concurrency {args.concurrency}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        gen = generate(
            "cas-register", n, concurrency=args.concurrency, crash=args.crash, values=values, seed=args.seed
        )
        history = History.from_events(gen.events())
        with no_gc():
            wall, cpu = time.perf_counter(), time.process_time()
            res = check_ops(
                history.ops, make_spec("cas-register"), Budget(timeout=None, max_memory_mb=None), jobs=1
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{n:>8} ops  {res.valid!s:>5}  {res.configs:>8} configs  wall {wall:6.2f} s  "
            f"cpu {cpu:6.2f} s  {cpu / max(res.configs, 1) * 1e6:5.1f} us/config",
            flush=True,
        )


if __name__ == "__main__":
    main()
