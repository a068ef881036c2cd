"""Consistency models on a big list-append history, timed as a user runs them.

Generates (untimed) a simulated async leader-follower history with replica reads:
100,000 list-append operations over 1,000 keys by 10 clients. Then, for each model and
for `all`, runs the whole process `replicheck check FILE --consistency MODEL` three
times and prints the median wall time and the peak memory (start-up and parsing
included). Target (issue 4): each under 10 s on the 2-core machine. Prints figures;
asserts nothing about time.

Usage: python bench/bench_consistency.py [--ops N] [--keys K] [--seed S] [--runs R] [MODEL ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from replicheck.checker.consistency import CHOICES


def _replicheck() -> list[str]:
    # the console script of the running interpreter's environment, else the module
    exe = os.path.join(os.path.dirname(sys.executable), "replicheck")
    if os.path.exists(exe):
        return [exe]
    found = shutil.which("replicheck")
    return [found] if found else [sys.executable, "-c", "from replicheck.cli.main import main; main()"]


def _timed(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak resident MB of the child, exit code."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's own peak memory
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code == 2:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read().decode()}")
    return wall, usage.ru_maxrss / 1024, code  # ru_maxrss is in KB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=[m for m in CHOICES if m != "all"] + ["all"])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tool = _replicheck()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "la.jsonl")
        gen = [
            *tool,
            "simulate",
            "leader-follower",
            "--workload",
            "list-append",
            "--keys",
            str(args.keys),
            "--ops",
            str(args.ops),
            "--clients",
            str(args.clients),
            "--replication",
            "async",
            "--reads",
            "replica",
            "--seed",
            str(args.seed),
            "--out",
            path,
        ]
        print(
            f"seed {args.seed}: generating {args.ops} list-append ops over {args.keys} keys "
            f"(not timed): {' '.join(gen[len(tool) :])}",
            flush=True,
        )
        subprocess.run(gen, check=True, stdout=subprocess.DEVNULL)
        print(f"{'model':<20} {'median s':>9} {'runs s':>22} {'peak MB':>8}  exit")
        for model in args.models:
            runs = [_timed([*tool, "check", path, "--consistency", model]) for _ in range(args.runs)]
            walls = [w for w, _, _ in runs]
            peak = max(m for _, m, _ in runs)
            print(
                f"{model:<20} {statistics.median(walls):>9.2f} {' '.join(f'{w:.2f}' for w in walls):>22} "
                f"{peak:>8.0f}  {runs[-1][2]}",
                flush=True,
            )


if __name__ == "__main__":
    main()
