"""Whole-process time of `replicheck check` on a small bundled history.

Start-up matters for a command run on many files: it must not import z3, networkx or
hypothesis. Prints the median of --runs and the heavy modules, if any, that got loaded.
Run: .venv/bin/python bench/bench_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("z3", "networkx", "hypothesis", "edn_format")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    history = ROOT / "histories" / "leader-reads.jsonl"
    cmd = [sys.executable, "-m", "replicheck.cli.main", "check", str(history)]
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    probe = (
        "import sys, runpy; sys.argv = ['replicheck', 'check', %r]\n"
        "try:\n    runpy.run_module('replicheck.cli.main', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('HEAVY:' + ' '.join(m for m in %r if m in sys.modules))"
    ) % (str(history), HEAVY)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    loaded = [ln[len("HEAVY:") :] for ln in out.splitlines() if ln.startswith("HEAVY:")]
    print(
        f"replicheck check {history.name}: median {statistics.median(times) * 1000:.0f} ms over {args.runs} runs "
        f"(min {min(times) * 1000:.0f} ms)"
    )
    print(f"heavy modules loaded: {loaded[0] if loaded and loaded[0] else 'none'}")


if __name__ == "__main__":
    main()
