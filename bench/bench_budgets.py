"""Do the budgets hold? For each case, the time to answer and the peak RSS against the
limit, on adversarial inputs that would otherwise grow by gigabytes a second, run for
minutes, or never end. Each run is a fresh `replicheck` process; figures are medians.

    python bench/bench_budgets.py [--runs 3] [--ops 300000] [--only NAME]

Check cases (single-key searches must try every order of every subset of the crashed
ops before they could call the last read impossible):
- kv-1MB: 11 crashed kv appends of 1 MB strings and a get of "nope" (issue 18);
- kv-seen: the same appends, all shown by the get (no prune applies), in no findable order;
- set: 24 crashed adds, all shown by the read with one element never added;
- blob: a test spec whose every crashed append adds a 1 MB block (14 of them);
- slow: the same with 50 ms of computing per step (1,024 steps are most of a minute);
- endless: a spec whose prune never returns (the work before the search);
- big: a generated kv history (--ops, 100 keys, 1% crashed), linearizability and
  sequential consistency, with a --timeout shorter than reading and checking take.
Quorum cases: threshold systems at and past the node limit, and a 1000x1000 grid.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SPECS = """
class Blob:
    name = "blob"

    def init(self):
        return b""

    def step(self, state, op):
        if op.f == "append":
            return True, state + bytes([op.value % 256]) * 1_000_000
        return op.output == len(state), state


class Slow(Blob):
    def step(self, state, op):
        import time

        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
        return super().step(state, op)


class Endless(Blob):
    def prune(self, ops):
        while True:
            pass
