"""Reading and writing histories: JSON Lines, Jepsen EDN and Jepsen log lines.

JSON Lines is the canonical format: one event per line, mirroring Jepsen's maps, e.g.
``{"process": 0, "type": "invoke", "f": "cas", "key": "x", "value": [1, 2], "time": 120}``.
Its first line may be metadata saying how to judge the history:
``{"replicheck": {"spec": "cas-register", "init": null, "nil_read": "absent"}}``.

EDN is parsed with the ``edn_format`` library; a small scanner of our own only finds where
each top-level form starts, so that errors can name a line.
"""

from __future__ import annotations

import json
import os
import re
from typing import IO, Any, Iterable

from .history import Event, History, HistoryError, event_from_dict, no_gc, tuplify

FORMATS = ("jsonl", "json", "edn", "jepsen-log")

# A read completing with nil is a read of unknown value in Jepsen's and Knossos's tools;
# our own JSON Lines histories mean "absent" by null. Metadata and --nil-read override.
FORMAT_DEFAULTS: dict[str, dict] = {
    "edn": {"nil_read": "unknown"},
    "jepsen-log": {"nil_read": "unknown"},
    "jsonl": {},
    "json": {},
}

META_KEY = "replicheck"


def read_history(path: str | os.PathLike, format: str | None = None, independent: bool = False) -> History:
    """Read a history file, choosing the format by content unless ``format`` is given.

    ``independent``: values are Jepsen's ``[key value]`` tuples, unwrapped into keys
    (also when the metadata line says ``"independent": true``).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise HistoryError(f"cannot read file: {e.strerror}", path) from None
    return parse_history(data, path=path, format=format, independent=independent)


def parse_history(
    data: bytes | str, *, path: str | None = None, format: str | None = None, independent: bool = False
) -> History:
    """Parse a history from bytes or text (see ``read_history``)."""
    with no_gc():
        return _parse(data, path, format, independent)


def _parse(data: bytes | str, path: str | None, format: str | None, independent: bool) -> History:
    text = _decode(data, path)
    if not text.strip():
        raise HistoryError("empty history: the file has no events", path)
    if format is None:
        format = detect_format(text, path)
    elif format not in FORMATS:
        raise HistoryError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", path)
    reader = {"jsonl": _read_jsonl, "json": _read_json, "edn": _read_edn, "jepsen-log": _read_log}[format]
    events, meta, skipped = reader(text, path)
    meta = {**FORMAT_DEFAULTS[format], **meta}
    history = History.from_events(events, path=path, meta=meta, format=format, skipped=skipped)
    if independent or meta.get("independent") is True:
        history = history.independent()
    return history


def _decode(data: bytes | str, path: str | None) -> str:
    if isinstance(data, str):
        return data
    if b"\x00" in data[:65536]:
        raise HistoryError("not a text file (it contains NUL bytes); expected a history", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise HistoryError(
            f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); expected a history",
            path,
            line,
        ) from None


_LOG_LINE = re.compile(
    r"jepsen\.util\s*[-:]?\s+(?P<process>:?[\w.-]+)\s+:(?P<type>invoke|ok|fail|info)\s+:?(?P<f>[^\s]+)(?:\s+(?P<rest>.*))?$"
)


def detect_format(text: str, path: str | None = None) -> str:
    """Guess the format from the first meaningful lines."""
    lines = [ln.strip() for ln in text.splitlines()[:200]]
    meaningful = [ln for ln in lines if ln and not ln.startswith(";")]
    if not meaningful:
        raise HistoryError("empty history: the file has only comments", path)
    if any("jepsen.util" in ln and _LOG_LINE.search(ln) for ln in meaningful):
        return "jepsen-log"
    first = meaningful[0]
    if first.startswith("{"):
        try:
            if isinstance(json.loads(first), dict):
                return "jsonl"
        except ValueError:
            pass
        if re.match(r"\{\s*:", first):
            return "edn"
        return "jsonl"  # let the JSON reader name the malformed line
    if first.startswith(("[", "(")):
        rest = text[text.index(first) :]
        return "json" if re.match(r'\[\s*(\{\s*"|\])', rest) else "edn"
    if first.startswith("#"):
        return "edn"  # tagged literals: Jepsen's #jepsen.history.Op{...} records
    raise HistoryError(
        "cannot tell the format (expected JSON Lines, Jepsen EDN or Jepsen log lines); "
        "name it with --format",
        path,
        lines.index(first) + 1,
    )


# ---------------------------------------------------------------- JSON Lines / JSON


def _read_jsonl(text: str, path: str | None):
    events: list[Event] = []
    meta: dict = {}
    skipped: dict[str, int] = {}
    lines = text.splitlines()
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as e:
            # A writer killed mid-line leaves a last line with no newline: the events
            # before it are whole, so judge them and say that line was dropped.
            if lineno == len(lines) and not text.endswith("\n") and events:
                skipped["unterminated last line (the writer stopped mid-line)"] = 1
                break
            raise HistoryError(f"malformed JSON: {e.msg} (column {e.colno})", path, lineno) from None
        if not isinstance(d, dict):
            raise HistoryError(f"expected a JSON object per line, got {type(d).__name__}", path, lineno)
        if META_KEY in d:
            if events or meta:
                raise HistoryError("metadata line must come first", path, lineno)
            if not isinstance(d[META_KEY], dict):
                raise HistoryError(f"'{META_KEY}' metadata must be an object", path, lineno)
            meta = tuplify(d[META_KEY])
            continue
        events.append(event_from_dict(d, path=path, line=lineno))
    return events, meta, skipped


def _read_json(text: str, path: str | None):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise HistoryError(f"malformed JSON: {e.msg} (column {e.colno})", path, e.lineno) from None
    if not isinstance(data, list):
        raise HistoryError("expected a JSON array of events", path, 1)
    lines = _json_element_lines(text)
    events = [event_from_dict(d, path=path, line=line) for d, line in zip(data, lines)]
    return events, {}, {}


def _json_element_lines(text: str) -> list[int]:
    """Lines where the elements of a JSON array start. The text has just parsed as an
    array, so it is valid: the C decoder finds where each element ends, in a fraction
    of the time the EDN tokenizer (``_element_lines``) takes on a big history."""
    scan = json.JSONDecoder().raw_decode
    lines: list[int] = []
    line, at, pos = 1, 0, text.index("[") + 1
    while True:
        while text[pos] in " \t\n\r,":
            pos += 1
        if text[pos] == "]":
            return lines
        line += text.count("\n", at, pos)
        lines.append(line)
        at = pos
        pos = scan(text, pos)[1]


# ---------------------------------------------------------------- EDN


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
            near = text[pos : pos + 20].splitlines()[0] if text[pos:pos + 20].strip() else ""
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
                while i < n and not text[i].isspace() and text[i] not in "()[]{}\",;":
                    i += 1
        else:
            while i < n and not text[i].isspace() and text[i] not in "()[]{}\",;":
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


# ---------------------------------------------------------------- writing


def jsonable(v: Any) -> Any:
    """Plain JSON data: tuples and sets become lists, keys strings, anything else its str()."""
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((jsonable(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def write_jsonl(
    out: str | os.PathLike | IO[str],
    events: Iterable[Event | dict],
    meta: dict | None = None,
) -> None:
    """Write events (Event objects or Jepsen-shaped dicts) as JSON Lines.

    ``meta`` becomes the first line, ``{"replicheck": meta}``, so that ``replicheck check``
    can judge the file with no flags. Output is deterministic: same events, same bytes.
    """
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", encoding="utf-8") as fh:
            write_jsonl(fh, events, meta)
        return
    if meta is not None:
        out.write(json.dumps({META_KEY: jsonable(meta)}, separators=(", ", ": ")) + "\n")
    for e in events:
        d = e.to_dict() if isinstance(e, Event) else e
        out.write(json.dumps(jsonable(d), separators=(", ", ": ")) + "\n")
