"""The EDN reader against edn_format, the library it replaced, kept as the reference.

Generated EDN documents (every kind of form, with comments, commas, discards and tags
between them) read to the same data with both, through the conversion the history
readers use; malformed ones are refused by both, ours naming the line. Every corpus file
reads to the same events, lines included, with the old readers and the new.
"""

from __future__ import annotations

import os
import string
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replicheck.checker import HistoryError, formats, parse_history
from replicheck.checker.edn import EdnError, Reader

pytest.importorskip("edn_format")
import edn_reference

SETTINGS = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------- generated EDN text

_NAME_START = string.ascii_letters + "*!?$%&=<>_"
_NAME_REST = string.ascii_letters + string.digits + "*!?$%&=<>_-+."


@st.composite
def _name(draw) -> str:
    name = draw(st.text(_NAME_START, min_size=1, max_size=1)) + draw(st.text(_NAME_REST, max_size=6))
    if draw(st.booleans()):
        name = draw(st.sampled_from(["ns", "jepsen.history", "a-b"])) + "/" + name
    return name


_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


@st.composite
def _string(draw) -> str:
    chars = draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
    out = []
    for ch in chars:
        if ch in _STRING_ESCAPES and (ch in '"\\' or draw(st.booleans())):
            out.append(_STRING_ESCAPES[ch])
        elif draw(st.integers(0, 9)) == 0 and ch not in "\\":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_INSTS = [
    '"1985-04-12T23:20:50.52Z"',
    '"2024-02-29T00:00:00+01:00"',
    '"2020-01-01"',
    '"2020-01"',
    '"2020"',
    '"2020-01-01T10:00:00.123456789Z"',
]
_UUIDS = ['"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"', '"00000000-0000-0000-0000-000000000000"']

