"""Do the budgets hold? Peak RSS against --memory, and elapsed time against --timeout,
on adversarial histories whose searches would otherwise grow by gigabytes a second or
run for minutes. Each run is a fresh `replicheck check` process; figures are medians.

    python bench/bench_budgets.py [--runs 3]

Adversaries (all single-key, the search must try every order of every subset of the
crashed ops before it could call the last read impossible):
- kv-1MB: 11 crashed kv appends of 1 MB strings and a get of "nope" (issue 18);
- blob: a test spec whose every crashed append adds a 1 MB block (14 of them);
- slow: the same with 50 ms of computing per step (1,024 steps are most of a minute).
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
"""

WRAPPER = textwrap.dedent("""
    import json, resource, subprocess, sys, time
    t = time.monotonic()
    r = subprocess.run(sys.argv[1:], capture_output=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps([r.returncode, peak, time.monotonic() - t]))
""")


def write_histories(d: Path) -> None:
    (d / "budgetspecs.py").write_text(SPECS)
    with open(d / "kv.jsonl", "w") as fh:
        for p in range(11):
            value = chr(97 + p) * 1_000_000
            event = {"process": p, "type": "invoke", "f": "append", "key": "k", "value": value}
            fh.write(json.dumps(event) + "\n")
        fh.write('{"process": 99, "type": "invoke", "f": "get", "key": "k", "value": null}\n')
        fh.write('{"process": 99, "type": "ok", "f": "get", "key": "k", "value": "nope"}\n')
    with open(d / "blob.jsonl", "w") as fh:
        for p in range(14):
            fh.write(json.dumps({"process": p, "type": "invoke", "f": "append", "value": p}) + "\n")
        fh.write('{"process": 99, "type": "invoke", "f": "read", "value": null}\n')
        fh.write('{"process": 99, "type": "ok", "f": "read", "value": -1}\n')


def run(d: Path, args: list[str]) -> tuple[int, float, float]:
    cmd = [
        sys.executable,
        "-c",
        "import sys; from replicheck.cli.main import main; sys.exit(main())",
        "check",
        "--quiet",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(d)}
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, cwd=d, env=env, check=True
    )
    code, peak, elapsed = json.loads(out.stdout)
    return code, peak / 1e6, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    runs = ap.parse_args().runs
    # A process that imports replicheck and exits: what a run costs before any budget.
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "import replicheck.cli.main"], check=True)
    print(f"startup (import only): {time.monotonic() - t:.2f} s; machine shared, medians of {runs}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_histories(d)
        for name, args, budget in [
            ("kv-1MB", ["kv.jsonl", "--spec", "kv", "--memory", "200", "--timeout", "2"], 200),
            ("kv-1MB", ["kv.jsonl", "--spec", "kv", "--memory", "300"], 300),
            ("blob", ["blob.jsonl", "--spec", "budgetspecs:Blob", "--memory", "300"], 300),
            ("blob", ["blob.jsonl", "--spec", "budgetspecs:Blob", "--memory", "1000"], 1000),
        ]:
            res = [run(d, args) for _ in range(runs)]
            peak = statistics.median(r[1] for r in res)
            print(
                f"{name:7} --memory {budget:5}: exit {res[0][0]}, peak RSS {peak:6.0f} MB "
                f"({peak / budget:.0%} of budget), {statistics.median(r[2] for r in res):.2f} s"
            )
        for timeout in (1, 2, 5):
            res = [
                run(d, ["blob.jsonl", "--spec", "budgetspecs:Slow", "--timeout", str(timeout)])
                for _ in range(runs)
            ]
            elapsed = statistics.median(r[2] for r in res)
            print(
                f"slow    --timeout {timeout}: exit {res[0][0]}, {elapsed:.2f} s whole process "
                f"(over by {elapsed - timeout:.2f} s, startup included)"
            )


if __name__ == "__main__":
    main()
