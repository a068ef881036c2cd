"""How the search scales: seeded random histories from a truly atomic register.

Each history comes from clients doing reads, writes and cas against one atomic
register, each op taking effect at a random point inside its interval; some ops crash
(info) and some fail. So every history is linearizable and the search must find the
witness. Prints check time (median of --repeat) per size. Seed printed; same seed, same
histories.

Run: .venv/bin/python bench/bench_scale.py [--sizes 1000,5000,20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time

from replicheck.checker import History, check


def atomic_register_history(n_ops: int, processes: int, rng: random.Random, crash: float = 0.03,
                            values: int = 5) -> History:
    state = None
    events = []
    clock = 0
    # (time of next action, process, phase, op)
    queue: list = []
    next_pid = processes
    for p in range(processes):
        heapq.heappush(queue, (rng.random(), p, "invoke", None))
    issued = 0
    while queue:
        t, p, phase, op = heapq.heappop(queue)
        clock += 1
        if phase == "invoke":
            if issued >= n_ops:
                continue
            issued += 1
            f = rng.choice(["read", "write", "cas"])
            value = None if f == "read" else rng.randrange(values) if f == "write" else (rng.randrange(values), rng.randrange(values))
            events.append({"process": p, "type": "invoke", "f": f, "value": value})
            heapq.heappush(queue, (t + rng.random(), p, "effect", [f, value, None]))
        elif phase == "effect":
            f, value, _ = op
            ok = True
            if f == "read":
                op[2] = state
            elif f == "write":
                state = value
            elif state == value[0]:
                state = value[1]
            else:
                ok = False
            op.append(ok)
            heapq.heappush(queue, (t + rng.random(), p, "complete", op))
        else:
            f, value, out, ok = op
            if rng.random() < crash:
                events.append({"process": p, "type": "info", "f": f, "value": value})
                p = next_pid  # Jepsen: a crashed process is replaced by a new one
                next_pid += 1
            elif f == "read":
                events.append({"process": p, "type": "ok", "f": f, "value": out})
            else:
                events.append({"process": p, "type": "ok" if ok else "fail", "f": f, "value": value})
            heapq.heappush(queue, (t + rng.random(), p, "invoke", None))
    return History.from_events(events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--processes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--values", type=int, default=5,
                    help="size of the value domain (Jepsen's etcd test uses 5; a large one makes writes unique)")
    args = ap.parse_args()
    print(f"seed {args.seed}, {args.processes} processes, cas-register, {args.values} values, 3% crashes")
    for n in map(int, args.sizes.split(",")):
        h = atomic_register_history(n, args.processes, random.Random(args.seed * 1_000_003 + n), values=args.values)
        times, result = [], None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = check(h, "cas-register", timeout=args.timeout)
            times.append(time.perf_counter() - t0)
        crashed = sum(op.crashed for op in h.ops)
        print(f"{n:7} ops ({crashed} crashed): {result.valid!s:7} {statistics.median(times) * 1000:9.1f} ms "
              f"{result.configs:9} configs")


if __name__ == "__main__":
    main()