_atom = st.one_of(
    st.sampled_from(["nil", "true", "false", "##Inf", "##-Inf"]),
    st.integers(-(10**30), 10**30).map(str),
    st.builds(
        lambda i, sign, n: (sign if i >= 0 else "") + str(i) + n,
        st.integers(-1000, 1000),
        st.sampled_from(["", "+"]),
        st.sampled_from(["", "N"]),
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(
        lambda a, b, e: f"{a}.{b}{e}M",
        st.integers(-99, 99),
        st.integers(0, 999),
        st.sampled_from(["", "e3", "E-2"]),
    ),
    st.builds(lambda a, b: f"{a}/{b}", st.integers(-50, 50), st.integers(1, 50)),
    _string(),
    st.sampled_from(
        [
            "\\a",
            "\\Z",
            "\\0",
            "\\(",
            "\\]",
            "\\\\",
            '\\"',
            "\\,",
            "\\;",
            "\\newline",
            "\\space",
            "\\tab",
            "\\return",
            "\\u0041",
            "\\u00e9",
            "\\u",
            "\\x",
        ]
    ),
    _name().map(lambda n: ":" + n),
    _name().filter(lambda s: s not in ("nil", "true", "false")),
    st.sampled_from(["+", "-", "/", "..."]),
)


def _sep(draw) -> str:
    return draw(st.sampled_from([" ", " ", ",", ", ", "\n", "\t", '\n ; a comment [ { "\n  ', " ,\n,"]))


def _join(draw, forms: list[str]) -> str:
    out = []
    for f in forms:
        out.append(f)
        out.append(_sep(draw))
    return "".join(out)


@st.composite
def _form(draw, depth: int = 0, hashable: bool = False) -> str:
    choices = ["atom"] * 6
    if depth < 3:
        choices += ["vector", "list"] + ([] if hashable else ["map", "set", "tagged"])
    choices += ["inst", "uuid", "discard"]
    kind = draw(st.sampled_from(choices))
    sub = _form(depth + 1, hashable)
    if kind == "atom":
        return draw(_atom)
    if kind in ("vector", "list"):
        inner = _join(draw, draw(st.lists(sub, max_size=4)))
        return (
            ("[" if kind == "vector" else "(")
            + draw(st.sampled_from(["", " "]))
            + inner
            + ("]" if kind == "vector" else ")")
        )
    if kind == "set":
        return "#{" + _join(draw, draw(st.lists(_form(depth + 1, True), max_size=4))) + "}"
    if kind == "map":
        pairs = draw(st.lists(st.tuples(_form(depth + 1, True), sub), max_size=4))
        return "{" + _join(draw, [k + _sep(draw) + v for k, v in pairs]) + "}"
    if kind == "tagged":
        return draw(st.sampled_from(["#jepsen.history.Op", "#my/tag", "#x"])) + _sep(draw) + draw(sub)
    if kind == "inst":
        return "#inst " + draw(st.sampled_from(_INSTS))
    if kind == "uuid":
        return "#uuid" + _sep(draw) + draw(st.sampled_from(_UUIDS))
    return "#_" + _sep(draw) + draw(sub) + _sep(draw) + draw(sub)  # a discarded form, then a form


_document = st.builds(
    lambda forms, lead: lead + " ".join(forms),
    st.lists(_form(), max_size=4),
    st.sampled_from(["", "; header\n", "\n\n"]),
)


def _reference(text: str):
    return [edn_reference._from_edn(x) for x in edn_reference._edn_loads_all(text, None)]


def _ours(text: str):
    return Reader().read(text)[0]


# ---------------------------------------------------------------- the differential tests


@SETTINGS
@given(_document)
def test_documents_read_as_edn_format_reads_them(text):
    try:
        expected = _reference(text)
    except (HistoryError, TypeError):
        # the reference cannot convert a map inside a set: data no history holds
        pytest.skip("reference refuses")
    assert _ours(text) == expected


@st.composite
def _flat_map(draw) -> str:
    """A map on one line of scalars, strings and vectors of scalars (the reader's fast
    path), its strings and vectors sometimes glued to their neighbours."""
    scalar = st.one_of(
        st.sampled_from([":a", ":b/c", "x", "nil", "1", "-2", "3.5", "7N", "\\c"]),
        st.text("ab ,}{#[]:", max_size=4).map(lambda t: '"' + t + '"'),
    )
    vector = st.lists(st.sampled_from([":a", "1", "nil", "2.5"]), max_size=3).map(
        lambda v: "[" + " ".join(v) + "]"
    )
    forms = draw(st.lists(st.one_of(scalar, vector), max_size=6))
    if len(forms) % 2:
        forms.append("1")
    out = ""
    for f in forms:
        glue = out[-1:] in ('"', "]") or f[0] in '"['
        out += (draw(st.sampled_from(["", " ", ","])) if glue and out else " ") + f
    return draw(st.sampled_from(["", "#jepsen.history.Op"])) + "{" + out + "}"


@SETTINGS
@given(st.lists(_flat_map(), min_size=1, max_size=3))
def test_flat_maps_read_as_edn_format_reads_them(maps):
    text = "\n".join(maps)
    assert _ours(text) == _reference(text)


def _malformed(draw_doc: str, how: str, tag: str) -> str:
    return {
        "stray closer": draw_doc + "\n]",
        "unclosed": "[" + draw_doc,
        "odd map": "{" + draw_doc + " " + draw_doc + "\n" + draw_doc + "}",
        "discard at the end": draw_doc + "\n#_",
        "tag without element": "[" + draw_doc + " " + tag + "]",
        "wrong closer": "[" + draw_doc + "\n}",
        "unterminated string": draw_doc + '\n"abc',
    }[how]


@SETTINGS
@given(
    _form(),
    st.sampled_from(
        [
            "stray closer",
            "unclosed",
            "odd map",
            "discard at the end",
            "tag without element",
            "wrong closer",
            "unterminated string",
        ]
    ),
    st.sampled_from(["#foo", "#jepsen.history.Op"]),
)
def test_malformed_documents_are_refused_by_both(form, how, tag):
    text = _malformed(form, how, tag)
    with pytest.raises((HistoryError, TypeError, ValueError)):
        _reference(text)
    with pytest.raises(EdnError) as err:
        _ours(text)
    assert 1 <= err.value.line <= text.count("\n") + 1
    assert err.value.message.startswith("malformed EDN")


# ---------------------------------------------------------------- histories: events and lines


_KEYS = [":process", ":type", ":f", ":value", ":time", ":index", ":node", '"error"', "extra", '":f"', ":ns/k"]


@st.composite
def _event(draw) -> str:
    keys = [":process", ":type"] + draw(st.lists(st.sampled_from(_KEYS), max_size=4))
    vals = {
        ":process": st.sampled_from(["0", "1", ":nemesis", "2"]),
        ":type": st.sampled_from([":invoke", ":ok", ":fail", ":info"]),
        ":f": st.sampled_from([":read", ":write", ":cas"]),
    }
    body = _join(draw, [k + _sep(draw) + draw(vals.get(k, _form(1, False))) for k in keys])
    event = "{" + body + "}"
    if draw(st.integers(0, 4)) == 0:
        event = draw(st.sampled_from(["#jepsen.history.Op", "#jepsen.history.Op\n"])) + event
    if draw(st.integers(0, 6)) == 0:
        event = "#_ " + draw(_form(1)) + _sep(draw) + event
    return event


@st.composite
def _history_text(draw) -> str:
    events = draw(st.lists(_event(), min_size=1, max_size=6))
    body = _join(draw, events)
    shape = draw(st.sampled_from(["vector", "list", "stream"]))
    lead = draw(st.sampled_from(["", "; a history\n", "\n"]))
    if shape == "stream":
        return lead + body
    return lead + ("[" if shape == "vector" else "(") + body + ("]" if shape == "vector" else ")")


def _events(reader, text):
    try:
        return reader(text, "h.edn")[0]
    except HistoryError as e:
        return ("error", e.line, e.message.split(":")[0])


@SETTINGS
@given(_history_text())
def test_histories_read_to_the_same_events_and_lines(text):
    expected = _events(edn_reference._read_edn, text)
    if isinstance(expected, tuple):  # an event the reader refuses: both refuse it
        assert isinstance(_events(formats._read_edn, text), tuple)
        return
    ours = _events(formats._read_edn, text)
    assert not isinstance(ours, tuple) and all(e.line is not None for e in ours)
    if all(e.line is None for e in expected):
        # the old coarse scanner lost count (it took ##Inf for a tag, say) and gave up
        ours = [replace(e, line=None) for e in ours]
    assert ours == expected


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["0", "1", ":nemesis"]),
            st.sampled_from([":invoke", ":ok", ":info"]),
            st.sampled_from([":read", ":write"]),
            _form(0),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_log_lines_read_to_the_same_events(rows):
    text = "".join(f"INFO  jepsen.util - {p}\t{t}\t{f}\t{v.replace(chr(10), ' ')}\n" for p, t, f, v in rows)
    text = text.replace(";", "")  # a comment would swallow the rest of a log line's value
    try:
        expected = edn_reference._read_log(text, "h.log")
    except HistoryError:
        with pytest.raises(HistoryError):
            formats._read_log(text, "h.log")
        return
    assert formats._read_log(text, "h.log") == expected


