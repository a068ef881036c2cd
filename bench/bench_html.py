"""Size and load time of the HTML report for a large history.

Builds a seeded 10,000-operation register history with one stale read near the end,
checks and minimizes it, writes the report, and (if Chromium is installed) times a
headless load of the page against a blank page, so browser start-up is not counted.
Run: .venv/bin/python bench/bench_html.py [--ops 10000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import atomic_register_history

from replicheck.checker import History, check, make_spec
from replicheck.checker.html import render_html
from replicheck.checker.minimize import minimize
from replicheck.checker.report import render_linearizability


def with_stale_read(h: History) -> History:
    # a read of the very first value written, after everything else completed
    events = [e.to_dict() for e in h.events]
    first = next(op for op in h.ops if op.f == "write" and op.ok)
    events += [
        {"process": "late", "type": "invoke", "f": "read", "value": None},
        {"process": "late", "type": "ok", "f": "read", "value": first.value},
    ]
    return History.from_events(events)


def load_time(browser: str, page: Path, runs: int) -> float:
    def once(p: Path) -> float:
        t0 = time.perf_counter()
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", p.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 'data-rendered="ok"' in out.stdout or p.name == "blank.html", "page did not draw"
        return time.perf_counter() - t0

    blank = page.parent / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    base = statistics.median(once(blank) for _ in range(runs))
    full = statistics.median(once(page) for _ in range(runs))
    return full - base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    h = with_stale_read(atomic_register_history(args.ops, 10, random.Random(args.seed), values=1_000_000))
    spec = make_spec("cas-register")
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op, key=r.key, timeout=20) if r.valid is False else None
    t0 = time.perf_counter()
    page = render_html(h, r, spec, m, title="bench", text_report=render_linearizability(r, spec))
    render = time.perf_counter() - t0
    out = Path(tempfile.mkdtemp()) / "report.html"
    out.write_text(page)
    print(
        f"seed {args.seed}: {len(h.ops)} operations, verdict {r.valid}, "
        f"shrunk to {len(m.ops) if m else '-'} ops{' (time limit)' if m and m.out_of_time else ''}"
    )
    print(f"report: {out.stat().st_size / 1e6:.2f} MB, rendered in {render * 1000:.0f} ms")
    browser = next(
        (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        print("no Chromium: load time not measured")
        return
    print(
        f"headless load and draw, beyond a blank page: {load_time(browser, out, args.runs) * 1000:.0f} ms "
        f"(median of {args.runs})"
    )


if __name__ == "__main__":
    main()