"""

WRAPPER = textwrap.dedent("""
    import json, resource, subprocess, sys, time
    t = time.monotonic()
    try:
        r = subprocess.run(sys.argv[1:], capture_output=True, timeout=600)
        code = r.returncode
    except subprocess.TimeoutExpired:
        code = None
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps([code, peak, time.monotonic() - t]))
""")


def write_histories(d: Path, ops: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from gen_histories import generate, write_history

    (d / "budgetspecs.py").write_text(SPECS)
    appends = [{"process": p, "type": "invoke", "f": "append", "key": "k", "value": chr(97 + p) * 1_000_000}
               for p in range(11)]  # fmt: skip
    get = {"process": 99, "type": "invoke", "f": "get", "key": "k", "value": None}
    with open(d / "kv.jsonl", "w") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in appends)
        fh.write(json.dumps(get) + "\n" + json.dumps({**get, "type": "ok", "value": "nope"}) + "\n")
    with open(d / "kv-seen.jsonl", "w") as fh:
        seen = "".join(e["value"] for e in appends) + "X"
        fh.writelines(json.dumps(e) + "\n" for e in appends)
        fh.write(json.dumps(get) + "\n" + json.dumps({**get, "type": "ok", "value": seen}) + "\n")
    with open(d / "set.jsonl", "w") as fh:
        for p in range(24):
            fh.write(json.dumps({"process": p, "type": "invoke", "f": "add", "value": p}) + "\n")
        fh.write('{"process": 99, "type": "invoke", "f": "read", "value": null}\n')
        fh.write(json.dumps({"process": 99, "type": "ok", "f": "read", "value": [*range(24), -1]}) + "\n")
    with open(d / "blob.jsonl", "w") as fh:
        for p in range(14):
            fh.write(json.dumps({"process": p, "type": "invoke", "f": "append", "value": p}) + "\n")
        fh.write('{"process": 99, "type": "invoke", "f": "read", "value": null}\n')
        fh.write('{"process": 99, "type": "ok", "f": "read", "value": -1}\n')
    write_history(generate("kv", ops, keys=100, crash=0.01, seed=1), d / "big.jsonl")


def run(d: Path, args: list[str]) -> tuple[int | None, float, float]:
    cmd = [sys.executable, "-c", "import sys; from replicheck.cli.main import main; sys.exit(main())", *args]
    env = {**os.environ, "PYTHONPATH": str(d)}
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, cwd=d, env=env, check=True
    )
    code, peak, elapsed = json.loads(out.stdout)
    return code, peak / 1e6, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ops", type=int, default=300_000, help="operations in the generated history")
    ap.add_argument("--only", help="run only the cases whose name starts with this")
    opts = ap.parse_args()
    runs = opts.runs
    # A process that imports replicheck and exits: what a run costs before any budget.
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "import replicheck.cli.main"], check=True)
    print(
        f"startup (import only): {time.monotonic() - t:.2f} s; medians of {runs}; "
        f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (machine shared)"
    )
    c = ["check", "--no-progress"]
    big = f"big-{opts.ops // 1000}k"
    # (name, args, memory limit MB or None, timeout s or None)
    cases: list[tuple[str, list[str], float | None, float | None]] = [
        ("kv-1MB", [*c, "kv.jsonl", "--spec", "kv", "--memory", "200", "--timeout", "2"], 200, 2),
        ("kv-seen", [*c, "kv-seen.jsonl", "--spec", "kv", "--memory", "200", "--timeout", "2"], 200, 2),
        ("kv-seen", [*c, "kv-seen.jsonl", "--spec", "kv", "--memory", "300"], 300, None),
        ("set", [*c, "set.jsonl", "--spec", "set", "--memory", "150"], 150, None),
        ("set", [*c, "set.jsonl", "--spec", "set", "--timeout", "2"], None, 2),
        ("blob", [*c, "blob.jsonl", "--spec", "budgetspecs:Blob", "--memory", "300"], 300, None),
        ("blob", [*c, "blob.jsonl", "--spec", "budgetspecs:Blob", "--memory", "1000"], 1000, None),
        *[
            ("slow", [*c, "blob.jsonl", "--spec", "budgetspecs:Slow", "--timeout", str(t)], None, t)
            for t in (1, 2, 5)
        ],
        ("endless", [*c, "blob.jsonl", "--spec", "budgetspecs:Endless", "--timeout", "1"], None, 1),
        (big, [*c, "big.jsonl", "--timeout", "2"], None, 2),
        (big, [*c, "big.jsonl", "--timeout", "5"], None, 5),
        (big, [*c, "big.jsonl", "--memory", "150"], 150, None),
        (big + " seq", [*c, "big.jsonl", "--consistency", "sequential", "--timeout", "5"], None, 5),
        ("quorum N=1e5", ["quorum", "check", "--nodes", "100000", "-w", "50001", "-r", "50000"], None, None),
        (
            "quorum N=1e6",
            ["quorum", "check", "--nodes", "1000000", "-w", "500001", "-r", "500000"],
            None,
            None,
        ),
        ("quorum N=1e9", ["quorum", "check", "--nodes", "1000000000", "-w", "2", "-r", "2"], None, None),
        ("quorum 1000x1000", ["quorum", "check", "--grid", "1000x1000"], None, None),
        ("quorum 30x30", ["quorum", "check", "--grid", "30x30"], None, None),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_histories(d, opts.ops)
        head = ["case".ljust(16), "budget".ljust(22), "exit", "answer (s)", "  over", " peak RSS", "of limit"]
        print(" ".join(head))
        for name, args, memory, timeout in cases:
            if opts.only and not name.startswith(opts.only):
                continue
            res = [run(d, args) for _ in range(runs)]
            peak = statistics.median(r[1] for r in res)
            elapsed = statistics.median(r[2] for r in res)
            budget = " ".join(x for x in [f"--memory {memory:g}" if memory else "",
                                          f"--timeout {timeout:g}" if timeout else ""] if x)  # fmt: skip
            over = f"{elapsed - timeout:+.2f}" if timeout else ""
            share = f"{peak / memory:.0%}" if memory else ""
            codes = sorted({str(r[0]) for r in res})
            print(
                f"{name:16} {budget or '-':22} {'/'.join(codes):>4} {elapsed:10.2f} {over:>6} "
                f"{peak:6.0f} MB {share:>8}"
            )
    print("answer: whole process, startup included; over: answer minus --timeout; exit 2: refused")


if __name__ == "__main__":
    main()