# ---------------------------------------------------------------- the real corpus


def _corpus_files() -> list[Path]:
    root = Path(os.environ.get("REPLICHECK_CORPUS", "/work/shared/corpus"))
    files = sorted(root.glob("jepsen-etcd/*.log")) + sorted(root.glob("knossos/*.edn"))
    files += sorted(p for p in root.glob("porcupine-kv/*") if p.suffix != ".tsv")
    return files


@pytest.mark.skipif(not _corpus_files(), reason="corpus absent (set REPLICHECK_CORPUS)")
def test_every_corpus_file_reads_as_before(monkeypatch):
    new = [parse_history(p.read_bytes(), path=str(p)) for p in _corpus_files()]
    monkeypatch.setattr(
        formats, "_read_edn", lambda text, path, progress: edn_reference._read_edn(text, path)
    )
    monkeypatch.setattr(
        formats, "_read_log", lambda text, path, progress: edn_reference._read_log(text, path)
    )
    for p, h in zip(_corpus_files(), new):
        old = parse_history(p.read_bytes(), path=str(p))
        assert (h.events, h.ops, h.faults, h.meta, h.skipped, h.format) == (
            old.events,
            old.ops,
            old.faults,
            old.meta,
            old.skipped,
            old.format,
        ), p


# ---------------------------------------------------------------- errors users see


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("[{:process 0 :type :invoke}\n {:process 0 :type :ok]\n", 2, "does not close the '{' of line 2"),
        ("[{:process 0 :type :invoke}\n {:process 0\n :type :ok}\n", 3, "unclosed form (the [ of line 1)"),
        ('[{:process 0 :type :invoke :value "ab\n c}]\n', 1, "never closed"),
        ("[{:process 0 :type :invoke :value 1a}]\n", 1, "bad number '1a'"),
        ('[{:process 0 :type :invoke\n :value "a\\qb"}]\n', 2, "unknown escape"),
        ("[{:process 0 :type :invoke\n :value \\bogus}]\n", 2, "unknown character"),
        ("[{:process 0 :type :invoke :value #{{:a 1}}}]\n", 1, "must be hashable"),
        ("[{:process 0 :type :invoke\n :value ^{:a 1} x}]\n", 2, "not EDN"),
    ],
)
def test_malformed_edn_names_line_and_problem(text, line, words):
    with pytest.raises(HistoryError) as err:
        parse_history(text, path="h.edn")
    assert err.value.line == line
    assert words in err.value.message


def test_lines_of_events_spread_over_several_lines_and_strings_with_newlines():
    text = (
        '[{:process 0, :type :invoke, :f :write,\n  :value "two\nlines"}\n'
        " #_ {:discarded 1}\n"
        ' {:process 0 :type :ok :f :write :value "two\nlines"}\n'
        " #jepsen.history.Op\n {:process 1 :type :invoke :f :read}]\n"
    )
    h = parse_history(text)
    assert [e.line for e in h.events] == [1, 5, 7]  # a tagged event starts at its tag
    assert h.events[0].value == "two\nlines"


def test_crlf_line_ends_are_whitespace():
    text = "[{:process 0 :type :invoke :f :write :value 1}\r\n {:process 0 :type :ok :f :write :value 1}]\r\n"
    assert [e.line for e in parse_history(text).events] == [1, 2]
