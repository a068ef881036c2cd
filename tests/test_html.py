"""The HTML timeline: correct for every verdict, safe with hostile histories, and drawn
by a real browser (scrolled to the failure after zooming, keys apart)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bench_modules import gen_histories

from replicheck.checker import History, check, make_spec, read_history
from replicheck.checker.html import json_for_script, render_html
from replicheck.checker.minimize import minimize
from replicheck.checker.report import render_linearizability

ROOT = Path(__file__).resolve().parents[1]


def page_data(page: str) -> dict:
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


def with_times(events: list[dict], seed: int) -> list[dict]:
    """The same events with nanosecond timestamps: gaps from a microsecond to a few ms,
    starting at an epoch-sized instant (past what a JavaScript number holds exactly)."""
    rng = random.Random(seed)
    t = 1_764_000_000_000_000_000
    out = []
    for e in events:
        t += rng.choice((1_000, 20_000, 300_000, 2_000_000))
        out.append({**e, "time": t})
    return out


def invalid_300() -> tuple[str, object, object]:
    """A 300-op cas-register history with one stale read, timed, checked and shrunk."""
    gen = gen_histories().generate("cas-register", 300, concurrency=5, values=20, seed=3, linearizable=False)
    h = History.from_events(with_times(list(gen.events()), 3), path="stale-300.jsonl")
    spec = make_spec("cas-register", init=gen.init)
    r = check(h, spec)
    assert r.valid is False
    m = minimize(h.ops, spec, culprit=r.op, key=r.key)
    return render_html(h, r, spec, m, text_report=render_linearizability(r, spec)), r, m


def kv_page() -> tuple[str, History]:
    gen = gen_histories().generate("kv", 90, concurrency=4, keys=4, seed=5)
    h = History.from_events(list(gen.events()), path="kv-4keys.jsonl")
    spec = make_spec("kv")
    r = check(h, spec)
    assert r.valid is True
    return render_html(h, r, spec, text_report=render_linearizability(r, spec)), h


def invalid_page():
    h = read_history(ROOT / "histories" / "stale-replica-read.jsonl")
    spec = make_spec("register")
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op, key=r.key)
    return render_html(h, r, spec, m, text_report=render_linearizability(r, spec)), r, m


def test_invalid_page_marks_culprit_prefix_and_minimal():
    page, r, m = invalid_page()
    data = page_data(page)
    d = data["analysis"]
    assert "not linearizable" in page
    assert d["culprit"] == r.op.id
    assert d["previous_ok"] == r.previous_ok.id
    assert d["minimal"] == [op.id for op in m.ops]
    assert d["order"] == r.part.linearization
    # linearization points fall inside each op's interval and never go back
    ops = {o[0]: o for o in data["ops"]}
    pts = [d["points"][str(i)] for i in d["order"]]
    assert pts == sorted(pts)
    for i in d["order"]:
        call, ret = ops[i][4], ops[i][5]
        assert call <= d["points"][str(i)] <= (ret if ret is not None else float("inf"))
    assert "can&#x27;t read nil from register 1" in page  # the text report, escaped
    # the one-line reason and the minimal counterexample come before the timeline
    reason = page.index('id="reason"')
    assert reason < page.index('id="minimal"') < page.index('id="scroller"')
    assert f"op {r.op.id} (" in page[reason : page.index("</p>", reason)]
    assert len(data["minimalLines"]) == len(m.ops)


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


def reg(*ops: tuple) -> History:
    """Sequential register ops (process, f, value, status)."""
    events = []
    for p, f, v, status in ops:
        events.append({"process": p, "type": "invoke", "f": f, "value": v if f == "write" else None})
        events.append({"process": p, "type": status, "f": f, "value": v})
    return History.from_events(events)


def test_hover_states_follow_the_witness_and_the_failure():
    spec = make_spec("register")
    h = reg((0, "write", 1, "ok"), (1, "write", 2, "fail"), (1, "read", 1, "ok"))
    d = page_data(render_html(h, check(h, spec), spec))
    states = d["states"]
    ops = {o[0]: o for o in d["ops"]}
    assert (states[ops[0][11]], states[ops[0][12]]) == ("nil", "1")
    assert (states[ops[2][11]], states[ops[2][12]]) == ("1", "1")
    assert ops[1][11:13] == [-1, -1]  # a failed op is on no order: unknown
    bad = reg((0, "write", 1, "ok"), (1, "read", 2, "ok"))
    r = check(bad, spec)
    d = page_data(render_html(bad, r, spec))
    ops = {o[0]: o for o in d["ops"]}
    assert d["states"][ops[r.op.id][11]] == "1" and ops[r.op.id][12] == -2
    assert "2" in d["analysis"]["why"]
    # without a spec the page cannot replay: every state unknown
    d = page_data(render_html(h, check(h, spec)))
    assert all(o[11:13] == [-1, -1] for o in d["ops"]) and d["states"] == []


def test_kv_keys_get_their_own_groups_of_rows():
    page, h = kv_page()
    d = page_data(page)
    keys = [g["key"] for g in d["groups"]]
    assert len(keys) == len(set(keys)) == len({op.key for op in h.ops})
    for op, o in zip(h.ops, d["ops"]):
        group = d["groups"][o[9]]
        assert group["key"] == json.dumps(op.key) and group["rows"][o[10]] == str(op.process)
    # each key is linearized on its own: its points lie inside its own ops' intervals
    points = d["analysis"]["points"]
    assert len(points) > 80
    for o in (o for o in d["ops"] if str(o[0]) in points):
        point = points[str(o[0])]
        assert o[4] <= point <= (o[5] if o[5] is not None else float("inf"))


def test_timed_epoch_nanoseconds_reach_the_page_exactly():
    page, r, _ = invalid_300()
    d = page_data(page)
    assert d["timed"] and int(d["start"]) > 2**53 and int(d["start"]) == r.history.events[0].time
    assert min(o[4] for o in d["ops"]) == 0 and d["end"] < 2**53
    by_id = {o[0]: o for o in d["ops"]}
    assert by_id[r.op.id][4] == r.op.call - int(d["start"])


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


def test_json_for_script_leaves_nothing_html_can_read():
    nasty = "</script><!--<script>&amp;\u2028\u2029>"
    text = json_for_script({"k": nasty, nasty: [nasty]})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"k": nasty, nasty: [nasty]}


def hostile(field: str) -> str:
    # one of each way out of a text template, a script element or a comment, named by field
    return (
        f"{field}:{{{{DATA}}}}<img src=x onerror=\"document.body.setAttribute('data-pwned','{field}')\">"
        f"{{{{TITLE}}}}{{{{REPORT}}}}</script><script>document.body.setAttribute('data-pwned','s-{field}')"
        f"</script><!--<script>\u2028\u2029&amp;'\"<"
    )


def hostile_pages() -> list[tuple[str, str, dict]]:
    """(page, title, {field: string}) for a checked invalid kv history with a hostile
    value, key, process, node and error, and an unchecked one with a hostile f."""
    key, proc, node, err = hostile("key"), hostile("process"), hostile("node"), hostile("error")
    wrote, read = hostile("value"), hostile("read")
    events = [
        {"process": proc, "type": "invoke", "f": "put", "key": key, "value": wrote, "node": node},
        {"process": proc, "type": "ok", "f": "put", "key": key, "value": wrote, "node": node},
        {"process": 1, "type": "invoke", "f": "get", "key": key, "value": None},
        {"process": 1, "type": "ok", "f": "get", "key": key, "value": read, "error": err},
    ]
    h = History.from_events(events)
    spec = make_spec("kv")
    r = check(h, spec)
    assert r.valid is False
    m = minimize(h.ops, spec, culprit=r.op, key=r.key)
    title = hostile("title")
    page = render_html(h, r, spec, m, title=title, text_report=render_linearizability(r, spec, title))
    fields = {"key": key, "process": proc, "node": node, "error": err, "value": wrote, "read": read}
    f = hostile("f")
    unchecked = History.from_events(
        [
            {"process": 0, "type": "invoke", "f": f, "value": 1},
            {"process": 0, "type": "ok", "f": f, "value": 1},
        ]
    )
    return [(page, title, fields), (render_html(unchecked, title=title), title, {"f": f})]


def test_hostile_strings_in_every_field_stay_data():
    for page, title, fields in hostile_pages():
        # no markup, comment, line separator or extra script from the history
        for bad in ("<img", "<!--", "\u2028", "\u2029"):
            assert bad not in page, bad
        assert page.count("<script") == 2 and page.count("</script>") == 2
        # a "{{DATA}}" in the title was not expanded: the data is in the page once
        assert page.count('"minimalLines":') == 1
        shown = re.search(r"<title>replicheck: (.*?)</title>", page, re.S)
        assert shown is not None and html.unescape(shown.group(1)) == title
        d = page_data(page)
        assert d["title"] == title
        values = [json.dumps(o[8]) for o in d["ops"]] + [o[1] for o in d["ops"]]
        values += [g["key"] for g in d["groups"]]
        for name, s in fields.items():
            assert any(s in v or json.dumps(s)[1:-1] in v for v in values), name
    page = hostile_pages()[0][0]
    # the text report and the reason line carry history strings too: escaped
    assert html.escape(hostile("read")[:12]) in page[page.index('<pre class="report">') :]
    assert "read:{{DATA}}&lt;img" in page[page.index('id="reason"') : page.index('id="minimal"')]


def test_content_security_policy_allows_only_the_page_script():
    page, _, _ = invalid_page()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp is not None
    policy = dict(p.strip().split(" ", 1) for p in html.unescape(csp.group(1)).split(";"))
    script = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(script) == 1
    digest = base64.b64encode(hashlib.sha256(script[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert policy["default-src"] == "'none'" and "unsafe" not in csp.group(1)
    assert page.index("Content-Security-Policy") < page.index("<script")


# ---------------------------------------------------------------- in a real browser


def browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


needs_browser = pytest.mark.skipif(
    browser() is None, reason="no headless Chromium on this machine (.ci/run installs Debian's chromium)"
)
BASE = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]


def dump_dom(path: Path, fragment: str = "", size: str = "1400,900") -> subprocess.CompletedProcess:
    url = path.as_uri() + fragment
    cmd = [browser(), *BASE, f"--window-size={size}", "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def body_attrs(dom: str) -> dict:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag is not None
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1)))


def no_console_errors(proc: subprocess.CompletedProcess) -> None:
    errors = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    assert not errors, errors


@pytest.mark.slow
@needs_browser
def test_page_draws_in_a_real_browser_without_errors(tmp_path):
    page, r, _ = invalid_page()
    path = tmp_path / "report.html"
    path.write_text(page)
    dom = dump_dom(path, size="1400,800")
    assert body_attrs(dom.stdout)["data-rendered"] == "ok"
    assert re.search(rf'<g class="op [^"]*culprit[^"]*" id="op-{r.op.id}"', dom.stdout)
    no_console_errors(dom)


@pytest.mark.slow
@needs_browser
def test_hostile_history_runs_no_script_and_still_draws(tmp_path):
    for n, (page, _, _) in enumerate(hostile_pages()):
        path = tmp_path / f"hostile{n}.html"
        path.write_text(page, encoding="utf-8")
        dom = dump_dom(path)
        attrs = body_attrs(dom.stdout)
        assert "data-pwned" not in attrs and attrs["data-rendered"] == "ok", attrs
        assert dom.stdout.count("<script") == 2 and "<img" not in dom.stdout
        assert 'class="op ' in dom.stdout  # the bars were drawn
        no_console_errors(dom)
    # and the policy itself: a handler slipped into the page is refused, the page's own
    # script (allowed by its hash) still draws
    page = hostile_pages()[0][0].replace(
        "<header>", "<header><img src=x onerror=\"document.body.setAttribute('data-pwned','csp')\">", 1
    )
    path = tmp_path / "injected.html"
    path.write_text(page, encoding="utf-8")
    attrs = body_attrs(dump_dom(path).stdout)
    assert "data-pwned" not in attrs and attrs["data-rendered"] == "ok", attrs


def op_box(dom: str, op_id: int) -> tuple[float, float, float]:
    m = re.search(rf'<g [^>]*id="op-{op_id}"[^>]*><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"', dom)
    assert m is not None
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


@pytest.mark.slow
@needs_browser
def test_after_zooming_the_failing_op_is_in_view(tmp_path):
    page, r, _ = invalid_300()
    path = tmp_path / "stale-300.html"
    path.write_text(page)
    dom = dump_dom(path, "#zoom=8").stdout
    attrs = body_attrs(dom)
    assert attrs["data-rendered"] == "ok" and attrs["data-zoom"] == "8"
    sc = re.search(r'<div id="scroller"([^>]*)>', dom)
    assert sc is not None
    view = {k: float(v) for k, v in re.findall(r'data-([\w-]+)="([\d.]+)"', sc.group(1))}
    svg = re.search(r'<svg id="timeline"[^>]*width="(\d+)"[^>]*data-drawn-width="(\d+)"', dom)
    assert svg is not None
    width, drawn = int(svg.group(1)), int(svg.group(2))
    # drawn at its real width, wider than the window, and scrolled to the failing op
    assert drawn == width > 5000 and view["scroll-left"] > 0
    x, y, w = op_box(dom, r.op.id)
    left, right = view["scroll-left"], view["scroll-left"] + view["view-width"]
    assert left <= x + w / 2 <= right or (x <= left and x + w >= right)
    assert view["scroll-top"] <= y <= view["scroll-top"] + view["view-height"]
    assert attrs["data-focus-visible"] == "1"
    # a time axis with units
    assert re.search(r'class="ticklabel">[\d.]+ (ns|µs|ms|s)<', dom)


@pytest.mark.slow
@needs_browser
def test_each_key_gets_rows_apart_from_the_others(tmp_path):
    page, h = kv_page()
    path = tmp_path / "kv.html"
    path.write_text(page)
    dom = dump_dom(path).stdout
    assert body_attrs(dom)["data-rendered"] == "ok"
    spans: dict[str, list[float]] = {}
    bar = r'<g class="op [^"]*" id="op-\d+" data-op="\d+" data-group="(\d+)"><rect x="[\d.]+" y="([\d.]+)"'
    for group, y in re.findall(bar, dom):
        spans.setdefault(group, []).append(float(y))
    assert len(spans) == len({op.key for op in h.ops}) > 1
    ranges = sorted((min(ys), max(ys) + 14) for ys in spans.values())
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert end < start  # no key's bars reach into the next key's rows
    labels = re.findall(r'class="rowlabel" data-group="\d+">', dom)
    heads = re.findall(r'class="grouplabel" data-group="\d+">key ', dom)
    assert len(heads) == len(spans) and len(labels) == sum(len(g["rows"]) for g in page_data(page)["groups"])
    assert '<select id="keypick">' in dom and dom.count("<option") == len(spans) + 1
    # the picker's choice through the fragment: one key alone
    one = dump_dom(path, "#key=1").stdout
    groups = set(re.findall(r'id="op-\d+" data-op="\d+" data-group="(\d+)"', one))
    assert groups == {"1"}
