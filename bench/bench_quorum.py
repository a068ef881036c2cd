"""Figures for `replicheck quorum`: solver time per encoding and system size.

Prints medians of --repeat runs (default 3); asserts nothing about time. Run with
``python bench/bench_quorum.py [--repeat 3] [--per-node-timeout-ms 5000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from replicheck import quorum as q


def timed(fn, repeat: int):
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - start) * 1000)
        if any(r.status == q.UNKNOWN_VERDICT for r in result.results):
            break  # a time-out costs the whole budget and says all there is to say
    return statistics.median(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-node-timeout-ms", type=int, default=5_000)
    args = parser.parse_args()
    claims = [q.Intersects("read", "write"), q.Intersects("write", "write")]

    # Warm-up: the first solver call pays for loading z3 and creating its context.
    start = time.perf_counter()
    q.check(q.threshold(3, 2, 2), claims)
    print(f"start-up (import z3 + first check): {(time.perf_counter() - start) * 1000:.0f} ms\n")

    print(f"counting encoding, majority threshold, 2 intersection claims (median of {args.repeat})")
    print(f"{'N':>6}  {'claims ms':>9}  {'full check ms':>13}  verdicts")
    for n in (5, 11, 21, 101, 1001):
        system = q.threshold(n, n // 2 + 1, n // 2 + 1)
        ms, report = timed(lambda: q.check(system, claims), args.repeat)
        full_ms, _ = timed(lambda: q.check(system, q.default_properties(system, f=n // 2)), args.repeat)
        print(f"{n:>6}  {ms:>9.1f}  {full_ms:>13.1f}  {', '.join(r.status for r in report.results)}")
    print("(full check = 2 claims + availability f=N//2 + fault tolerance + load, both kinds)\n")

    print("counting encoding, refutation: W=1 R=1 (a disjoint pair must be found and shrunk)")
    for n in (101, 1001):
        ms, report = timed(lambda: q.check(q.threshold(n, 1, 1), claims), args.repeat)
        print(f"{n:>6}  {ms:>9.1f} ms  {', '.join(r.status for r in report.results)}")
    print()

    print("3-datacenter matrix east=3,west=3,south=3: every write level x read level, full check")
    dcs = {"east": 3, "west": 3, "south": 3}
    levels = [
        "ONE",
        "TWO",
        "THREE",
        "QUORUM",
        "LOCAL_ONE@east",
        "LOCAL_QUORUM@east",
        "LOCAL_QUORUM@west",
        "EACH_QUORUM",
        "ALL",
    ]
    start = time.perf_counter()
    refuted = cells = 0
    per_cell = []
    for write in levels:
        for read in levels:
            system = q.multi_dc(dcs, write, read)
            ms, report = timed(
                lambda: q.check(system, q.default_properties(system, f=1, domain_loss=True)), 1
            )
            per_cell.append(ms)
            cells += 1
            refuted += report.results[0].status == q.REFUTED
    total = (time.perf_counter() - start) * 1000
    print(
        f"  {cells} cells in {total:.0f} ms; median cell {statistics.median(per_cell):.1f} ms, "
        f"max {max(per_cell):.1f} ms; read-write refuted in {refuted} cells\n"
    )

    print(
        f"per-node Boolean encoding, majority read-write intersection "
        f"(time limit {args.per_node_timeout_ms} ms per call; median of {args.repeat})"
    )
    print(f"{'N':>6}  {'per-node ms':>11}  {'counting ms':>11}  per-node verdict")
    for n in (15, 17, 19, 21, 31, 41, 51, 61, 71, 101):
        system = q.threshold(n, n // 2 + 1, n // 2 + 1)
        prop = [q.Intersects("read", "write")]
        ms, report = timed(
            lambda: q.check(system, prop, encoding="per-node", timeout_ms=args.per_node_timeout_ms),
            args.repeat,
        )
        counting_ms, _ = timed(lambda: q.check(system, prop), args.repeat)
        print(f"{n:>6}  {ms:>11.1f}  {counting_ms:>11.1f}  {report.results[0].status}", flush=True)
    print("(unknown = the per-node solver hit its time limit; such runs are not repeated)\n")

    print("irregular system (distinct weights 1..N, majority of votes): counting degenerates to singletons")
    for n in (6, 10, 14, 18):
        system = q.weighted({f"v{i}": i for i in range(1, n + 1)})
        ms, report = timed(lambda: q.check(system, claims, timeout_ms=args.per_node_timeout_ms), args.repeat)
        print(f"{n:>6}  {ms:>9.1f} ms  [{report.encoding}]  {', '.join(r.status for r in report.results)}")


if __name__ == "__main__":
    main()
