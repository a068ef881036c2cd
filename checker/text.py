"""Text for people: values and operations the way reports, witnesses and pages show them."""

from __future__ import annotations

import json
from typing import Any

from .history import UNKNOWN, Op

LONG = 16  # a collection longer than this shows its ends, so a line of report stays readable


def _some(items: Any) -> str:
    items = list(items)
    if len(items) <= LONG:
        return " ".join(items)
    return " ".join(items[:6] + [f"... ({len(items) - 9} more)"] + items[-3:])


def fmt(v: Any) -> str:
    """Values the way Jepsen users read them: nil, [1 2], #{1 2}."""
    if v is None:
        return "nil"
    if v is UNKNOWN:
        return "?"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "[" + _some(fmt(x) for x in v) + "]"
    if isinstance(v, frozenset):
        return "#{" + _some(sorted(fmt(x) for x in v)) + "}"
    if isinstance(v, str):
        return v if v.startswith(":") and " " not in v else json.dumps(v)
    return str(v)


READS = ("read", "get")  # functions whose output, not the value they carried, says what they did


def default_describe_op(op: Op) -> str:
    """An op in the words of a spec that has none of its own: a read by what it returned,
    a cas as from->to, anything else by the value it carried (and what it returned, if
    that differs)."""
    if op.f in READS:
        return f"{op.f} {fmt(op.output)}"
    value = op.value
    if op.f == "cas" and isinstance(value, tuple) and len(value) == 2:
        return f"cas {fmt(value[0])}->{fmt(value[1])}"
    text = f"{op.f} {fmt(value)}"
    if op.ok and op.output is not None and op.output != value:
        text += f" -> {fmt(op.output)}"
    return text


def describe_op(op: Op, spec: Any = None) -> str:
    """What an op did, in words: the spec's ``describe_op`` where it has one, else the
    default. Every rendering of an op (reports, witnesses, pages) goes through here."""
    hook = getattr(spec, "describe_op", None)
    return hook(op) if hook is not None else default_describe_op(op)


def _place(op: Op) -> str:
    key = f" key {fmt(op.key)}" if op.key is not None else ""
    node = f" on {op.node}" if op.node is not None else ""  # which replica served it
    return key + node


def op_line(op: Op, spec: Any = None) -> str:
    """An op on a line of its own in a report: id, process, what it did, where in the file."""
    where = f"line {op.line}" if op.line is not None else f"op {op.id}"
    if op.ret_line is not None and op.line is not None:
        where = f"lines {op.line}-{op.ret_line}"
    status = "" if op.ok else f" ({op.status})"
    return f"op {op.id}: process {op.process} {describe_op(op, spec)}{_place(op)}{status}  [{where}]"


def op_label(op: Op, spec: Any = None) -> str:
    """An op named inside a sentence (a witness, an edge's reason): op 3 (write 1 key x, line 7)."""
    line = f", line {op.line}" if op.line is not None else ""
    return f"op {op.id} ({describe_op(op, spec)}{_place(op)}{line})"
