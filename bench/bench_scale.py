"""How `replicheck check` scales: large generated histories, each judged in a fresh process.

Per size, workload and format it prints the median over --repeat runs of

- parse: ``read_history`` alone, timed inside its own subprocess;
- check: the search, as the check's ``--json`` reports it (``elapsed``);
- whole: wall time of the whole ``replicheck check --json`` process (start-up, imports,
  parsing, search, output);
- RSS: that process's peak resident memory (``os.wait4``'s rusage of that child alone);
- the verdict, configurations, configurations per second and the cost of one.

Workloads (bench/gen_histories.py, seeded, the seed printed): ``kv`` over 1,000 keys with
1% of ops crashed, and ``cas`` a single-key cas-register (1% crashed). Histories are
linearizable unless --invalid (one certain stale read; both are then measured).
Generated files are cached in --dir, so repeated runs of the bench skip generation.

Each run gets ``--timeout`` seconds (passed to replicheck as its budget, and a hard kill
a little later, since parsing is not under the budget): past it the row says
"unknown after T s" and is not repeated.

Run: .venv/bin/python bench/bench_scale.py [--sizes 10k,100k] [--workloads kv,cas]
     [--formats jsonl,edn,log] [--repeat 3] [--timeout 120] [--invalid]
     [--replicheck OTHER/.venv/bin/replicheck]   (compare another worktree's code)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_histories as gh

WORKLOADS: dict[str, dict[str, Any]] = {
    "kv": {"spec": "kv", "keys": 1000, "crash": 0.01, "concurrency": 10},
    "cas": {"spec": "cas-register", "crash": 0.01, "concurrency": 10},
}

_PARSE = (
    "import sys, time\n"
    "from replicheck.checker import read_history\n"
    "t = time.perf_counter()\n"
    "h = read_history(sys.argv[1], independent=sys.argv[2] == '1')\n"
    "print(time.perf_counter() - t, len(h.ops))\n"
)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * mult)


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# The replicheck under test: the console script next to this interpreter (what a user
# runs), or --replicheck's, with the interpreter beside it for the parse-only runs.
PYTHON = sys.executable


def replicheck_cmd() -> list[str]:
    script = Path(PYTHON).with_name("replicheck")
    if script.exists():
        return [str(script)]
    return [PYTHON, "-c", "from replicheck.cli.main import main; main()"]


@dataclass
class Run:
    wall: float
    rss_mb: float
    returncode: int | None  # None: killed at the deadline
    stdout: str
    stderr: str


def run_measured(cmd: list[str], deadline: float) -> Run:
    """Run ``cmd``; wall time, and peak RSS of this child alone (``os.wait4``)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(deadline, kill)
    timer.start()
    out: list[str] = []
    err: list[str] = []
    # read both pipes while the child runs, or a large output would block it
    readers = [
        threading.Thread(target=lambda s=s, b=b: b.append(s.read()))
        for s, b in ((proc.stdout, out), (proc.stderr, err))
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    timer.cancel()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    return Run(
        wall, usage.ru_maxrss / 1024, None if killed.is_set() else proc.returncode, "".join(out), "".join(err)
    )


@dataclass
class Row:
    workload: str
    size: int
    fmt: str
    expected: str
    verdict: str = ""
    parse: float | None = None
    check: float | None = None
    whole: float | None = None
    rss: float | None = None
    configs: int | None = None
    note: str = ""


def measure(path: Path, flags: list[str], repeat: int, timeout: float) -> Row:
    row = Row("", 0, "", "")
    independent = "--independent" in flags
    parses, checks, wholes, rsss = [], [], [], []
    deadline = timeout * 1.5 + 10
    for _ in range(repeat):
        r = run_measured([PYTHON, "-c", _PARSE, str(path), "1" if independent else "0"], deadline)
        if r.returncode is None:
            row.verdict, row.note = f"unknown after {deadline:.0f} s", "killed while parsing"
            return row
        if r.returncode != 0:
            row.verdict, row.note = "error", (r.stderr.strip().splitlines() or [""])[-1][:100]
            return row
        parses.append(float(r.stdout.split()[0]))
        r = run_measured(
            replicheck_cmd() + ["check", "--json", "--quiet", "--timeout", str(timeout), *flags, str(path)],
            deadline,
        )
        if r.returncode is None:
            row.verdict = f"unknown after {timeout:g} s"
            row.parse = statistics.median(parses)
            return row
        try:
            d = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            row.verdict = f"error (exit {r.returncode})"
            row.note = (r.stderr.strip().splitlines() or [""])[-1][:100]
            return row
        valid = d.get("valid")
        verdict = {True: "valid", False: "invalid"}.get(valid, "unknown")
        if verdict == "unknown":
            # say which budget ran out: time, or memory (the reason names the resident size)
            why = str(d.get("reason", ""))
            row.verdict = "unknown: memory" if "memory" in why else f"unknown after {timeout:g} s"
            row.parse, row.whole, row.rss = statistics.median(parses), r.wall, r.rss_mb
            row.configs = d.get("configs")
            return row
        row.verdict = verdict
        checks.append(float(d.get("elapsed", 0.0)))
        wholes.append(r.wall)
        rsss.append(r.rss_mb)
        row.configs = d.get("configs")
    row.parse = statistics.median(parses)
    row.check = statistics.median(checks)
    row.whole = statistics.median(wholes)
    row.rss = statistics.median(rsss)
    return row


def history_file(
    directory: Path, workload: str, n: int, fmt: str, seed: int, linearizable: bool, values: int | None
) -> tuple[Path, list[str]]:
    """The generated history (made once, then reused) and the flags it is checked with."""
    w = WORKLOADS[workload]
    opts = {k: v for k, v in w.items() if k != "spec"}
    tag = f"{workload}-{size_label(n)}-s{seed}-v{values or 'u'}-{'ok' if linearizable else 'stale'}"
    path = directory / (tag + gh.SUFFIX[fmt])
    gen = None
    if not path.exists():
        gen = gh.generate(w["spec"], n, seed=seed, values=values, linearizable=linearizable, **opts)
        tmp = path.with_suffix(path.suffix + ".part")
        gh.write_history(gen, tmp, fmt)
        tmp.rename(path)
    flags = gh.check_flags(
        gen or gh.Generated(w["spec"], "" if w["spec"] == "kv" else None, seed, linearizable, [], []), fmt
    )
    return path, flags


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'workload':8} {'ops':>5} {'format':6} {'expect':7} {'verdict':24} {'parse s':>8} "
        f"{'check s':>8} {'whole s':>8} {'RSS MB':>7} {'configs':>10} {'configs/s':>10} {'us/config':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        rate = cost = "-"
        if r.configs and r.check:
            rate = f"{r.configs / r.check:,.0f}"
            cost = f"{r.check / r.configs * 1e6:.2f}"
        mark = "" if r.verdict.startswith(("unknown", "error")) or r.verdict == r.expected else "  <-- WRONG"
        print(
            f"{r.workload:8} {size_label(r.size):>5} {r.fmt:6} {r.expected:7} {r.verdict:24} "
            f"{fmt_s(r.parse):>8} {fmt_s(r.check):>8} {fmt_s(r.whole):>8} "
            f"{(f'{r.rss:.0f}' if r.rss else '-'):>7} "
            f"{(str(r.configs) if r.configs is not None else '-'):>10} "
            f"{rate:>10} {cost:>9}{mark}{('  ' + str(r.note)) if r.note else ''}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10k,100k,1M", help="comma-separated op counts (10k, 1M, 5000)")
    ap.add_argument("--workloads", default="kv,cas", help=f"comma-separated, of {','.join(WORKLOADS)}")
    ap.add_argument("--formats", default="jsonl,edn,log", help="comma-separated, of jsonl,edn,log")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the median is shown")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--values",
        type=gh.parse_values,
        default=None,
        metavar="unique|N",
        help="written values: all distinct (default) or drawn from N",
    )
    ap.add_argument("--invalid", action="store_true", help="also measure the stale-read version")
    ap.add_argument(
        "--dir",
        default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "replicheck-bench"),
        help="where generated histories are cached",
    )
    ap.add_argument(
        "--replicheck",
        metavar="PATH",
        help="the replicheck script to measure (e.g. another worktree's .venv/bin/replicheck); "
        "default: the one installed beside this interpreter",
    )
    args = ap.parse_args(argv)
    if args.replicheck:
        global PYTHON
        PYTHON = str(Path(args.replicheck).with_name("python"))
        if not Path(PYTHON).exists():
            ap.error(f"no python beside {args.replicheck}")
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [w for w in workloads if w not in WORKLOADS] + [f for f in formats if f not in gh.FORMATS]
    if bad:
        ap.error(f"unknown workload or format: {', '.join(bad)}")
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"seed {args.seed}; values {'unique' if args.values is None else args.values}; "
        f"median of {args.repeat}; timeout {args.timeout:g} s per run"
    )
    print("workloads: " + "; ".join(f"{k}: {v}" for k, v in WORKLOADS.items() if k in workloads))
    print(
        f"command: {' '.join(replicheck_cmd())} check --json --quiet --timeout {args.timeout:g} [flags] FILE"
    )
    rows: list[Row] = []
    for n in sizes:
        for workload in workloads:
            for linearizable in (True, False) if args.invalid else (True,):
                for fmt in formats:
                    t0 = time.perf_counter()
                    path, flags = history_file(
                        directory, workload, n, fmt, args.seed, linearizable, args.values
                    )
                    gen_s = time.perf_counter() - t0
                    row = measure(path, flags, args.repeat, args.timeout)
                    row.workload, row.size, row.fmt = workload, n, fmt
                    row.expected = "valid" if linearizable else "invalid"
                    rows.append(row)
                    print(
                        f"  ... {path.name} {' '.join(flags)}: {row.verdict} (generated in {gen_s:.1f} s)"
                        if gen_s > 0.5
                        else f"  ... {path.name} {' '.join(flags)}: {row.verdict}",
                        flush=True,
                    )
    print()
    print_table(rows)
    wrong = [r for r in rows if r.verdict in ("valid", "invalid") and r.verdict != r.expected]
    if wrong:
        print(f"\n{len(wrong)} WRONG VERDICT(S): see the rows marked above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
