"""Size and load time of the HTML report for large histories.

Builds seeded 10,000-operation histories with one stale read (a cas-register, and a kv
store over 1,000 keys) with bench/gen_histories.py, checks and minimizes each, writes the
report, prints its size (the page must stay under 5 MB at 10k ops) and, if Chromium is
installed, times a headless load of the page against a blank page, so browser start-up
is not counted.
Run: .venv/bin/python bench/bench_html.py [--ops 10000] [--seed 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_histories as gh

from replicheck.checker import History, check, make_spec
from replicheck.checker.html import render_html
from replicheck.checker.minimize import minimize
from replicheck.checker.report import render_linearizability


def load_time(browser: str, page: Path, runs: int) -> float:
    draws: list[int] = []

    def once(p: Path) -> float:
        t0 = time.perf_counter()
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", p.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 'data-rendered="ok"' in out.stdout or p.name == "blank.html", "page did not draw"
        drawn = re.search(r'data-draw-ms="(\d+)"', out.stdout)
        if drawn:
            draws.append(int(drawn.group(1)))
        return time.perf_counter() - t0

    blank = page.parent / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    base = statistics.median(once(blank) for _ in range(runs))
    full = statistics.median(once(page) for _ in range(runs))
    print(f"{page.stem}: the page's own first draw: {statistics.median(draws)} ms (median, in the page)")
    return full - base


def report(spec_name: str, n_ops: int, seed: int, out_dir: Path) -> tuple[Path, float]:
    opts = {"keys": 1000} if spec_name == "kv" else {"values": 1_000}
    gen = gh.generate(spec_name, n_ops, seed=seed, linearizable=False, **opts)
    h = History.from_events(list(gen.events()), path=f"{spec_name}-{n_ops}.jsonl")
    spec = make_spec(spec_name, init=gen.init)
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op, key=r.key, timeout=20) if r.valid is False else None
    t0 = time.perf_counter()
    page = render_html(h, r, spec, m, title="bench", text_report=render_linearizability(r, spec))
    render = time.perf_counter() - t0
    out = out_dir / f"{spec_name}.html"
    out.write_text(page, encoding="utf-8")
    mb = out.stat().st_size / 1e6
    print(
        f"{spec_name}, seed {seed}: {len(h.ops)} operations, verdict {r.valid}, "
        f"shrunk to {len(m.ops) if m else '-'} ops{' (time limit)' if m and m.out_of_time else ''}; "
        f"report {mb:.2f} MB ({'under' if mb < 5 else 'OVER'} 5 MB), rendered in {render * 1000:.0f} ms"
    )
    return out, mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    out_dir = Path(tempfile.mkdtemp())
    pages = [report(name, args.ops, args.seed, out_dir) for name in ("cas-register", "kv")]
    browser = next(
        (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        print("no Chromium: load time not measured")
        return
    for path, _ in pages:
        print(
            f"{path.stem}: headless load and draw, beyond a blank page: "
            f"{load_time(browser, path, args.runs) * 1000:.0f} ms (median of {args.runs}; shared machine)"
        )


if __name__ == "__main__":
    main()
