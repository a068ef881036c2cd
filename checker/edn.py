"""A reader for EDN, linear in its input: one compiled regex cuts the text into tokens,
a loop with an explicit stack builds the data.

It builds the plain Python data the history readers work with, not EDN objects:
keywords and symbols are strings (``:ok``, ``foo/bar``), vectors and lists tuples, maps
dicts, sets frozensets, characters one-character strings, ``nil`` None, integers ``int``
(``N`` too), floats ``float``, ``M`` decimals ``Decimal``, ratios ``Fraction``,
``#inst`` a datetime (or date), ``#uuid`` a UUID; any other tag (Jepsen's
``#jepsen.history.Op{...}`` records) reads as its element. The keys of a map that is a
history's event lose the keyword colon (``{:f :read}`` reads ``{"f": ":read"}``).

Strict where EDN is: a number glued to letters (``1a``), an unknown character name
(``\\abc``) or string escape (``"\\q"``) is an error naming its line, not two tokens or
a guess. Clojure reader extensions that are not EDN (``^meta``, ``#:ns{}``) are refused.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .history import MAX_DEPTH

# Everything between two tokens (spaces, tabs, commas, comments) is skipped inside the
# regex; a newline is a token of its own (with the blank lines and comments after it) so
# that the loop can count lines. The last alternative catches any character that starts
# no token: a stray quote of an unterminated string, say, or a blank EDN does not know.
# FLAT: what a flat map holds besides strings and vectors; no character str.split takes
# for a blank that EDN does not (so that splitting one cuts where the tokenizer would).
_FLAT = r"[^{}\[\]()\"\\\#;\n^\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_TOKEN = re.compile(
    r"""(?:[ \t\r\f\v,]+|;[^\n]*)*
    (
      \n(?:[ \t\r\f\v\n,]+|;[^\n]*)*          # newlines, blank lines, comments
    | "(?:[^"\\]|\\.)*"                     # string
    | (?:\#[a-zA-Z][^\s,;()\[\]{}"\\]*)?\{   # a flat map, maybe tagged: scalars (strings with
      FLAT*(?:(?:"[^"\\\n]*"|\[FLAT*\])FLAT*)*\}\n?  # no escape), vectors of scalars, on one line
    | [{}\[\]()]
    | \#[{_]                                # set, discard
    | \\(?:[^\s,;()\[\]{}"\\]+|.)           # character
    | [^\s,;()\[\]{}"\\]+                   # number, keyword, symbol, tag, nil/true/false
    | .                                     # no token starts here: an error
    )""".replace("FLAT", _FLAT),
    re.VERBOSE | re.DOTALL,
)
# A vector of scalars on one line (strings with no escape): a Jepsen log line's value
_FLAT_VECTOR = re.compile(rf'\[(?:{_FLAT}|"[^"\\\n]*")*\]')


_FLAT_ATOM = re.compile(r'[^\s,"\[]+|"[^"\n]*"|\[[^\]]*\]')  # the forms in a flat map

_SYM = r"[\w.*+!\-?$%&=:#<>@]"
_SYMBOL = re.compile(rf"(?:[\w*!?$%&=<>@]|[-+.])(?:{_SYM})*(?:/{_SYM}+)?|/")
_KEYWORD = re.compile(rf":{_SYM}+(?:/{_SYM}+)?")
_TAG = re.compile(rf"#[a-zA-Z]{_SYM}*(?:/{_SYM}+)?")
_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)N?")
_HEX = re.compile(r"[+-]?0x[0-9A-Fa-f]+")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)")
_DECIMAL = re.compile(r"[+-]?\d+(?:(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))?M")
_RATIO = re.compile(r"-?\d+/\d+")
_NUMBERISH = re.compile(r"[+-]?\d")

_CHAR_NAMES = {
    "newline": "\n",
    "return": "\r",
    "space": " ",
    "tab": "\t",
    "formfeed": "\f",
    "backspace": "\b",
}
_STRING_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_ESCAPES = {'\\"': '"', "\\\\": "\\", "\\n": "\n", "\\t": "\t", "\\r": "\r", "\\b": "\b", "\\f": "\f"}
# ##NaN is refused (Reader._atom): NaN equals nothing, not even itself, so a read of it
# could never match the write, a violation made up by the reader
_SPECIAL_FLOATS = {"##Inf": float("inf"), "##-Inf": float("-inf")}
_ATOMS: dict[str, Any] = {"nil": None, "true": True, "false": False, **_SPECIAL_FLOATS}

# Kinds of open forms
_VEC, _LIST, _MAP, _SET, _TAGGED, _DISCARD = range(6)
_OPEN_KIND = {"[": _VEC, "(": _LIST, "{": _MAP}
_CLOSER = {"]": _VEC, ")": _LIST, "}": _MAP}
_OPENER_TEXT = {_VEC: "[", _LIST: "(", _MAP: "{", _SET: "#{"}


class _Tag:
    """A tag token's meaning: what to do with the element that follows."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class EdnError(Exception):
    """Malformed EDN: the message and the line it is on; the caller adds the file."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


def _string(tok: str, line: int) -> str:
    body = tok[1:-1]
    if "\\" not in body:
        return body

    def escape(m: re.Match) -> str:
        e = m.group()
        if e in _ESCAPES:
            return _ESCAPES[e]
        if len(e) == 6:
            return chr(int(e[2:], 16))
        raise EdnError(f"malformed EDN: unknown escape {e!r} in a string", line)

    text = _STRING_ESCAPE.sub(escape, body)
    if "\\u" in body:
        # \uD83D\uDE00 is one character (strings are UTF-16, as in Java); a surrogate
        # alone is none, and no text can hold it
        try:
            text = text.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise EdnError("malformed EDN: a \\u escape of half a surrogate pair in a string", line) from None
    return text


def _char(tok: str, line: int) -> str:
    name = tok[1:]
    if len(name) == 1 and not name.isspace():
        return name
    if name in _CHAR_NAMES:
        return _CHAR_NAMES[name]
    if len(name) == 5 and name[0] == "u":
        try:
            return chr(int(name[1:], 16))
        except ValueError:
            pass
    raise EdnError(f"malformed EDN: unknown character {tok!r}", line)


def _word(tok: str, line: int) -> Any:
    """The value of a bare word: number, keyword, symbol, tag."""
    c = tok[0]
    if c == ":":
        if _KEYWORD.fullmatch(tok):
            return tok
    elif c == "#":
        if _TAG.fullmatch(tok):
            return _Tag(tok[1:])
    elif _NUMBERISH.match(tok):
        if _INT.fullmatch(tok):
            return int(tok[:-1] if tok[-1] == "N" else tok)
        if _FLOAT.fullmatch(tok):
            return float(tok)
        if _DECIMAL.fullmatch(tok):
            return Decimal(tok[:-1]) * 1  # rounded to the context's precision, as edn_format does
        if _RATIO.fullmatch(tok):
            num, den = tok.split("/")
            if int(den) != 0:
                return Fraction(int(num), int(den))
        if _HEX.fullmatch(tok):
            return int(tok, 16)  # the 0x prefix is allowed with base 16
        raise EdnError(f"malformed EDN: bad number {tok!r}", line)
    elif _SYMBOL.fullmatch(tok):
        return tok
    if c == "^" or tok.startswith("#:"):
        raise EdnError(f"malformed EDN: {tok!r}: Clojure metadata and namespaced maps are not EDN", line)
    raise EdnError(f"malformed EDN near {tok[:20]!r}", line)


def _inst(v: Any, line: int) -> Any:
    if not isinstance(v, str):
        raise EdnError(f"malformed EDN: #inst takes a string, got {v!r}", line)
    try:
        if len(v) in (4, 7, 10) and v.count("-") == (len(v) - 4) // 3:
            return datetime.datetime.strptime(v, ("%Y", "%Y-%m", "%Y-%m-%d")[(len(v) - 4) // 3]).date()
        return datetime.datetime.fromisoformat(v)
    except ValueError:
        raise EdnError(f"malformed EDN: #inst {v!r} is not a timestamp", line) from None


def _uuid(v: Any, line: int) -> uuid.UUID:
    try:
        return uuid.UUID(v)
    except (ValueError, TypeError, AttributeError):
        raise EdnError(f"malformed EDN: #uuid {v!r} is not a UUID", line) from None


def _split_flat(body: str, segments: _Segments, colon_strings: list[bool]) -> list:
    """The forms of a flat map's body that holds strings but no vector. Its strings have
    no escape (the tokenizer saw to it), so the text between quotes alternates between
    atoms and a string's characters; the atoms between two strings (``, :value ``) recur
    from map to map, so each distinct run is converted once."""
    if '":' in body:  # maybe a string that begins with ':' (or a keyword glued to one)
        colon_strings[0] = True
    parts = body.split('"')
    items = list(segments[parts[0]])
    for k in range(1, len(parts), 2):
        items.append(parts[k])
        items += segments[parts[k + 1]]
    return items


def _split_vectors(body: str, segments: _Segments, getitem: Callable[[str], Any]) -> list:
    """The forms of a flat map's body that holds vectors of scalars but no string: the
    text alternates between atoms and a vector's atoms, cut at the brackets."""
    parts = body.split("[")
    items = list(segments[parts[0]])
    for part in parts[1:]:
        inner, _, rest = part.partition("]")
        items.append(tuple(map(getitem, inner.replace(",", " ").split())))
        items += segments[rest]
    return items


class _Segments(dict):
    """The atoms between two strings of a flat map -> their values, as a tuple."""

    def __init__(self, atoms: _Atoms):
        super().__init__()
        self.getitem = atoms.__getitem__

    def __missing__(self, segment: str) -> tuple:
        v = tuple(map(self.getitem, segment.replace(",", " ").split()))
        if len(self) < 100_000:  # runs holding times or indexes are seen once: a bound
            self[segment] = v
        return v


class _Atoms(dict):
    """Token text -> value. A token not seen before is converted by ``__missing__``, so
    that the hot loops look tokens up with no test and no call of their own."""

    def __init__(self, reader: Reader):
        super().__init__(_ATOMS)
        self.reader = reader

    def __missing__(self, tok: str) -> Any:
        if tok.isdecimal() and (tok[0] != "0" or len(tok) == 1):
            v = int(tok)
            if len(self) < 1_000_000:  # a bound (the other atoms have the same)
                self[tok] = v
            return v
        return self.reader._atom(tok)


# Open forms allowed: a value's levels plus the vector of events, the event's map and
# tags or discards around them
MAX_NESTING = MAX_DEPTH + 4
TOO_MANY_DIGITS = "malformed EDN: an integer of more than 4300 digits (longer ones are not read)"

_NO_LINE = -1  # an error raised where the line is not known: the token loop fills it in


class Reader:
    """Reads EDN texts; keeps a cache of the atoms it has seen (keywords, numbers,
    strings), so that reading many small texts (the values of a Jepsen log) or a big one
    converts each distinct atom once."""

    def __init__(self) -> None:
        self.atoms = _Atoms(self)
        self.segments = _Segments(self.atoms)
        self.keys: dict[str, str] = {}  # keyword -> the event field it names (no colon)
        # [True] once a string literal began with ':' (it could pass for a keyword)
        self.colon_strings = [False]
        self.identity_tags: set[str] = set()  # tags seen before a flat map: read as the map

    def _atom(self, tok: str) -> Any:
        c = tok[0]
        v: Any
        if tok == "##NaN":
            raise EdnError(
                "##NaN is not a value a history can hold: it equals nothing, not even itself", _NO_LINE
            )
        if len(tok) == 1 and c in '"\\':
            what = "a string that is never closed" if c == '"' else "a backslash with no character"
            raise EdnError(f"malformed EDN: {what}", _NO_LINE)
        if c == '"':
            v = _string(tok, _NO_LINE)
            if v[:1] == ":":
                self.colon_strings[0] = True
        elif c == "[":  # a vector of scalars in a flat map
            v = tuple(map(self.atoms.__getitem__, tok[1:-1].replace(",", " ").split()))
        elif c == "\\":
            v = _char(tok, _NO_LINE)
        else:
            v = _word(tok, _NO_LINE)
            if c == ":":
                self.keys[tok] = tok[1:]
        if (len(self.atoms) < 1_000_000 or c == ":") and "\n" not in tok:
            self.atoms[tok] = v
        return v

    def _map(self, items: list, event: bool) -> dict:
        if len(items) % 2:
            raise EdnError("malformed EDN: a map needs an even number of forms", _NO_LINE)
        names: list[Any] = items[0::2]
        if not event:
            return dict(zip(names, items[1::2]))
        # An event's map: its keyword keys lose their colon.
        keys: dict[Any, Any] = self.keys
        if not self.colon_strings[0]:
            return dict(zip(map(keys.get, names, names), items[1::2]))
        # A string ":x" and the keyword :x are both ":x" by now: only the keyword (the
        # very object the atom cache holds) names a field.
        atoms = self.atoms
        return dict(
            zip(
                [keys.get(k, k) if k.__class__ is str and dict.get(atoms, k) is k else k for k in names],
                items[1::2],
            )
        )

    def _flat_tag(self, tok: str) -> None:
        """The tag of a flat map: it must be one that reads as its element."""
        tag = self.atoms[tok]
        if tag.__class__ is not _Tag:
            raise EdnError(f"malformed EDN near {tok[:20]!r}", _NO_LINE)
        if tag.name == "inst":
            _inst({}, _NO_LINE)
        if tag.name == "uuid":
            _uuid({}, _NO_LINE)
        self.identity_tags.add(tok)

    def read_value(self, text: str, line: int) -> list:
        """The forms of a short text, such as the value of a log line: ``read(text,
        line)[0]``, with a shortcut for a vector of scalars (a Jepsen log holds a
        hundred thousand distinct ones)."""
        if text[0] == "[" and _FLAT_VECTOR.fullmatch(text):
            if '"' in text:
                words = _FLAT_ATOM.findall(text, 1, len(text) - 1)
            else:
                words = text[1:-1].replace(",", " ").split()
            try:
                return [tuple(map(self.atoms.__getitem__, words))]
            except EdnError as e:
                if e.line == _NO_LINE:
                    e.line = line
                raise
            except ValueError:  # int(): more digits than Python converts (4,300)
                raise EdnError(TOO_MANY_DIGITS, line) from None
        return self.read(text, line)[0]

    def read(
        self, text: str, line: int = 1, event_depth: int = -1, progress: Callable[[float], None] | None = None
    ) -> tuple[list, list[int]]:
        """All top-level forms of ``text``, and the lines where the elements at
        ``event_depth`` start (0: the top-level forms; 1: the elements of a top-level
        vector or list; -1: none). Maps at ``event_depth`` are events (see the module
        doc). ``line`` is the line ``text`` starts on. ``progress(fraction)`` is called
        every 64 KiB of text or so. Raises EdnError."""
        state = [line]
        try:
            return self._read(text, line, event_depth, state, progress)
        except EdnError as e:
            if e.line == _NO_LINE:
                e.line = state[0]
            raise
        except TypeError as e:  # a map or set inside a set or as a map key
            raise EdnError(
                f"malformed EDN: {e} (a map key or set element must be hashable)", state[0]
            ) from None
        except ValueError:  # int(): more digits than Python converts (4,300)
            raise EdnError(TOO_MANY_DIGITS, state[0]) from None
        except RecursionError:  # hashing a set or map key nested (not past MAX_DEPTH) in C
            raise EdnError("malformed EDN: a value nested too deeply", state[0]) from None

    def _read(
        self,
        text: str,
        first_line: int,
        event_depth: int,
        state: list,
        progress: Callable[[float], None] | None,
    ) -> tuple[list, list[int]]:
        atoms = self.atoms
        getitem = atoms.__getitem__
        segments = self.segments
        flat_atoms = _FLAT_ATOM.findall
        identity_tags = self.identity_tags
        key_names = self.keys.get
        colon_strings = self.colon_strings
        out: list = []
        lines: list[int] = []
        stack: list[tuple] = []
        line = first_line
        cur = out  # the items of the innermost open form
        kind = -1  # and its kind (-1: the top level)
        start = line  # and the line it started on
        depth = 0  # containers open (tags and discards not counted)
        v: Any
        at_event = event_depth == 0  # `cur` holds events: note where each starts
        special = at_event  # at_event, or `cur` is a tag or discard waiting for its element
        # The newline added makes trailing blanks and a last comment part of a newline
        # token: without one they would be no token at all, and the catch-all would match.
        tokens = _TOKEN.findall(text + "\n")
        # The tokens go by in chunks of about 64 KiB of text, so that progress costs
        # nothing per token.
        step = max(1, len(tokens) * 65536 // max(1, len(text))) if progress else len(tokens) + 1
        for chunk in range(0, len(tokens), step):
            if chunk and progress:
                progress(chunk / len(tokens))
            for tok in tokens[chunk : chunk + step] if step <= len(tokens) else tokens:
                c = tok[0]
                if c == "\n":
                    line += tok.count("\n")
                    state[0] = line  # for errors: cheaper than a try block around the loop
                    continue
                if c in "{[(#]})":
                    # a flat map, whole, with the newline after it if there is one
                    if (c == "{" or c == "#") and len(tok) > 1 and (tok[-1] == "}" or tok[-1] == "\n"):
                        end = len(tok) - 1 if tok[-1] == "}" else len(tok) - 2
                        at = 1
                        if c == "#":
                            at = tok.index("{") + 1
                            if tok[: at - 1] not in identity_tags:
                                self._flat_tag(tok[: at - 1])
                        if "[" in tok:
                            if '"' in tok:
                                items = list(map(getitem, flat_atoms(tok, at, end)))
                            else:
                                items = _split_vectors(tok[at:end], segments, getitem)
                        elif '"' in tok:
                            items = _split_flat(tok[at:end], segments, colon_strings)
                        else:
                            items = list(map(getitem, tok[at:end].replace(",", " ").split()))
                        if depth == event_depth and not colon_strings[0] and not len(items) & 1:
                            names = items[0::2]
                            cur.append(dict(zip(map(key_names, names, names), items[1::2])))
                        else:
                            cur.append(self._map(items, depth == event_depth))
                        if at_event:
                            lines.append(line)
                        elif special:
                            cur, kind, start, depth, at_event, special = self._settle(
                                stack, cur, kind, start, depth, at_event, lines, line
                            )
                        if end != len(tok) - 1:
                            line += 1
                            state[0] = line
                        continue
                    if c in "{[(":
                        stack.append((cur, kind, start, depth, at_event, special))
                        if len(stack) > MAX_NESTING:
                            raise EdnError(f"value nested deeper than {MAX_DEPTH} levels", line)
                        depth += 1
                        cur, kind, start = [], _OPEN_KIND[c], line
                        special = at_event = depth == event_depth
                        continue
                    if c != "#":
                        closing = _CLOSER[c]
                        if kind != closing and not (closing == _MAP and kind == _SET):
                            if kind == -1:
                                raise EdnError(f"malformed EDN: {tok!r} closes nothing", line)
                            if kind == _TAGGED or kind == _DISCARD:
                                raise EdnError(
                                    f"malformed EDN: {tok!r} where a tag or #_ needs its element", line
                                )
                            raise EdnError(
                                f"malformed EDN: {tok!r} does not close the "
                                f"{_OPENER_TEXT[kind]!r} of line {start}",
                                line,
                            )
                        items, k, fline = cur, kind, start
                        cur, kind, start, depth, at_event, special = stack.pop()
                        if k == _VEC or k == _LIST:
                            v = tuple(items)
                        elif k == _MAP:
                            v = self._map(items, depth == event_depth)
                        else:
                            v = frozenset(items)
                        cur.append(v)
                        if at_event:
                            lines.append(fline)
                        elif special:
                            cur, kind, start, depth, at_event, special = self._settle(
                                stack, cur, kind, start, depth, at_event, lines, fline
                            )
                        continue
                    if tok == "#{" or tok == "#_":
                        stack.append((cur, kind, start, depth, at_event, special))
                        if len(stack) > MAX_NESTING:
                            raise EdnError(f"value nested deeper than {MAX_DEPTH} levels", line)
                        if tok == "#{":
                            depth += 1
                            cur, kind, start = [], _SET, line
                            special = at_event = depth == event_depth
                        else:
                            cur, kind, start, at_event, special = [], _DISCARD, line, False, True
                        continue
                    v = atoms[tok]
                    if v.__class__ is _Tag:
                        stack.append((cur, kind, start, depth, at_event, special))
                        if len(stack) > MAX_NESTING:
                            raise EdnError(f"value nested deeper than {MAX_DEPTH} levels", line)
                        cur, kind, start, at_event, special = [v], _TAGGED, line, False, True
                        continue
                    cur.append(v)
                else:
                    cur.append(atoms[tok])
                    if c == '"' and "\n" in tok:  # never cached, so that its lines are counted
                        line += tok.count("\n")
                        state[0] = line
                if at_event:
                    lines.append(line)
                elif special:
                    cur, kind, start, depth, at_event, special = self._settle(
                        stack, cur, kind, start, depth, at_event, lines, line
                    )
        if kind != -1:
            last = first_line + text.rstrip().count("\n")
            if kind == _TAGGED or kind == _DISCARD:
                raise EdnError("malformed EDN: the text ends where a tag or #_ needs its element", last)
            raise EdnError(
                f"malformed EDN: the file ends inside an unclosed form "
                f"(the {_OPENER_TEXT[kind]} of line {start})",
                last,
            )
        return out, lines

    @staticmethod
    def _settle(
        stack: list, cur: list, kind: int, start: int, depth: int, at_event: bool, lines: list, line: int
    ) -> tuple:
        """A value was just added to ``cur``, which is the event level or a tag or
        discard: apply tags and discards (they may nest), note where events start."""
        while kind == _TAGGED or kind == _DISCARD:
            if kind == _DISCARD:  # the value is dropped: the form around gets nothing
                return stack.pop()
            tag, v = cur
            if tag.name == "inst":
                v = _inst(v, start)
            elif tag.name == "uuid":
                v = _uuid(v, start)
            line = start  # a tagged event starts at its tag
            cur, kind, start, depth, at_event, special = stack.pop()
            cur.append(v)
            if not special:
                return cur, kind, start, depth, at_event, special
        if at_event:
            lines.append(line)
        return cur, kind, start, depth, at_event, True
