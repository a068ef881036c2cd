"""A self-contained HTML timeline of a history and its verdict.

One file, no network: the history and the analysis are embedded as JSON and drawn by a
small script into SVG. Each process is a row, each operation a bar from invocation to
completion; crashed (info) and failed operations are marked; nemesis events are bands;
the longest linearizable prefix carries its linearization points; the operation that
could not be linearized is highlighted and the minimal counterexample emphasised.
Every bar has a tooltip with the operation's full data.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from typing import Any

from .formats import jsonable
from .history import NEMESIS, UNKNOWN, History, Op
from .text import describe_op, fmt
from .verdict import short_word, verdict_word


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
    end = 0.0
    ops_data = []
    for op in history.ops:
        ret = op.ret if op.ret != math.inf else None
        end = max(end, op.call, ret or 0)
        ops_data.append(
            [
                op.id,
                str(op.process),
                describe_op(op, spec),
                op.status,
                op.call,
                ret,
                op.line,
                op.ret_line,
                jsonable(
                    {
                        "f": op.f,
                        "value": op.value,
                        "output": None if op.output is UNKNOWN else op.output,
                        "key": op.key,
                        "node": op.node,
                        **op.extra,
                    }
                ),
            ]
        )
    faults = []
    for pos, e in enumerate(history.events):
        if e.process == NEMESIS:
            t = e.time if timed else pos
            faults.append([t, str(e.f), fmt(e.value) if e.value is not None else "", e.type])
            end = max(end, t or 0)
    processes = sorted(
        {str(op.process) for op in history.ops},
        key=lambda p: (not p.lstrip("-").isdigit(), int(p) if p.lstrip("-").isdigit() else 0, p),
    )
    verdict = None if result is None else result.valid
    analysis: dict[str, Any] = {"verdict": verdict}
    if result is not None:
        part = getattr(result, "part", None)
        analysis["spec"] = result.spec
        analysis["reason"] = result.reason
        if verdict is True:
            order = [by_id[i] for p in (result.witness or []) for i in p]
            analysis["points"] = {str(k): v for k, v in _linearization_points(order).items()}
            analysis["order"] = [op.id for op in order]
        elif part is not None:
            order = [by_id[i] for i in (part.linearization or [])]
            analysis["points"] = {str(k): v for k, v in _linearization_points(order).items()}
            analysis["order"] = [op.id for op in order]
            if part.op is not None:
                analysis["culprit"] = part.op.id
            if part.previous_ok is not None:
                analysis["previous_ok"] = part.previous_ok.id
    if minimized is not None:
        analysis["minimal"] = [op.id for op in minimized.ops]
    data = {
        "title": title or history.path or "history",
        "timed": timed,
        "end": end,
        "processes": processes,
        "ops": ops_data,
        "faults": faults,
        "analysis": analysis,
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    template = resources.files("replicheck.checker.assets").joinpath("timeline.html").read_text("utf-8")
    verdict_text = "not checked" if result is None else verdict_word(verdict).lower()
    return (
        template.replace("{{TITLE}}", html.escape(data["title"]))
        .replace("{{VERDICT}}", verdict_text)
        .replace("{{VERDICT_CLASS}}", short_word(verdict))
        .replace("{{REPORT}}", html.escape(text_report or ""))
        .replace("{{DATA}}", payload)
    )
