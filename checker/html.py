"""A self-contained HTML timeline of a history and its verdict.

One file, no network: the history and the analysis are embedded as JSON and drawn by a
small script into SVG. Each key of a history gets its own group of rows (one row per
process that touched it); each operation is a bar from invocation to completion; crashed
(info) and failed operations are marked; nemesis events are bands; the longest
linearizable prefix carries its linearization points; the operation that could not be
linearized is highlighted and the minimal counterexample emphasised. Hovering a bar shows
the operation and the model's state before and after it where a witness order or the
search's best path gives them.

Safety: a history is untrusted input and the page is opened and shared. Every string
from it reaches the page in one place only, a ``<script type="application/json">`` block
with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, read with ``JSON.parse`` and shown
with ``textContent``. The few text substitutions (title, report) are HTML-escaped and made
in one pass, so nothing substituted is ever scanned for a placeholder again. A
Content-Security-Policy lets only the page's own script (by hash) run: no inline handler.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from importlib import resources
from typing import Any

from .history import NEMESIS, UNKNOWN, History, Op
from .text import describe_op, fmt, op_line
from .verdict import short_word, verdict_word

STATE_CHARS = 200  # a state description longer than this is cut: 10k ops must stay a few MB
_DEPTH = 64  # nesting shown in a tooltip; deeper values are cut rather than recursed into
_SAFE_INT = 2**53  # JSON.parse loses digits past this: such integers travel as text
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def _linearization_points(order: list[Op]) -> dict[int, float]:
    """A point inside each op's interval, non-decreasing along the order.

    The search only yields an order; any valid order admits points chosen greedily as
    the later of the previous point and the op's own invocation.
    """
    points, last = {}, -math.inf
    for op in order:
        last = max(last, op.call)
        points[op.id] = last
    return points


def _plain(v: Any, depth: int = 0) -> Any:
    """JSON data that JSON.parse reads back as it was meant (no NaN, no rounded integers)."""
    if depth > _DEPTH:
        return "…"
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if -_SAFE_INT < v < _SAFE_INT:
            return v
        try:
            return str(v)
        except ValueError:  # past the interpreter's digit limit for str()
            return f"<an integer of about {int(v.bit_length() * 0.30103)} digits>"
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (tuple, list)):
        return [_plain(x, depth + 1) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x, depth + 1) for x in v), key=repr)
    if isinstance(v, dict):
        return {str(k): _plain(x, depth + 1) for k, x in v.items()}
    return _text(v)


def _text(v: Any) -> str:
    """str(v) with lone surrogates replaced: the page is written as UTF-8."""
    try:
        s = v if isinstance(v, str) else str(v)
    except Exception:  # a user object whose __str__ fails still gets a page
        s = f"<{type(v).__name__}>"
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def json_for_script(data: Any) -> str:
    """``data`` as JSON that cannot end or comment out the script element holding it:
    no ``<``, ``>`` or ``&`` (so no ``</script>``, no ``<!--``), and no U+2028/9."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _escape(s: str) -> str:
    # line separators are harmless in HTML text, but kept out so that no raw one is anywhere
    escaped = html.escape(_text(s), quote=True)
    return escaped.replace("\u2028", "&#x2028;").replace("\u2029", "&#x2029;")


