"""What judging one explored state costs (settling, then the property's check), and a
differential record to show that making it cheaper changed no simulated behaviour.

    python bench/bench_judge_state.py time [--runs 3]
        finish() and judge() alone, per state, over the distinct states of three searches
        (lf-pin-after-write read-your-writes depth 3, leaderless-quorum linearizable
        depth 2, ml-lww convergence depth 2); CPU time, the least of --runs.
    python bench/bench_judge_state.py schedules OUT.json [--seed 1234] [--walks 80] [--steps 10]
        schedules for every design in DESIGNS: all of depth 1, a sample of depth 2 and
        random walks, drawn from enabled_steps.
    PYTHONHASHSEED=0 python bench/bench_judge_state.py record SCHEDULES.json OUT.json
        for each schedule, before and after finish() (with and without audit reads): the
        history, fingerprint, message ids, clock, counters, random state, acknowledgements,
        and every applicable property's verdict and explanation; plus seeded runs.
    python bench/bench_judge_state.py compare A.json B.json
        the records that differ (none: byte-identical behaviour and verdicts).

Record with the old code (e.g. an unpacked ``git archive`` of it on PYTHONPATH) and the
new, then compare. PYTHONHASHSEED=0 because a fingerprint pickles sets, whose order
depends on string hashing (fingerprints are compared within one process in a search).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import time
from typing import Any

from replicheck.model.config import parse_config
from replicheck.model.config import run as seeded_run
from replicheck.model.designs import DESIGNS, not_applicable
from replicheck.model.exhaustive import clone, enabled_steps, fingerprint
from replicheck.model.machines import NEEDS_AUDIT, PROPERTIES, judge
from replicheck.model.schedules import ConfigError, Design, SimulatedCluster

SEARCHES = [("lf-pin-after-write", "read-your-writes", 3), ("leaderless-quorum", "linearizable", 2)]
SEARCHES.append(("ml-lww", "convergence", 2))


def _digest(x: Any) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True, default=repr).encode()).hexdigest()[:20]


def distinct_states(design: str, depth: int) -> list[SimulatedCluster]:
    """The distinct states an exhaustive search of ``depth`` judges (past the root's
    no-write shortcut), breadth first."""
    root = SimulatedCluster(Design.parse(DESIGNS[design]), 0)
    seen = {fingerprint(root)}
    out, frontier = [root], [root]
    for _ in range(depth):
        nxt = []
        for s in frontier:
            for step in enabled_steps(s):
                c = clone(s)
                try:
                    c.apply(step)
                except ConfigError:
                    continue
                fp = fingerprint(c)
                if fp not in seen:
                    seen.add(fp)
                    nxt.append(c)
        out += nxt
        frontier = nxt
    return [s for s in out if s._next_value]


def time_states(runs: int) -> None:
    for design, prop, depth in SEARCHES:
        states = distinct_states(design, depth)
        settle, check = [], []
        for _ in range(runs):
            copies = [clone(s) for s in states]
            t0 = time.process_time()
            for c in copies:
                c.finish(audit=prop in NEEDS_AUDIT)
            t1 = time.process_time()
            for c in copies:
                judge(c, prop)
            t2 = time.process_time()
            settle.append(t1 - t0)
            check.append(t2 - t1)
        n = len(states)
        print(
            f"{design} {prop} depth {depth}: {n} states settled and judged; "
            f"finish {min(settle) * 1e3 / n:.3f} ms, judge {min(check) * 1e3 / n:.3f} ms a state "
            f"(CPU, least of {runs})"
        )


def make_schedules(seed: int, walks: int, steps: int) -> dict[str, list[list[dict]]]:
    rnd = random.Random(seed)
    out = {}
    for name, text in DESIGNS.items():
        root = SimulatedCluster(Design.parse(text), 0)
        first = enabled_steps(root)
        scheds = [[s] for s in first]
        for _ in range(120):
            s1 = rnd.choice(first)
            c = clone(root)
            c.apply(s1)
            scheds.append([s1, rnd.choice(enabled_steps(c))])
        for _ in range(walks):
            c = clone(root)
            sched = []
            for _ in range(rnd.randint(3, steps)):
                s = rnd.choice(enabled_steps(c))
                try:
                    c.apply(s)
                except ConfigError:
                    continue
                sched.append(s)
            scheds.append(sched)
        out[name] = scheds
    return out


def _state(c: SimulatedCluster) -> dict:
    sim = c.sim
    return {
        "events": _digest(c.events),
        "fingerprint": fingerprint(c).hex(),
        "stats": dict(sim.stats),
        "next_msg": sim._next_msg,
        "seq": sim._seq,
        "now": sim.now,
        "pending": [m.id for m in sim.pending()],
        "faults": _digest(sim.faults),
        "acks": _digest(c.acks),
        "rng": _digest(sim.rng.getstate()),
    }


def _timeless(text: str) -> str:
    return re.sub(r"\d+(\.\d+)? (ms|s)\b", "T", text or "")  # reports print elapsed times


def record(schedules: dict[str, list[list[dict]]]) -> dict:
    res: dict = {}
    for name, scheds in schedules.items():
        design = Design.parse(DESIGNS[name])
        rows = []
        for sched in scheds:
            c = SimulatedCluster(design, 0)
            for step in sched:
                c.apply(step)
            row = {"before": _state(c)}
            for audit in (False, True):
                done = clone(c)
                done.finish(audit=audit)
                row[f"settled, audit={audit}"] = _state(done)
                for prop in PROPERTIES:
                    if (prop in NEEDS_AUDIT) == audit and not not_applicable(design, prop):
                        j = judge(done, prop)
                        row[prop] = [repr(j.holds), _timeless(j.explanation)]
            rows.append(row)
        res[name] = rows
    seeded = {}
    for name, text in DESIGNS.items():
        for seed in range(4):
            r = seeded_run(
                parse_config(f"{text} --seed {seed} --ops 40 --loss 0.05 --duplicate 0.05 --reorder 0.1")
            )
            seeded[f"{name} seed {seed}"] = [
                _digest(r.events),
                _digest(r.final_states),
                _digest(r.network),
                r.end_ms,
                _digest(r.faults),
            ]
    res["seeded runs"] = seeded
    return res


def compare(a: dict, b: dict) -> int:
    bad = 0
    for name in a:
        if name == "seeded runs":
            for k in a[name]:
                if a[name][k] != b[name].get(k):
                    bad += 1
                    print(f"{k}: {a[name][k]} != {b[name].get(k)}")
            continue
        assert len(a[name]) == len(b[name]), name
        for i, (x, y) in enumerate(zip(a[name], b[name])):
            if x != y:
                bad += 1
                for k in x:
                    if x[k] != y.get(k) and bad < 10:
                        print(f"{name} schedule {i} {k}:\n  {x[k]}\n  {y.get(k)}")
    total = sum(len(v) for v in a.values())
    print(f"{bad} of {total} records differ")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["time", "schedules", "record", "compare"])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--walks", type=int, default=80)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    if args.mode == "time":
        time_states(args.runs)
    elif args.mode == "schedules":
        with open(args.files[0], "w") as fh:
            json.dump(make_schedules(args.seed, args.walks, args.steps), fh)
    elif args.mode == "record":
        with open(args.files[0]) as fh:
            schedules = json.load(fh)
        with open(args.files[1], "w") as fh:
            json.dump(record(schedules), fh, indent=0)
    else:
        with open(args.files[0]) as a, open(args.files[1]) as b:
            raise SystemExit(1 if compare(json.load(a), json.load(b)) else 0)


if __name__ == "__main__":
    main()
