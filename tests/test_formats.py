"""Readers and the writer: every format a tester brings reads to the same operations."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replicheck.checker import (
    UNKNOWN,
    History,
    HistoryError,
    check,
    parse_history,
    read_history,
    write_jsonl,
)
from replicheck.checker.formats import detect_format


def test_jsonl_metadata_names_spec_and_initial_value():
    h = parse_history(
        '{"replicheck": {"spec": "cas-register", "init": 0}}\n'
        '{"process": 0, "type": "invoke", "f": "cas", "value": [0, 1]}\n'
        '{"process": 0, "type": "ok", "f": "cas", "value": [0, 1]}\n'
    )
    assert h.format == "jsonl"
    assert h.meta["spec"] == "cas-register"
    assert h.ops[0].value == (0, 1)  # JSON arrays become hashable tuples
    assert check(h).valid is True  # no flags needed
    assert check(h, init=5).valid is False  # the argument overrides the metadata


def test_edn_vector_with_comments_and_missing_commas():
    text = """; a comment line
[{:process 0, :type :invoke, :f :write, :value 2}
 ; a comment between ops
 {:process 0  :type :ok, :f :write, :value 2}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 2}]
"""
    h = parse_history(text)
    assert h.format == "edn"
    assert [(op.f, op.process, op.line, op.ret_line) for op in h.ops] == [
        ("write", 0, 2, 4),
        ("read", 1, 5, 6),
    ]
    assert h.ops[1].output == 2


def test_edn_list_and_stream_of_maps_read_the_same():
    ops = (
        "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n{:process 0, :type :ok, :f :cas, :value [1 2]}\n"
    )
    stream = parse_history(ops)
    as_list = parse_history("(" + ops + ")")
    assert [o.value for o in stream.ops] == [o.value for o in as_list.ops] == [(1, 2)]
    assert [o.line for o in stream.ops] == [1]


def test_edn_tagged_record_literals_read_as_their_map():
    text = (
        "#jepsen.history.Op{:index 0, :time 10, :type :invoke, :process 0, :f :write, :value 1}\n"
        "#jepsen.history.Op{:index 1, :time 20, :type :ok, :process 0, :f :write, :value 1}\n"
    )
    h = parse_history(text)
    assert h.ops[0].call == 10 and h.ops[0].ret == 20
    assert h.ops[0].line == 1


def test_jepsen_log_lines_noise_is_counted_and_timeouts_understood():
    text = (
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
        "some other line from the test harness\n"
        "\n"
        "INFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n"
        "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n"
        "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
        "INFO jepsen.util - 3 :invoke :write 4\n"
        "INFO jepsen.util - 3 :ok :write 4\n"
    )
    h = parse_history(text)
    assert h.format == "jepsen-log"
    assert h.skipped == {"lines that are not Jepsen operations": 1}
    assert [(o.f, o.status) for o in h.ops] == [("read", "fail"), ("cas", "info"), ("write", "ok")]
    assert h.ops[1].value == (1, 2)  # an info keeps its invocation's value
    assert h.ops[1].output is UNKNOWN
    assert len(h.faults) == 1 and h.faults[0].f == "start"


def test_never_completed_invocations_are_crashes():
    h = parse_history(
        '{"process": 0, "type": "invoke", "f": "write", "value": 1}\n'
        '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
        '{"process": 1, "type": "ok", "f": "read", "value": 1}\n'
    )
    assert h.ops[0].status == "info" and h.never_completed == 1
    assert check(h, "register").valid is True  # the pending write may have happened


def test_closed_intervals_equal_timestamps_are_concurrent():
    def history(read_call):
        return History.from_events(
            [
                {"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0},
                {"process": 0, "type": "ok", "f": "write", "value": 1, "time": 5},
                {"process": 1, "type": "invoke", "f": "read", "value": None, "time": read_call},
                {"process": 1, "type": "ok", "f": "read", "value": None, "time": 9},
            ]
        )

    # A read invoked at the very instant the write completed may precede it...
    assert check(history(5), "register", nil_read="absent").valid is True
    # ...one invoked strictly later may not.
    assert check(history(6), "register", nil_read="absent").valid is False


def test_timestamps_order_events_even_out_of_file_order():
    h = History.from_events(
        [
            {"process": 1, "type": "invoke", "f": "read", "value": None, "time": 10},
            {"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0},
            {"process": 0, "type": "ok", "f": "write", "value": 1, "time": 5},
            {"process": 1, "type": "ok", "f": "read", "value": None, "time": 12},
        ]
    )
    assert check(h, "register", nil_read="absent").valid is False


def test_write_then_read_back_is_identical(tmp_path):
    original = (
        '{"replicheck": {"spec": "kv"}}\n'
        '{"process": 0, "type": "invoke", "f": "append", "key": "k", "value": "x", "time": 1, "node": "n1", '
        '"session": "s"}\n'
        '{"process": 0, "type": "ok", "f": "append", "key": "k", "value": "x", "time": 2, "node": "n1"}\n'
    )
    h = parse_history(original)
    buf = io.StringIO()
    write_jsonl(buf, h.events, h.meta)
    again = parse_history(buf.getvalue())
    assert again.ops == h.ops
    assert again.meta == h.meta
    assert again.ops[0].extra == {"session": "s"}
    buf2 = io.StringIO()
    write_jsonl(buf2, again.events, again.meta)
    assert buf2.getvalue() == buf.getvalue()


@pytest.mark.parametrize(
    "first, fmt",
    [
        ('{"process": 0, "type": "invoke"}', "jsonl"),
        ("{:process 0, :type :invoke}", "edn"),
        ("[{:process 0}", "edn"),
        ('[{"process": 0}', "json"),
        ("INFO  jepsen.util - 0\t:invoke\t:read\tnil", "jepsen-log"),
    ],
)
def test_format_detection(first, fmt):
    assert detect_format(first + "\n") == fmt


def test_nemesis_events_are_annotations_not_operations():
    h = History.from_events(
        [
            {"process": "nemesis", "type": "info", "f": "start-partition", "value": "majority"},
            {"process": 0, "type": "invoke", "f": "write", "value": 1},
            {"process": "nemesis", "type": "info", "f": "start-partition", "value": "majority"},
            {"process": 0, "type": "ok", "f": "write", "value": 1},
        ]
    )
    assert len(h.ops) == 1 and len(h.faults) == 2


def test_read_history_from_disk_reports_path(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"process": 0, "type": "invoke", "f": "write", "value": 1}\n')
    assert read_history(p).path == str(p)


def test_jepsen_independent_tuples_unwrap_into_keys(tmp_path):
    text = (
        "INFO  jepsen.util - 0\t:invoke\t:write\t[1 3]\n"
        "INFO  jepsen.util - 0\t:ok\t:write\t[1 3]\n"
        "INFO  jepsen.util - 1\t:invoke\t:cas\t[2 [nil 4]]\n"
        "INFO  jepsen.util - 1\t:ok\t:cas\t[2 [nil 4]]\n"
        "INFO  jepsen.util - 2\t:invoke\t:read\t[1 nil]\n"
        "INFO  jepsen.util - 2\t:ok\t:read\t[1 4]\n"
    )
    h = parse_history(text, independent=True)
    assert [(o.key, o.f, o.value, o.output) for o in h.ops] == [
        (1, "write", 3, 3),
        (2, "cas", (None, 4), (None, 4)),
        (1, "read", None, 4),
    ]
    # key 1 read 4, which only key 2 ever held: keys are separate registers
    assert check(h, "cas-register", nil_read="absent").valid is False
    from replicheck.checker import HistoryError

    with pytest.raises(HistoryError, match=r"<history>:1: independent history: write value must be a pair"):
        parse_history("INFO  jepsen.util - 0\t:invoke\t:write\t3\n", independent=True)
    path = tmp_path / "ind.log"
    path.write_text(text)
    from click.testing import CliRunner

    from replicheck.cli.main import cli

    res = CliRunner().invoke(
        cli, ["check", str(path), "--spec", "cas-register", "--independent", "--nil-read", "absent"]
    )
    assert res.exit_code == 1


def test_elle_single_micro_op_transactions_unwrap():
    text = (
        "{:process 0, :type :invoke, :f :txn, :value [[:append 5 1]]}\n"
        "{:process 0, :type :ok, :f :txn, :value [[:append 5 1]]}\n"
        "{:process 1, :type :invoke, :f :txn, :value [[:r 5 nil]]}\n"
        "{:process 1, :type :ok, :f :txn, :value [[:r 5 [1]]]}\n"
        "{:process 2, :type :invoke, :f :txn, :value [[:r 5 nil]]}\n"
        "{:process 2, :type :ok, :f :txn, :value [[:r 5 []]]}\n"
    )
    h = parse_history(text)
    assert [(o.f, o.key, o.value, o.output) for o in h.ops] == [
        ("append", 5, 1, 1),
        ("read", 5, None, (1,)),
        ("read", 5, None, ()),
    ]
    r = check(h, "list-append")
    assert r.valid is False and r.op.id == 2  # the append was already acknowledged


def test_multi_micro_op_transactions_are_refused_with_a_reason():
    from replicheck.checker import HistoryError

    h = parse_history(
        "{:process 0, :type :invoke, :f :txn, :value [[:append 5 1] [:r 6 nil]]}\n"
        "{:process 0, :type :ok, :f :txn, :value [[:append 5 1] [:r 6 [2]]]}\n"
    )
    with pytest.raises(HistoryError, match="several micro-operations"):
        check(h, "list-append")


# ---------------------------------------------------------------- the fast JSON decoder


def _typed(v):
    """A value with its types spelled out: 1 and 1.0 and True are equal, but not alike."""
    if isinstance(v, dict):
        return {k: _typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_typed(x) for x in v]
    return (type(v).__name__, repr(v))


_json_text = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**80), 2**80),
        st.floats(allow_nan=False),
        st.text(max_size=5),
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=3), kids, max_size=3)
    ),
    max_leaves=8,
).map(json.dumps)
_json_noise = st.sampled_from(
    ["", " ", "x", ",", "]", "}", "\x00", "\\", '"', "NaN", "1e999", "\ud800", "\t"]
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_json_text, _json_noise, st.integers(0, 40))
def test_fast_json_decoder_accepts_only_what_json_accepts_and_reads_it_alike(text, noise, at):
    from replicheck.checker import formats

    if formats._fast_json is None:
        pytest.skip("msgspec is not installed")
    text = text[:at] + noise + text[at:]
    try:
        fast = formats._fast_json(text)
    except formats._FAST_JSON_ERRORS:
        return  # json decides: the reader falls back to it
    assert _typed(fast) == _typed(json.loads(text))


def test_jsonl_fast_and_careful_paths_read_the_same(monkeypatch):
    from replicheck.checker import formats

    text = (
        '{"replicheck": {"spec": "kv", "init": [1, 2]}}\n'
        '{"process": 0, "type": "invoke", "f": "write", "key": [1, ["a", [2]]], '
        '"value": 123456789012345678901234567890, "time": 1.5, "session": "s"}\n'
        '{"process": "nemesis", "type": "info", "f": "kill", "value": null, "time": 2}\n'
        '{"process": 0, "type": "ok", "f": "write", "key": [1, ["a", [2]]], '
        '"value": 123456789012345678901234567890, "time": 3}\n'
    )
    fast = parse_history(text)
    monkeypatch.setattr(formats, "_fast_json", None)
    careful = parse_history(text)
    assert (fast.events, fast.ops, fast.meta) == (careful.events, careful.ops, careful.meta)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "edn", "jepsen-log"])
def test_progress_is_reported_in_bytes_every_64_kib_or_so(fmt):
    n = 6000
    events = [
        {"process": i % 5, "type": t, "f": "write", "value": i} for i in range(n) for t in ("invoke", "ok")
    ]
    if fmt == "jsonl":
        text = "".join(json.dumps(e) + "\n" for e in events)
    elif fmt == "json":
        text = "[\n" + ",\n".join(json.dumps(e) for e in events) + "\n]\n"
    elif fmt == "edn":
        text = (
            "["
            + "\n ".join(
                f"{{:process {e['process']}, :type :{e['type']}, :f :write, :value {e['value']}}}"
                for e in events
            )
            + "]\n"
        )
    else:
        text = "".join(
            f"INFO  jepsen.util - {e['process']}\t:{e['type']}\t:write\t{e['value']}\n" for e in events
        )
    calls = []
    h = parse_history(text.encode(), progress=lambda done, total: calls.append((done, total)))
    assert h.format == fmt and len(h.ops) == n
    total = len(text.encode())
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) >= total // 65536 >= 2  # the bar moves while a big file is read...
    assert len(calls) <= total // 65536 * 2 + 2  # ...and costs nothing per event


_jsonl_line = st.one_of(
    st.builds(
        lambda p, t, v, extra: json.dumps(
            {"process": p, "type": t, "f": "write", "value": v, **extra}, ensure_ascii=False
        ),
        st.integers(0, 2),
        st.sampled_from(["invoke", "ok", "info", "fail"]),
        st.one_of(st.integers(), st.text(max_size=4), st.lists(st.integers(), max_size=2)),
        st.dictionaries(st.sampled_from(["key", "node", "note"]), st.text(max_size=3), max_size=2),
    ),
    st.sampled_from(
        [
            "",
            "  ",
            '{"replicheck": {"spec": "register"}}',
            "{bad",
            "[1]",
            '{"process": 0, "type": "ok", "f": "write", "value": "a\u2028b"}',
            '{"process": 0, "type": "ok", "f": "write", "value": "a\u0085b"}',
        ]
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(_jsonl_line, min_size=1, max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
)
def test_jsonl_from_bytes_reads_or_refuses_as_the_text_path_does(lines, end, last_end, bom):
    # The bytes path (no text copy) may only ever read what the careful text path reads,
    # to the same events, and leave everything else to it: same history or same error.
    from replicheck.checker import formats

    data = ("\ufeff" if bom else "") + end.join(lines) + (end if last_end else "")

    def outcome(got):
        try:
            h = got()
        except HistoryError as e:
            return ("error", str(e))
        return (h.events, h.ops, h.meta, h.skipped)

    from_bytes = outcome(lambda: parse_history(data.encode(), path="h.jsonl"))
    careful = formats._fast_json, formats._fast_lines
    formats._fast_json = formats._fast_lines = None
    try:
        from_text = outcome(lambda: parse_history(data.encode(), path="h.jsonl"))
    finally:
        formats._fast_json, formats._fast_lines = careful
    assert from_bytes == from_text