def _short(s: str, limit: int = STATE_CHARS) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _csp_hash(body: str) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _template() -> tuple[str, str]:
    """The template and its Content-Security-Policy (hashes of its own script and style)."""
    text = resources.files("replicheck.checker.assets").joinpath("timeline.html").read_text("utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    # the hashes cover the template's own code only, which holds no placeholder
    assert len(scripts) == 1 and not _PLACEHOLDER.search(scripts[0] + "".join(styles))
    csp = (
        "default-src 'none'; script-src "
        + _csp_hash(scripts[0])
        + "; style-src "
        + " ".join(_csp_hash(s) for s in styles)
        + "; img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return text, csp


def _key_order(k: Any) -> tuple:
    return (
        k is None,
        not isinstance(k, (int, float)) or isinstance(k, bool),
        k if isinstance(k, (int, float)) and not isinstance(k, bool) else 0,
        fmt(k) if k is not None else "",
    )


def _process_order(p: str) -> tuple:
    numeric = p.lstrip("-").isdigit()
    return (not numeric, int(p) if numeric and len(p) < 30 else 0, p)


def _group_key(op: Op) -> Any:
    try:
        hash(op.key)
    except TypeError:  # an unhashable key is shown, not grouped by
        return _text(op.key)
    return op.key


def _groups(ops: list[Op]) -> tuple[list[dict], dict[int, tuple[int, int]]]:
    """One group of rows per key (a row per process that touched it): op id -> (group, row)."""
    procs: dict[Any, set[str]] = {}
    for op in ops:
        procs.setdefault(_group_key(op), set()).add(_text(op.process))
    keys = sorted(procs, key=lambda k: (_key_order(k), repr(k)))
    groups: list[dict] = []
    index: dict[Any, tuple[int, dict[str, int]]] = {}
    for g, k in enumerate(keys):
        rows = sorted(procs[k], key=_process_order)
        index[k] = (g, {p: r for r, p in enumerate(rows)})
        groups.append({"key": None if k is None else _text(fmt(k)), "rows": rows})
    place = {}
    for op in ops:
        g, row_of = index[_group_key(op)]
        place[op.id] = (g, row_of[_text(op.process)])
    return groups, place


def _describe_state(spec: Any) -> Any:
    hook = getattr(spec, "describe_state", None) or fmt

    def describe(state: Any) -> str:
        try:
            return _short(_text(hook(state)))
        except Exception:
            return "unknown (the spec could not describe it)"

    return describe


def _states(
    result: Any, spec: Any, by_id: dict[int, Op]
) -> tuple[list[str], dict[int, tuple[int, int]], str | None]:
    """The model's state before and after each op that a known order places: replayed
    from the spec's initial state along the witness (valid) or the search's best path
    (invalid, unknown). Ops off those orders get none: the page says "unknown".

    Returns the table of distinct state descriptions, op id -> (before, after) indexes
    into it (after is -2 for the op that cannot take effect), and why that op cannot.
    """
    table: list[str] = []
    seen: dict[str, int] = {}
    out: dict[int, tuple[int, int]] = {}
    why = None
    if result is None or spec is None or not hasattr(spec, "step") or not hasattr(spec, "init"):
        return table, out, why
    describe = _describe_state(spec)

    def idx(state: Any) -> int:
        s = describe(state)
        if s not in seen:
            seen[s] = len(table)
            table.append(s)
        return seen[s]

    part = getattr(result, "part", None)
    if result.valid is True:
        orders = list(result.witness or [])
    elif part is not None:
        orders = [list(part.linearization or [])]
    else:
        orders = []
    last_state: Any = UNKNOWN
    for order in orders:
        try:
            state = spec.init()
            before = idx(state)
            for op_id in order:
                ok, state = spec.step(state, by_id[op_id])
                if not ok:  # not a witness after all: nothing after this is known
                    break
                after = idx(state)
                out[op_id] = (before, after)
                before = after
            else:
                last_state = state
        except Exception:  # a user spec that fails on replay: its states stay unknown
            last_state = UNKNOWN
            continue
    culprit = getattr(part, "op", None) if part is not None else None
    if result.valid is False and culprit is not None:
        attempts = getattr(part, "attempts", None) or []
        if attempts:
            last_state = attempts[0].state
            why = next((w for i, w in attempts[0].tried if i == culprit.id), None)
        if last_state is not UNKNOWN:
            out[culprit.id] = (idx(last_state), -2)
        why = _text(why) if why else "no order of the operations before it leaves a state it fits"
    return table, out, why


def _reason_line(result: Any, spec: Any, why: str | None, history: History) -> str:
    if result is None:
        return "Not checked: the timeline only."
    if result.valid is True:
        n = sum(len(p) for p in (result.witness or []))
        return f"Linearizable: one order of {n} operations explains every result (dots mark it)."
    if result.valid is False and result.op is not None:
        key = f" on key {fmt(result.key)}" if result.key is not None else ""
        return (
            f"NOT linearizable{key}: op {result.op.id} ({describe_op(result.op, spec)}, "
            f"process {result.op.process}) cannot take effect: {why}."
        )
    return f"Unknown: {result.reason or 'budget exhausted'}; no verdict is given rather than a guess."


def render_html(
    history: History,
    result: Any = None,
    spec: Any = None,
    minimized: Any = None,
    title: str | None = None,
    text_report: str | None = None,
) -> str:
    """The page for ``history`` and (optionally) its ``result`` and minimal counterexample."""
    timed = history.timed
    by_id = {op.id: op for op in history.ops}
    groups, place = _groups(history.ops)
    states, state_of, why = _states(result, spec, by_id)
    # Times go to the page relative to the first instant: epoch nanoseconds are past
    # what a JavaScript number holds exactly, offsets from the start are not.
    first = [op.call for op in history.ops] + [e.time for e in history.events if e.time is not None]
    start = min(first, default=0) if timed else 0
    instants: list[float] = []
    ops_data = []
    for op in history.ops:
        ret = op.ret - start if op.ret != math.inf else None
        instants.append(op.call - start)
        if ret is not None:
            instants.append(ret)
        g, row = place[op.id]
        before, after = state_of.get(op.id, (-1, -1))
        ops_data.append(
            [
                op.id,
                _text(op.process),
                _text(describe_op(op, spec)),
                op.status,
                op.call - start,
                ret,
                op.line,
                op.ret_line,
                _plain(
                    {
                        "f": op.f,
                        "value": op.value,
                        "output": None if op.output is UNKNOWN else op.output,
                        "key": op.key,
                        "node": op.node,
                        **op.extra,
                    }
                ),
                g,
                row,
                before,
                after,
            ]
        )
    faults = []
    last_time: float = start
    for pos, e in enumerate(history.events):
        if e.time is not None:
            last_time = e.time
        if e.process == NEMESIS:
            # a nemesis event without a time in a timed history sits at the last time seen
            t = (e.time if e.time is not None else last_time) - start if timed else pos
            faults.append([t, _text(e.f), _text(fmt(e.value)) if e.value is not None else "", e.type])
            instants.append(t)
    verdict = None if result is None else result.valid
    analysis: dict[str, Any] = {"verdict": verdict}
    if result is not None:
        part = getattr(result, "part", None)
        analysis["spec"] = _text(result.spec)
        analysis["reason"] = None if result.reason is None else _text(result.reason)
        orders: list[list[Op]] = []
        if verdict is True:
            orders = [[by_id[i] for i in p] for p in (result.witness or [])]
        elif part is not None:
            orders = [[by_id[i] for i in (part.linearization or [])]]
            if part.op is not None:
                analysis["culprit"] = part.op.id
            if part.previous_ok is not None:
                analysis["previous_ok"] = part.previous_ok.id
        if verdict is True or part is not None:
            # keys are linearized independently: each key's points from its own order
            points = {k: v for order in orders for k, v in _linearization_points(order).items()}
            analysis["points"] = {str(k): v - start for k, v in points.items()}
            analysis["order"] = [op.id for order in orders for op in order]
        if why is not None:
            analysis["why"] = why
    minimal_lines: list[str] = []
    if minimized is not None:
        analysis["minimal"] = [op.id for op in minimized.ops]
        minimal_lines = [_text(op_line(op, spec)) for op in minimized.ops]
    page_title = _text(title or history.path or "history")
    reason = _text(_reason_line(result, spec, why, history))
    data = {
        "title": page_title,
        "timed": timed,
        "start": _text(start),
        "end": max(instants, default=0),
        "groups": groups,
        "ops": ops_data,
        "states": states,
        "faults": faults,
        "analysis": analysis,
        "reasonLine": reason,
        "minimalLines": minimal_lines,
    }
    template, csp = _template()
    values = {
        "CSP": _escape(csp),
        "TITLE": _escape(page_title),
        "VERDICT": "not checked" if result is None else verdict_word(verdict).lower(),
        "VERDICT_CLASS": short_word(verdict),
        "REASON": _escape(reason),
        "REPORT": _escape(text_report or ""),
        "DATA": json_for_script(_plain(data)),
    }
    # One pass: what is substituted is never scanned again, so a value holding
    # "{{DATA}}" stays that text.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
