"""Check the shared corpus and print per-file check time, the total and peak memory.

Check time excludes parsing. Each file is checked --repeat times and the median kept;
the total is the sum of medians. Run: .venv/bin/python bench/bench_corpus.py [--repeat 5]

--whole measures what a user waits for instead: whole processes, start-up included.
Every corpus file is judged by ONE `replicheck check` command with no flags (each
file's spec inferred from its functions), and by the three commands with each folder's
own --spec/--init, as the corpus README prescribes. Medians of --repeat; the verdicts are
compared with the corpus's expected ones. Target: all files in one process <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
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


# flags per folder for `replicheck check`, matching JUDGE
FLAGS = {
    "jepsen-etcd": ["--spec", "cas-register"],
    "knossos": ["--spec", "cas-register", "--init", "0"],
    "porcupine-kv": ["--spec", "kv"],
}
KNOSSOS_EXPECTED = {
    "rethink-fail-minimal.edn": "invalid",
    "cas-failure.edn": "invalid",
    "bad-analysis.edn": "invalid",
    "cas-register-bug.edn": "valid",
    "memstress3-33.edn": "valid",
}


# One interpreter judging every group through the CLI's code; exit codes are the CLI's
# (SystemExit), printed lines are PATH<TAB>VERDICT.
def expected_verdicts() -> dict[str, str]:
    want = {str(CORPUS / "knossos" / k): v for k, v in KNOSSOS_EXPECTED.items()}
    for folder in ("jepsen-etcd", "porcupine-kv"):
        tsv = CORPUS / folder / "expected.tsv"
        if tsv.exists():
            for line in tsv.read_text().splitlines():
                if "\t" in line:
                    name, verdict = line.split("\t")[:2]
                    want[str(CORPUS / folder / name)] = verdict.strip()
    return want


def _timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of this child alone, and its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, out


def whole(repeat: int) -> int:
    """Whole-process figures for the corpus: one process for all files, and per folder."""
    groups = []
    for folder, flags in FLAGS.items():
        files = sorted(str(p) for p in (CORPUS / folder).glob("*") if p.suffix in (".log", ".edn", ".txt"))
        if files:
            groups.append((folder, [*flags, *files]))
    script = Path(sys.executable).with_name("replicheck")
    replicheck = [str(script)] if script.exists() else [sys.executable, "-m", "replicheck.cli.main"]
    want = expected_verdicts()
    n_files = sum(len(args) - len(FLAGS[f]) for f, args in groups)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{n_files} corpus files; median of {repeat}"
    )

    def verdict_errors(out: str, args: list[str]) -> list[str]:
        got = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return [
            f"{p}: {got.get(p, 'missing')} (expected {v})"
            for p, v in want.items()
            if p in args and got.get(p) != v
        ]

    # One command, no flags: each file's spec is the one its functions fit (the knossos
    # files' register then starts at nil, not Knossos's 0: their verdicts are the same).
    files = [a for folder, args in groups for a in args[len(FLAGS[folder]) :]]
    runs = [_timed([*replicheck, "check", "--quiet", *files]) for _ in range(repeat)]
    wrong: list[str] = verdict_errors(runs[-1][2], files)
    t = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    print(
        f"replicheck check ALL {n_files} files, one command: {t:.3f} s whole-process (target <= 0.5 s), "
        f"peak RSS {rss:.0f} MB"
        f"{'' if not wrong else '  WRONG VERDICTS: ' + '; '.join(wrong)}"
    )
    total = 0.0
    for folder, args in groups:
        runs = [_timed([*replicheck, "check", "--quiet", *args]) for _ in range(repeat)]
        t = statistics.median(r[0] for r in runs)
        total += t
        wrong += verdict_errors(runs[-1][2], args)
        flags = " ".join(FLAGS[folder])
        print(
            f"  replicheck check {flags} {folder}/* : {t:.3f} s, peak RSS "
            f"{statistics.median(r[1] for r in runs):.0f} MB"
        )
    print(f"three commands, one per folder: {total:.3f} s in all")
    t = statistics.median(_timed([*replicheck, "--help"])[0] for _ in range(repeat))
    print(f"start-up alone (replicheck --help): {t:.3f} s")
    for w in sorted(set(wrong)):
        print("WRONG VERDICT:", w)
    return 1 if wrong else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--top", type=int, default=10, help="show the N slowest files")
    ap.add_argument(
        "--whole",
        action="store_true",
        help="whole-process time of judging every file (one process, and per folder)",
    )
    args = ap.parse_args()
    files = corpus_files()
    if not files:
        print(f"corpus not found at {CORPUS}; set REPLICHECK_CORPUS")
        return 0
    if args.whole:
        return whole(args.repeat)
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
        name = path.parent.name + "/" + path.name
        print(f"{name:28} {str(result.valid):8} {result.ops:5} {result.configs:8} {t * 1000:8.2f}")
    print(
        f"files: {len(rows)}  total check time: {total * 1000:.1f} ms (median of {args.repeat} per file)  "
        f"slowest: {rows[0][1].name} {rows[0][0] * 1000:.2f} ms"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process, interpreter included): {peak:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
