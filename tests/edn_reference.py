"""The EDN and Jepsen log readers as they were before checker/edn.py: edn_format (a PLY
parser) reads the data, a coarse scanner finds the lines. Kept as the reference the fast
reader is tested against (tests/test_edn.py); slow, never used by replicheck itself."""

from __future__ import annotations

import re
from typing import Any

from replicheck.checker.formats import _LOG_LINE
from replicheck.checker.history import Event, HistoryError, event_from_dict


def _edn():
    import edn_format  # imported here: only EDN and log readers need it

    return edn_format


_TAG = re.compile(r"#([A-Za-z][\w.*+!?$%&=<>/-]*)")
_registered_tags: set[str] = set()


def _register_tags(text: str) -> None:
    """Read tagged literals as their element: ``#jepsen.history.Op{...}`` reads as the map.

    edn_format knows only #inst and #uuid and refuses other tags; Jepsen writes record
    literals, so every other tag found in the text gets an identity reader.
    """
    edn = _edn()
    for tag in set(_TAG.findall(text)) - _registered_tags - {"inst", "uuid"}:
        edn.add_tag(tag, lambda v: v)
        _registered_tags.add(tag)


def _from_edn(v: Any, top: bool = False) -> Any:
    edn = _edn()
    if isinstance(v, edn.Keyword):
        return v.name if top else ":" + v.name
    if isinstance(v, (list, tuple, edn.ImmutableList)):
        return tuple(_from_edn(x) for x in v)
    if isinstance(v, (dict, edn.ImmutableDict)):
        return {_from_edn(k, top): _from_edn(x) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return frozenset(_from_edn(x) for x in v)
    if isinstance(v, edn.Symbol):
        return str(v)
    if isinstance(v, edn.Char):
        return str(v)
    return v


def _edn_loads_all(text: str, path: str | None, line_offset: int = 0) -> list:
    edn = _edn()
    _register_tags(text)
    try:
        return list(edn.loads_all(text))
    except edn.EDNDecodeError as e:
        arg = e.args[0] if e.args else None
        pos = getattr(arg, "lexpos", None)
        if pos is None:
            m = re.search(r"lexpos (\d+)", str(arg))
            pos = int(m.group(1)) if m else None
        if pos is not None:
            line = text.count("\n", 0, pos) + 1 + line_offset
            near = text[pos : pos + 20].splitlines()[0] if text[pos : pos + 20].strip() else ""
            raise HistoryError(f"malformed EDN near {near!r}", path, line) from None
        line = text.rstrip().count("\n") + 1 + line_offset
        raise HistoryError("malformed EDN: the file ends inside an unclosed form", path, line) from None
    except (ValueError, TypeError, NotImplementedError, AttributeError) as e:
        raise HistoryError(f"malformed EDN: {e}", path, None) from None


def _read_edn(text: str, path: str | None):
    forms = _edn_loads_all(text, path)
    lines = _element_lines(text)
    edn = _edn()
    if len(forms) == 1 and isinstance(forms[0], (list, tuple, edn.ImmutableList)):
        items = list(forms[0])
    else:
        items = forms
        lines = _form_starts(text, depth=0)
    if not items:
        raise HistoryError("empty history: no events", path)
    if len(lines) != len(items):
        lines = [None] * len(items)
    events = []
    for item, line in zip(items, lines):
        d = _from_edn(item, top=True)
        events.append(event_from_dict(d, path=path, line=line))
    return events, {}, {}


def _element_lines(text: str) -> list[int]:
    """Lines where the elements of the single top-level vector/list start."""
    return _form_starts(text, depth=1)


def _edn_tokens(text: str) -> list[tuple[str, int]]:
    """Coarse EDN tokens with their lines: open, close, atom, prefix (#tag ^ ') and discard.

    Knows just enough EDN to stay in step (strings, character literals, comments); the
    parser does all validation.
    """
    tokens: list[tuple[str, int]] = []
    line, i, n = 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r,":
            i += 1
        elif c == ";":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "([{":
            tokens.append(("open", line))
            i += 1
        elif c in ")]}":
            tokens.append(("close", line))
            i += 1
        elif c == '"':
            start_line = line
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    line += 1
                j += 1
            tokens.append(("atom", start_line))
            i = j + 1
        elif c == "\\":
            i += 2
            while i < n and text[i].isalnum():
                i += 1
            tokens.append(("atom", line))
        elif c == "#" and text.startswith("#_", i):
            tokens.append(("discard", line))
            i += 2
        elif c == "#" and text.startswith("#{", i):
            tokens.append(("open", line))
            i += 2
        elif c in "#^'":
            tokens.append(("prefix", line))
            i += 1
            if c == "#":
                while i < n and not text[i].isspace() and text[i] not in '()[]{}",;':
                    i += 1
        else:
            while i < n and not text[i].isspace() and text[i] not in '()[]{}",;':
                i += 1
            tokens.append(("atom", line))
    return tokens


def _form_starts(text: str, depth: int) -> list[int]:
    """Line numbers where the forms at bracket depth 0 (a stream of maps), or 1 (the
    elements of one top-level vector or list), start. If this count disagrees with the
    parser's, the caller does not use the line numbers."""
    tokens = _edn_tokens(text)

    def skip(k: int) -> int:
        # one whole form from token k, prefixes and discards included
        while k < len(tokens) and tokens[k][0] in ("prefix", "discard"):
            k = skip(k + 1) if tokens[k][0] == "discard" else k + 1
        if k < len(tokens) and tokens[k][0] == "open":
            level = 1
            k += 1
            while k < len(tokens) and level:
                level += {"open": 1, "close": -1}.get(tokens[k][0], 0)
                k += 1
            return k
        return k + 1

    k, end = 0, len(tokens)
    if depth == 1:
        while k < end and tokens[k][0] in ("prefix", "discard"):
            k = skip(k + 1) if tokens[k][0] == "discard" else k + 1
        if k >= end or tokens[k][0] != "open":
            return []
        end = skip(k) - 1
        k += 1
    starts = []
    while k < end:
        if tokens[k][0] == "discard":
            k = skip(k + 1)
            continue
        starts.append(tokens[k][1])
        k = skip(k)
    return starts


# ---------------------------------------------------------------- Jepsen log lines

_NO_VALUE = (":timed-out",)


def _read_log(text: str, path: str | None):
    events: list[Event] = []
    skipped = 0
    values: dict[str, Any] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        if "jepsen.util" not in raw:
            if raw.strip():
                skipped += 1
            continue
        m = _LOG_LINE.search(raw.rstrip())
        if m is None:
            skipped += 1
            continue
        process: Any = m.group("process")
        if process.lstrip("-").isdigit():
            process = int(process)
        rest = (m.group("rest") or "").strip()
        fields = rest.split("\t") if "\t" in rest else [rest]
        value_text = fields[0].strip() or "nil"
        d: dict = {"process": process, "type": m.group("type"), "f": m.group("f")}
        if value_text not in values:
            forms = _edn_loads_all(value_text, path, lineno - 1) if value_text != "nil" else [None]
            if not forms:
                raise HistoryError("log line has no value", path, lineno)
            values[value_text] = (_from_edn(forms[0]), [_from_edn(x) for x in forms[1:]])
        value, trailing = values[value_text]
        if isinstance(value, str) and value in _NO_VALUE:
            d["error"] = value[1:]
            value = None
        d["value"] = value
        errors = [str(x) for x in trailing] + [x.strip() for x in fields[1:] if x.strip()]
        if errors:
            d["error"] = " ".join(errors)
        events.append(event_from_dict(d, path=path, line=lineno))
    counts = {"lines that are not Jepsen operations": skipped} if skipped else {}
    return events, {}, counts
