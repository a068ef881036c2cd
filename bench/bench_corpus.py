"""Check the shared corpus and print per-file check time, the total and peak memory.

Check time excludes parsing. Each file is checked --repeat times and the median kept;
the total is the sum of medians. Run: .venv/bin/python bench/bench_corpus.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

from replicheck.checker import check, read_history

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("REPLICHECK_CORPUS", HERE.parent.parent / "shared" / "corpus"))

# folder -> (spec, init) as the corpus README prescribes
JUDGE = {
    "jepsen-etcd": ("cas-register", None),
    "knossos": ("cas-register", 0),
    "porcupine-kv": ("kv", ""),
}


def corpus_files() -> list[tuple[Path, str, object]]:
    files = []
    for folder, (spec, init) in JUDGE.items():
        for p in sorted((CORPUS / folder).glob("*")):
            if p.suffix in (".log", ".edn", ".txt"):
                files.append((p, spec, init))
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--top", type=int, default=10, help="show the N slowest files")
    args = ap.parse_args()
    files = corpus_files()
    if not files:
        print(f"corpus not found at {CORPUS}; set REPLICHECK_CORPUS")
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []
    for path, spec, init in files:
        history = read_history(path)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = check(history, spec, init=init)
            times.append(time.perf_counter() - t0)
        rows.append((statistics.median(times), path, result))
    total = sum(t for t, _, _ in rows)
    rows.sort(key=lambda r: -r[0])
    print(f"{'file':28} {'verdict':8} {'ops':>5} {'configs':>8} {'ms':>8}")
    for t, path, result in rows[: args.top]:
        print(f"{path.parent.name + '/' + path.name:28} {str(result.valid):8} {result.ops:5} {result.configs:8} {t * 1000:8.2f}")
    print(f"files: {len(rows)}  total check time: {total * 1000:.1f} ms (median of {args.repeat} per file)  "
          f"slowest: {rows[0][1].name} {rows[0][0] * 1000:.2f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process, interpreter included): {peak:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
