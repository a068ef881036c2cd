"""Recorder overhead, and recording a real PostgreSQL primary + replica under each routing.

1. No-op operations (half writes, half reads of an in-memory dict) through ``Recorder``
   from 1, 4 and 16 threads, ``durable=False``, plus one ``durable=True`` figure: events/s,
   microseconds per operation (invoke + completion, wall time / ops over all threads) and
   history bytes per operation; median of --repeat runs. Target: per-operation overhead
   well under the ~0.3-1 ms a loopback database round trip costs, so that the recorder
   does not distort what it records.
2. With --postgres: a cluster from scripts/pg-cluster.sh (--delay 100), then
   ``record_postgres`` (8 clients, 2000 ops, think 0) for each routing, median ops/s of 3
   runs, each history judged for read-your-writes. Skipped, with the reason, when the
   cluster cannot start. A wait-for-lsn history that breaks read-your-writes is a bug:
   it is kept and its path printed.

Prints figures; asserts nothing about time.
Run: .venv/bin/python bench/bench_record.py [--repeat 5] [--postgres] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from replicheck.record import Recorder

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "pg-cluster.sh"
ROUTINGS = ("primary", "replica", "pin-after-write:20", "wait-for-lsn")


def recorder_run(path: str, threads: int, ops: int, durable: bool) -> tuple[float, int]:
    """Wall seconds for ``ops`` recorded no-op operations over ``threads``, and file bytes."""
    db: dict[str, int] = {}
    per = ops // threads
    barrier = threading.Barrier(threads + 1)

    def client(rec: Recorder, i: int) -> None:
        s = rec.session(f"c{i}")
        barrier.wait()
        for n in range(per):
            key = f"u{n % 8}"
            if n % 2:
                with s.op("read", key=key, node="replica", read_only=True) as op:
                    op.ok(db.get(key))
            else:
                with s.op("write", i + threads * n, key=key, node="primary"):
                    db[key] = i + threads * n

    with Recorder(path, meta={"spec": "register"}, durable=durable) as rec:
        ts = [threading.Thread(target=client, args=(rec, i)) for i in range(threads)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        wall = time.perf_counter() - t0
    return wall, os.path.getsize(path)


def bench_recorder(args: argparse.Namespace, work: str) -> None:
    print(f"== Recorder overhead (median of {args.repeat} runs; history in {work})")
    print(f"{'threads':>8} {'durable':>8} {'ops':>7} {'events/s':>11} {'us/op':>8} {'bytes/op':>9}")
    cases = [(t, args.ops, False) for t in (1, 4, 16)] + [(1, args.durable_ops, True)]
    for threads, ops, durable in cases:
        ops -= ops % threads
        walls, size = [], 0
        for _ in range(args.repeat):
            wall, size = recorder_run(os.path.join(work, "rec.jsonl"), threads, ops, durable)
            walls.append(wall)
        wall = statistics.median(walls)
        print(
            f"{threads:>8} {str(durable):>8} {ops:>7} {2 * ops / wall:>11,.0f} "
            f"{wall / ops * 1e6:>8.1f} {size / ops:>9.1f}"
        )


def start_cluster(cdir: str, delay: int) -> tuple[str, str] | str:
    """(primary DSN, replica DSN), or why the cluster could not start."""
    try:
        p = subprocess.run(
            ["bash", str(CLUSTER), "start", cdir, "--delay", str(delay)],
            capture_output=True,
            text=True,
            timeout=180,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}: {e}"
    dsns = dict(line.split("=", 1) for line in p.stdout.splitlines() if line.endswith("'") and "=" in line)
    if p.returncode or not {"PRIMARY_DSN", "REPLICA_DSN"} <= dsns.keys():
        return (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
    return dsns["PRIMARY_DSN"].strip("'"), dsns["REPLICA_DSN"].strip("'")


def bench_postgres(args: argparse.Namespace, work: str) -> None:
    from replicheck.checker import read_history
    from replicheck.checker.consistency import RYW, check_consistency
    from replicheck.record.postgres import record_postgres

    print(
        f"\n== PostgreSQL, --delay {args.delay} ms, {args.clients} clients, {args.pg_ops} ops, think 0, "
        f"{args.pg_repeat} runs per routing (ops/s: median)"
    )
    cdir = tempfile.mkdtemp(prefix="rc-bench-")
    try:
        dsns = start_cluster(cdir, args.delay)
        if isinstance(dsns, str):
            print(f"skipped: the cluster did not start: {dsns}")
            return
        primary, replica = dsns
        print(
            f"{'routing':<20} {'ops/s':>7} {'reads p/r':>11} {'wait med/max ms':>16} "
            f"{'read-your-writes':>17} {'info/fail':>10} {'check s':>8}"
        )
        for routing in ROUTINGS:
            rates, verdicts, info, fail, checks, waits, reads = [], [], 0, 0, [], [], []
            for run in range(args.pg_repeat):
                out = os.path.join(work, f"pg-{routing.replace(':', '-')}-{run}.jsonl")
                s = record_postgres(
                    out,
                    primary=primary,
                    replicas=[replica],
                    routing=routing,
                    clients=args.clients,
                    ops=args.pg_ops,
                    think_ms=0,
                    seed=run,
                )
                if s["clients_stopped"] or s["never_completed"]:
                    print(
                        f"  !! {routing} run {run}: stopped {s['clients_stopped']}, "
                        f"never completed {s['never_completed']}"
                    )
                rates.append((s["operations"] - sum(s["final_reads"].values())) / s["seconds"])
                reads.append(f"{s['reads']['primary']}/{s['reads']['replica']}")
                info, fail = info + s["info"], fail + s["fail"]
                if "replay_wait_ms" in s:
                    waits.append((s["replay_wait_ms"]["median"], s["replay_wait_ms"]["max"]))
                history = read_history(out)
                t0 = time.perf_counter()
                ryw = check_consistency(history, models=[RYW]).models[RYW]
                checks.append(time.perf_counter() - t0)
                verdicts.append(ryw.valid)
                if ryw.valid is False and routing in ("primary", "wait-for-lsn"):
                    kept = shutil.copy(out, os.path.join(args.keep, os.path.basename(out)))
                    print(
                        f"  !!! BUG: {routing} broke read-your-writes: {ryw.witness}; history kept at {kept}"
                    )
            mid = sorted(range(len(rates)), key=rates.__getitem__)[len(rates) // 2]
            wait = (
                f"{statistics.median(w[0] for w in waits):.1f}/{max(w[1] for w in waits):.1f}"
                if waits
                else "-"
            )
            broken, unknown = sum(v is False for v in verdicts), sum(v == "unknown" for v in verdicts)
            verdict = (
                f"broken {broken}/{len(verdicts)}"
                if broken
                else f"unknown {unknown}/{len(verdicts)}"
                if unknown
                else "holds"
            )
            print(
                f"{routing:<20} {rates[mid]:>7,.0f} {reads[mid]:>11} {wait:>16} {verdict:>17} "
                f"{f'{info}/{fail}':>10} {statistics.median(checks):>8.3f}"
            )
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", cdir], capture_output=True, timeout=120)
        shutil.rmtree(cdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per recorder figure (median)")
    ap.add_argument("--ops", type=int, default=40_000, help="operations per non-durable run")
    ap.add_argument("--durable-ops", type=int, default=2_000, help="operations per durable run")
    ap.add_argument("--postgres", action="store_true", help="also record a real primary + replica")
    ap.add_argument("--delay", type=int, default=100, help="replica apply delay, ms")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--pg-ops", type=int, default=2000)
    ap.add_argument("--pg-repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where histories go (default: a temp dir, deleted)")
    ap.add_argument("--keep", default=tempfile.gettempdir(), help="where a violating history is copied")
    args = ap.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="rc-bench-hist-")
    os.makedirs(work, exist_ok=True)
    try:
        bench_recorder(args, work)
        if args.postgres:
            bench_postgres(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
