"""Text for people: values and operations the way reports, witnesses and pages show them."""

from __future__ import annotations

import json
from typing import Any

from .history import UNKNOWN

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
