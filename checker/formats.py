"""Reading and writing histories: JSON Lines, Jepsen EDN and Jepsen log lines.

JSON Lines is the canonical format: one event per line, mirroring Jepsen's maps, e.g.
``{"process": 0, "type": "invoke", "f": "cas", "key": "x", "value": [1, 2], "time": 120}``.
Its first line may be metadata saying how to judge the history:
``{"replicheck": {"spec": "cas-register", "init": null, "nil_read": "absent"}}``.

EDN (files and the values in log lines) is read by ``edn.Reader``, in time linear in the
text; it knows the line of every event and of every error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from typing import IO, Any

from .edn import EdnError, Reader
from .history import (
    MAX_DEPTH,
    NO_EXTRA,
    Event,
    History,
    HistoryError,
    event_from_dict,
    no_gc,
    show,
    tuplify,
)

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


Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``, called while a history is read: at most once
per 64 KiB or so, and once at the end."""

PROGRESS_EVERY = 65536  # characters of text between two progress calls


def read_history(
    path: str | os.PathLike,
    format: str | None = None,
    independent: bool = False,
    progress: Progress | None = None,
) -> History:
    """Read a history file, choosing the format by content unless ``format`` is given.

    ``independent``: values are Jepsen's ``[key value]`` tuples, unwrapped into keys
    (also when the metadata line says ``"independent": true``). ``progress``: see
    ``Progress``.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise HistoryError(f"cannot read file: {e.strerror}", path) from None
    return parse_history(data, path=path, format=format, independent=independent, progress=progress)


def parse_history(
    data: bytes | str,
    *,
    path: str | None = None,
    format: str | None = None,
    independent: bool = False,
    progress: Progress | None = None,
) -> History:
    """Parse a history from bytes or text (see ``read_history``)."""
    with no_gc():
        return _parse(data, path, format, independent, progress)


def _parse(
    data: bytes | str, path: str | None, format: str | None, independent: bool, progress: Progress | None
) -> History:
    if isinstance(data, str):
        try:
            data.encode()
        except UnicodeEncodeError as e:
            line = data.count("\n", 0, e.start) + 1
            raise HistoryError(
                "not text: a lone surrogate character (half a UTF-16 pair)", path, line
            ) from None
    total = len(data.encode() if isinstance(data, str) else data) if progress else 0
    # The readers report the fraction of the text done; the caller hears of bytes.
    fraction = None if progress is None else (lambda done: progress(int(done * total), total))
    # text is read as its bytes would be; a text with a byte-order mark keeps the text
    # path's verdict on it (only bytes decode as utf-8-sig)
    if format in (None, "jsonl") and not (isinstance(data, str) and data[:1] == "\ufeff"):
        raw = data.encode() if isinstance(data, str) else data
        fast = _read_jsonl_bytes(raw, path, fraction)
        if fast is not None:
            return _history(fast[0], fast[1], {}, "jsonl", path, independent, progress, total)
    text = _decode(data, path)
    if not text.strip():
        raise HistoryError("empty history: the file has no events", path)
    if format is None:
        format = detect_format(text, path)
    elif format not in FORMATS:
        raise HistoryError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", path)
    reader = {"jsonl": _read_jsonl, "json": _read_json, "edn": _read_edn, "jepsen-log": _read_log}[format]
    events, meta, skipped = reader(text, path, fraction)
    return _history(events, meta, skipped, format, path, independent, progress, total)


def _history(
    events: list[Event],
    meta: dict,
    skipped: dict,
    format: str,
    path: str | None,
    independent: bool,
    progress: Progress | None,
    total: int,
) -> History:
    if progress is not None:
        progress(total, total)
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
    # the first 200 lines without splitting the whole text: up to its 200th newline
    end = -1
    for _ in range(200):
        end = text.find("\n", end + 1)
        if end < 0:
            break
    head = text if end < 0 else text[:end]
    lines = [ln.strip() for ln in head.splitlines()[:200]]
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
        except (ValueError, RecursionError):
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
        "cannot tell the format (expected JSON Lines, Jepsen EDN or Jepsen log lines); name it with --format",
        path,
        lines.index(first) + 1,
    )


# ---------------------------------------------------------------- JSON Lines / JSON


def _no_constant(name: str) -> Any:
    raise HistoryError(f"{name} is not JSON (and NaN equals nothing, not even itself)")


# json.loads, refusing NaN and Infinity: Python's json takes them, and a NaN read back
# could never match the value written (a made-up violation). msgspec refuses them too.
_careful_json = json.JSONDecoder(parse_constant=_no_constant).decode


def _whole_characters(d: Any, path: str | None, line: int | None) -> None:
    """Refuse a \\u escape of half a surrogate pair: json takes it, but no text holds it
    (printing the value would fail). msgspec refuses it: only the careful path looks."""
    try:
        json.dumps(d, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise HistoryError("a \\u escape of half a surrogate pair in a string", path, line) from None


TOO_MANY_DIGITS = "an integer of more than 4300 digits (longer ones are not read)"

_META_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "spec": ((str,), "a spec's name"),
    "nil_read": ((str,), '"absent" or "unknown"'),
    "independent": ((bool,), "true or false"),
}


def _meta(d: dict, path: str | None, line: int = 1) -> dict:
    """The metadata line's settings, checked: a wrong type here would otherwise fail far
    from the file (a spec named by a number is no spec)."""
    try:
        meta = tuplify(d)
    except HistoryError as e:
        raise HistoryError(e.message, path, line) from None
    for name, (types, what) in _META_FIELDS.items():
        v = meta.get(name)
        if v is not None and not isinstance(v, types):
            raise HistoryError(f"metadata '{name}' must be {what}, got {show(v)}", path, line)
    if meta.get("nil_read") not in (None, "absent", "unknown"):
        raise HistoryError(
            f'metadata \'nil_read\' must be "absent" or "unknown", got {show(meta["nil_read"])}', path, line
        )
    return meta


def _json_decoder() -> tuple[Any, tuple[type[Exception], ...]]:
    """msgspec's JSON decoder where it is installed: 2.7x the speed of json.loads per
    line, with exact big integers (orjson turns those into floats). It only ever takes
    the fast path: whatever it refuses, json decides, as it did before."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover - a dependency, but the reader works without it
        return None, ()
    return msgspec.json.Decoder(), (ValueError, msgspec.MsgspecError)


