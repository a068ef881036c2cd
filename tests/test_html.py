"""The HTML timeline: correct for every verdict, and drawn by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from replicheck.checker import History, check, make_spec, read_history
from replicheck.checker.html import render_html
from replicheck.checker.minimize import minimize
from replicheck.checker.report import render_linearizability

ROOT = Path(__file__).resolve().parents[1]


def page_data(page: str) -> dict:
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def invalid_page():
    h = read_history(ROOT / "histories" / "stale-replica-read.jsonl")
    spec = make_spec("register")
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op, key=r.key)
    return render_html(h, r, spec, m, text_report=render_linearizability(r, spec)), r, m


def test_invalid_page_marks_culprit_prefix_and_minimal():
    page, r, m = invalid_page()
    d = page_data(page)["analysis"]
    assert "not linearizable" in page
    assert d["culprit"] == r.op.id
    assert d["previous_ok"] == r.previous_ok.id
    assert d["minimal"] == [op.id for op in m.ops]
    assert d["order"] == r.part.linearization
    # linearization points fall inside each op's interval and never go back
    ops = {o[0]: o for o in page_data(page)["ops"]}
    pts = [d["points"][str(i)] for i in d["order"]]
    assert pts == sorted(pts)
    for i in d["order"]:
        call, ret = ops[i][4], ops[i][5]
        assert call <= d["points"][str(i)] <= (ret if ret is not None else float("inf"))
    assert "can&#x27;t read nil from register 1" in page  # the text report, escaped


def test_valid_unknown_and_unchecked_pages_say_so():
    h = read_history(ROOT / "histories" / "leader-reads.jsonl")
    valid = render_html(h, check(h))
    assert page_data(valid)["analysis"]["verdict"] is True and ">linearizable<" in valid
    unchecked = render_html(h)
    assert page_data(unchecked)["analysis"]["verdict"] is None and "not checked" in unchecked
    from test_cli_check import hard_history

    hard = hard_history()
    r = check(hard, "register", timeout=0)
    page = render_html(hard, r, make_spec("register"))
    d = page_data(page)["analysis"]
    assert d["verdict"] == "unknown" and "time budget" in d["reason"]
    assert ">unknown<" in page


def test_script_cannot_be_closed_by_data():
    h = History.from_events(
        [
            {"process": 0, "type": "invoke", "f": "write", "value": "</script><script>alert(1)</script>"},
            {"process": 0, "type": "ok", "f": "write", "value": "</script><script>alert(1)</script>"},
        ]
    )
    page = render_html(h, check(h, "register"))
    assert page.count("</script>") == 2  # the data script and the drawing script only
    assert page_data(page)["ops"][0][8]["value"].startswith("</script>")


def browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(
    browser() is None, reason="no headless Chromium on this machine (.ci/run installs Debian's chromium)"
)
def test_page_draws_in_a_real_browser_without_errors(tmp_path):
    page, r, _ = invalid_page()
    path = tmp_path / "report.html"
    path.write_text(page)
    shot = tmp_path / "report.png"
    base = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,800",
    ]
    dom = subprocess.run(base + ["--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert 'data-rendered="ok"' in dom.stdout
    assert re.search(rf'<g class="op [^"]*culprit[^"]*" id="op-{r.op.id}"', dom.stdout)
    assert ":CONSOLE" not in dom.stderr, [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    subprocess.run(base + [f"--screenshot={shot}", path.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
