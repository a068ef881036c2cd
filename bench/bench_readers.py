"""How fast each format is read: events per second and the time for the whole file.

Generates seeded kv and cas-register histories with bench/gen_histories.py, writes each
as JSON Lines, a JSON array, Jepsen EDN (a stream of maps, a Knossos-style vector and
#jepsen.history.Op records) and Jepsen log lines, then times read_history on each: CPU
and wall medians of --repeat runs (CPU is what to compare on a shared machine). Target:
every format >= 200k events/s. Also times the whole shared corpus.

--reference also times the readers replicheck had before checker/edn.py (edn_format, a
PLY parser; tests/edn_reference.py) on the EDN and log files: slow, so on --ref-ops ops.

Run: .venv/bin/python bench/bench_readers.py [--ops 50000] [--repeat 5] [--reference]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from gen_histories import generate, write_history

from replicheck.checker import formats, read_history

CORPUS = Path(os.environ.get("REPLICHECK_CORPUS", HERE.parent.parent / "shared" / "corpus"))


def variants(directory: Path, spec: str, n_ops: int) -> list[Path]:
    """One history in every layout a tester brings."""
    gen = generate(spec, n_ops, seed=1)
    out = []
    for fmt in ("jsonl", "edn", "log"):
        path = directory / f"{spec}.{fmt}"
        write_history(gen, path, fmt)
        out.append(path)
    jsonl = (directory / f"{spec}.jsonl").read_text().splitlines()
    events = [line for line in jsonl if '"replicheck"' not in line]
    array = directory / f"{spec}.json"
    array.write_text("[\n" + ",\n".join(events) + "\n]\n")
    out.append(array)
    maps = [line for line in (directory / f"{spec}.edn").read_text().splitlines() if line.startswith("{")]
    vector = directory / f"{spec}-vector.edn"
    vector.write_text("[" + "\n ".join(maps) + "]\n")
    records = directory / f"{spec}-records.edn"
    records.write_text("".join(f"#jepsen.history.Op{m}\n" for m in maps))
    return out + [vector, records]


def time_read(path: Path, repeat: int) -> tuple[int, float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        gc.collect()
        c, w = time.process_time(), time.perf_counter()
        h = read_history(path)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
        n = len(h.events)
        del h
    return n, statistics.median(cpu), statistics.median(wall)


def report(label: str, n: int, cpu: float, wall: float) -> None:
    print(
        f"  {label:28s} {n:8d} events  {n / cpu / 1000:6.0f}k events/s  "
        f"cpu {cpu:6.3f} s  wall {wall:6.3f} s  (100k events: {cpu * 100_000 / n:.2f} s cpu)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=50_000, help="operations per history (2 events each)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reference", action="store_true", help="also time the edn_format-based readers")
    ap.add_argument("--ref-ops", type=int, default=5_000)
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"medians of {args.repeat}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for spec in ("kv", "cas-register"):
            print(f"{spec}, {args.ops} ops:")
            for path in variants(Path(tmp), spec, args.ops):
                report(path.name, *time_read(path, args.repeat))
        if args.reference:
            import edn_reference

            new = (formats._read_edn, formats._read_log)
            for spec in ("kv", "cas-register"):
                print(f"{spec}, {args.ref_ops} ops, edn_format-based readers (before checker/edn.py):")
                for path in variants(Path(tmp), spec, args.ref_ops):
                    if path.suffix not in (".edn", ".log"):
                        continue
                    formats._read_edn = lambda text, path, progress=None: edn_reference._read_edn(text, path)
                    formats._read_log = lambda text, path, progress=None: edn_reference._read_log(text, path)
                    try:
                        report(path.name + " (old)", *time_read(path, 1))
                    finally:
                        formats._read_edn, formats._read_log = new
                    report(path.name + " (new)", *time_read(path, args.repeat))
    files = sorted(p for p in CORPUS.glob("*/*") if re.search(r"\.(log|edn|txt)$", p.name))
    if files:
        c, w = time.process_time(), time.perf_counter()
        n = sum(len(read_history(p).events) for p in files)
        print(
            f"corpus: {len(files)} files, {n} events: cpu {time.process_time() - c:.3f} s, "
            f"wall {time.perf_counter() - w:.3f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