_decoder, _FAST_JSON_ERRORS = _json_decoder()
# what sends a fast path back to the careful one, which then names the problem
_FALL_BACK: tuple[type[Exception], ...] = (*_FAST_JSON_ERRORS, HistoryError, RecursionError)
_FAST_OR_DEEP: tuple[type[Exception], ...] = (*_FAST_JSON_ERRORS, RecursionError)
_fast_json = None if _decoder is None else _decoder.decode
_fast_lines = None if _decoder is None else _decoder.decode_lines


def _steps(items: int, text: str) -> int:
    """How many of a text's items (lines, tokens) make about PROGRESS_EVERY characters."""
    return max(1, items * PROGRESS_EVERY // max(1, len(text)))


def _read_jsonl(text: str, path: str | None, progress: Callable[[float], None] | None = None):
    # The fast path (_read_jsonl_bytes) has declined this text: read it line by line,
    # finding the first problem as it always did.
    return _read_jsonl_lines(text, text.splitlines(), path)


# Line ends that str.splitlines (the text path's) cuts at and JSON takes inside a string
_UNICODE_LINE_ENDS = ("\u2028".encode(), "\u2029".encode(), "\x85".encode())


def _read_jsonl_bytes(
    data: bytes, path: str | None, progress: Callable[[float], None] | None
) -> tuple[list[Event], dict] | None:
    """JSON Lines decoded straight from the file's bytes, ~64 KiB at a time: no text copy
    of the file and no string per line (a 1M-op history: 700 MB less at the peak). None
    for anything the text path must judge - a blank or malformed line,
    metadata past the first line, a line end only str.splitlines knows - so that errors
    and skipped lines are reported exactly as the text path reports them."""
    if _fast_json is None or _fast_lines is None or b"\x00" in data[:65536]:
        return None
    at, line = (3, 1) if data[:3] == b"\xef\xbb\xbf" else (0, 1)  # as utf-8-sig drops it
    first_end = data.find(b"\n", at)
    try:
        first = _fast_json(data[at : first_end if first_end >= 0 else len(data)])
        if type(first) is not dict or any(end in data for end in _UNICODE_LINE_ENDS):
            return None
        meta: dict = {}
        if isinstance(first.get(META_KEY), dict):
            meta = _meta(first[META_KEY], path)
            at, line = first_end + 1, 2
        if data.find(f'"{META_KEY}"'.encode(), at) >= 0:
            return None
        events: list[Event] = []
        total = len(data)
        while at < total:
            end = data.find(b"\n", at + PROGRESS_EVERY)
            end = total if end < 0 else end + 1
            chunk = data[at:end]
            maps = _fast_lines(chunk)
            if len(maps) != chunk.count(b"\n") + (not chunk.endswith(b"\n")):
                return None  # a blank line: the text path counts lines its own way
            events += [event_from_dict(d, path=path, line=n) for n, d in enumerate(maps, line)]
            line += len(maps)
            at = end
            if progress:
                progress(at / total)
    except _FALL_BACK:
        return None
    return events, meta


def _read_jsonl_lines(text: str, lines: list[str], path: str | None):
    events: list[Event] = []
    meta: dict = {}
    skipped: dict[str, int] = {}
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            d = _careful_json(raw)
        except HistoryError as e:
            raise HistoryError(e.message, path, lineno) from None
        except RecursionError:
            raise HistoryError(f"value nested deeper than {MAX_DEPTH} levels", path, lineno) from None
        except json.JSONDecodeError as e:
            # A writer killed mid-line leaves a last line with no newline: the events
            # before it are whole, so judge them and say that line was dropped.
            if lineno == len(lines) and not text.endswith("\n") and events:
                skipped["unterminated last line (the writer stopped mid-line)"] = 1
                break
            raise HistoryError(f"malformed JSON: {e.msg} (column {e.colno})", path, lineno) from None
        except ValueError:  # an integer of more digits than Python converts (4,300)
            raise HistoryError(TOO_MANY_DIGITS, path, lineno) from None
        if not isinstance(d, dict):
            raise HistoryError(f"expected a JSON object per line, got {type(d).__name__}", path, lineno)
        if "\\u" in raw:
            _whole_characters(d, path, lineno)
        if META_KEY in d:
            if events or meta:
                raise HistoryError("metadata line must come first", path, lineno)
            if not isinstance(d[META_KEY], dict):
                raise HistoryError(f"'{META_KEY}' metadata must be an object", path, lineno)
            meta = _meta(d[META_KEY], path, lineno)
            continue
        events.append(event_from_dict(d, path=path, line=lineno))
    return events, meta, skipped


def _read_json(text: str, path: str | None, progress: Callable[[float], None] | None = None):
    fast = _json_array_by_lines(text, progress)
    if fast is not None:
        try:
            return [event_from_dict(d, path=path, line=n) for d, n in zip(*fast)], {}, {}
        except HistoryError:
            pass  # the reader below names the problem as it always did
    try:
        data = _careful_json(text)
    except HistoryError as e:
        raise HistoryError(e.message, path) from None
    except RecursionError:
        raise HistoryError(f"value nested deeper than {MAX_DEPTH} levels", path) from None
    except json.JSONDecodeError as e:
        raise HistoryError(f"malformed JSON: {e.msg} (column {e.colno})", path, e.lineno) from None
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise HistoryError(TOO_MANY_DIGITS, path) from None
    if not isinstance(data, list):
        raise HistoryError("expected a JSON array of events", path, 1)
    if "\\u" in text:
        _whole_characters(data, path, None)
    lines = _json_element_lines(text)
    events = [event_from_dict(d, path=path, line=line) for d, line in zip(data, lines)]
    return events, {}, {}


def _json_array_by_lines(text: str, progress: Callable[[float], None] | None) -> tuple[list, range] | None:
    """The elements of a JSON array laid out one per line (``[``, then ``{...},`` lines,
    then ``]``), with their lines, each line decoded by msgspec; None for any other
    layout or anything msgspec refuses. A line that decodes alone with its comma off is
    one whole element: an element spread over lines has a first line that cannot."""
    if _fast_json is None:
        return None
    lines = text.split("\n")  # not splitlines: JSON takes \f or \u2028 for no line end
    first = 0
    while first < len(lines) and not lines[first].strip(" \t\r"):
        first += 1
    last = len(lines) - 1
    while last > first and not lines[last].strip(" \t\r"):
        last -= 1
    if last - first < 2 or lines[first].strip(" \t\r") != "[" or lines[last].strip(" \t\r") != "]":
        return None
    body = [line.rstrip(" \t\r") for line in lines[first + 1 : last]]
    if not all(line.endswith(",") for line in body[:-1]) or body[-1].endswith(","):
        return None
    body[:-1] = [line[:-1] for line in body[:-1]]
    step = _steps(len(body), text) if progress else len(body)
    items: list = []
    try:
        for at in range(0, len(body), step):
            items += map(_fast_json, body[at : at + step])
            if progress:
                progress(at / len(body))
    except _FAST_OR_DEEP:
        return None
    return items, range(first + 2, last + 1)


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


def _edn_read(
    reader: Reader,
    text: str,
    path: str | None,
    line: int = 1,
    event_depth: int = -1,
    progress: Callable[[float], None] | None = None,
):
    try:
        return reader.read(text, line, event_depth, progress)
    except EdnError as e:
        raise HistoryError(e.message, path, e.line) from None


_SEQUENCE_FIRST = re.compile(r"(?:[\s,]+|;[^\n]*)*[\[(]")


def _read_edn(text: str, path: str | None, progress: Callable[[float], None] | None = None):
    # One top-level vector or list holds the events; else the top-level forms are the
    # events. Guess which from the first token (maps of events lose their keys' colons as
    # they are built), read again in the rare case the guess was wrong.
    depth = 1 if _SEQUENCE_FIRST.match(text) else 0
    reader = Reader()
    forms, lines = _edn_read(reader, text, path, event_depth=depth, progress=progress)
    single = len(forms) == 1 and type(forms[0]) is tuple
    if single != (depth == 1):
        depth = 1 - depth
        forms, lines = _edn_read(Reader(), text, path, event_depth=depth)
    items = forms[0] if depth == 1 else forms
    if len(lines) != len(items):
        lines = [None] * len(items)
    return [event_from_dict(d, path=path, line=line) for d, line in zip(items, lines)], {}, {}


# ---------------------------------------------------------------- Jepsen log lines

_NO_VALUE = (":timed-out",)


def _log_head(process_text: str, f: str) -> tuple[Any, str]:
    """A log line's process and function, as event_from_dict would make them."""
    process: Any = process_text
    if process.lstrip("-").isdigit():
        try:
            process = int(process)
        except ValueError:  # "--1", or digits int() does not read
            pass
    if isinstance(process, str):
        process = process.removeprefix(":")
    return process, f.removeprefix(":")


def _read_log(text: str, path: str | None, progress: Callable[[float], None] | None = None):
    # Builds each Event itself, as event_from_dict would from the line's map (the regex
    # has checked the type): this reader is the one that reads millions of lines.
    events: list[Event] = []
    append = events.append
    skipped = 0
    values: dict[str, Any] = {}
    heads: dict[tuple[str, str], tuple[Any, str]] = {}
    reader = Reader()
    search = _LOG_LINE.search
    lines = text.splitlines()
    step = _steps(len(lines), text) if progress else len(lines) + 1
    for lineno, raw in enumerate(lines, 1):
        if not lineno % step and progress:
            progress(lineno / len(lines))
        if "jepsen.util" not in raw:
            if raw and not raw.isspace():
                skipped += 1
            continue
        m = search(raw.rstrip())
        if m is None:
            skipped += 1
            continue
        process_text, typ, f_text, rest = m.groups()
        head = heads.get((process_text, f_text))
        if head is None:
            head = heads[process_text, f_text] = _log_head(process_text, f_text)
        rest = (rest or "").strip()
        fields = rest.split("\t") if "\t" in rest else [rest]
        value_text = fields[0].strip() or "nil"
        if value_text not in values:
            try:
                forms = reader.read_value(value_text, lineno) if value_text != "nil" else [None]
            except EdnError as e:
                raise HistoryError(e.message, path, e.line) from None
            if not forms:
                raise HistoryError("log line has no value", path, lineno)
            values[value_text] = (forms[0], forms[1:])
        value, trailing = values[value_text]
        error = None
        if value.__class__ is str and value in _NO_VALUE:
            error = value[1:]
            value = None
        elif value.__class__ is dict:
            value = tuplify(value)
        if trailing or len(fields) > 1:
            errors = [str(x) for x in trailing] + [x.strip() for x in fields[1:] if x.strip()]
            if errors:
                error = " ".join(errors)
        extra = NO_EXTRA if error is None else {"error": error}
        append(Event(head[0], typ, head[1], value, None, None, None, None, lineno, extra))
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
