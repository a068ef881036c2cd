"""Consistency models beyond linearizability: hand-written histories that keep and break
each guarantee, histories in the simulator's format, the hierarchy, and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from replicheck.checker import parse_history
from replicheck.checker.consistency import check_consistency, render_consistency
from replicheck.cli.main import cli


def history(ops, spec="register", init=None):
    """ops: (session, f, value, call, ret, output=None, key="x", status="ok", node=None).
    Each session is one process until an op of it ends in info (then a new process)."""
    events, procs, nxt = [], {}, [100]
    for i, o in enumerate(ops):
        s, f, value, call, ret, *rest = o
        out, key, status, node = (rest + [None, "x", "ok", None][len(rest) :])[:4]
        p = procs.setdefault(s, len(procs))
        base = {"process": p, "f": f, "key": key, "session": s}
        if node is not None:
            base["node"] = node
        events.append((call, i, 0, {**base, "type": "invoke", "value": value}))
        if status is not None:
            events.append((ret, i, 1, {**base, "type": status, "value": out if f == "read" else value}))
        if status == "info":
            procs[s] = nxt[0]
            nxt[0] += 1
    events.sort(key=lambda e: e[:3])
    meta = {"replicheck": {"spec": spec, "init": init}}
    lines = [json.dumps(meta)] + [json.dumps({**e[3], "time": e[0]}) for e in events]
    return parse_history("\n".join(lines) + "\n", path="h.jsonl")


def verdict(h, model, **kw):
    return check_consistency(h, None, model, **kw).models[model].valid


# ------------------------------------------------------------------ read-your-writes


def test_write_then_read_from_lagging_replica_violates_read_your_writes():
    h = history(
        [
            ("alice", "write", 1, 0, 10, None, "x", "ok", "n1"),
            ("alice", "read", None, 20, 30, None, "x", "ok", "n2"),
        ]
    )
    res = check_consistency(h, None, "all")
    r = res.models["read-your-writes"]
    assert r.valid is False and r.how == "checked"
    assert [o.id for o in r.witness.ops] == [0, 1]
    assert [e.kind for e in r.witness.cycle] == ["process", "rw"]
    assert res.violated[0] == "read-your-writes"
    assert res.models["linearizable"].valid is False and res.models["causal"].how == "implied"
    assert "but not read-your-writes (operations 0 and 1, lines 2 and 4)" in res.summary()
    assert not res.conflicts


def test_reading_your_own_write_keeps_read_your_writes():
    h = history(
        [
            ("alice", "write", 1, 0, 10),
            ("alice", "read", None, 20, 30, 1),
            ("bob", "read", None, 25, 35, None),
        ]
    )
    assert verdict(h, "read-your-writes") is True


def test_register_read_your_writes_cycle_across_sessions():
    # each session reads the other's write after its own: both writes must precede each other
    h = history(
        [
            ("a", "write", 1, 0, 10),
            ("b", "write", 2, 0, 10),
            ("a", "read", None, 20, 30, 2),
            ("b", "read", None, 20, 30, 1),
        ]
    )
    r = check_consistency(h, None, "read-your-writes").models["read-your-writes"]
    assert r.valid is False and {e.kind for e in r.witness.cycle} == {"ww"}


def test_session_field_survives_a_crashed_process():
    h = history(
        [
            ("alice", "write", 1, 0, 10),
            ("alice", "write", 2, 20, 30, None, "x", "info"),
            ("alice", "read", None, 40, 50, None),
        ]
    )
    assert {op.process for op in h.ops} == {0, 100}
    assert verdict(h, "read-your-writes") is False
    assert verdict(h, "read-your-writes", session_field=None) is True  # by process: no own write


# ------------------------------------------------------------------ monotonic reads


def test_two_reads_that_go_back_in_time_violate_monotonic_reads():
    h = history(
        [
            ("w", "append", 1, 0, 10, None, "x"),
            ("w", "append", 2, 20, 30, None, "x"),
            ("r", "read", None, 40, 50, (1, 2)),
            ("r", "read", None, 60, 70, (1,)),
        ],
        "list-append",
    )
    r = check_consistency(h, None, "monotonic-reads").models["monotonic-reads"]
    assert r.valid is False
    assert [e.kind for e in r.witness.cycle] == ["wr", "process", "rw"]
    ok = history(
        [
            ("w", "append", 1, 0, 10),
            ("w", "append", 2, 20, 30),
            ("r", "read", None, 40, 50, (1,)),
            ("r", "read", None, 60, 70, (1, 2)),
        ],
        "list-append",
    )
    assert verdict(ok, "monotonic-reads") is True


def test_register_reads_back_in_time():
    # back to the initial value: exact on registers
    h = history([("w", "write", 1, 0, 10), ("r", "read", None, 20, 30, 1), ("r", "read", None, 40, 50, None)])
    assert verdict(h, "monotonic-reads") is False
    # 2 then 1: the register does not say which write is newer, so monotonic reads alone
    # holds; with monotonic writes (the writer wrote 1 first) PRAM rules it out
    h = history(
        [
            ("w", "write", 1, 0, 10),
            ("w", "write", 2, 20, 30),
            ("r", "read", None, 40, 50, 2),
            ("r", "read", None, 60, 70, 1),
        ]
    )
    res = check_consistency(h, None, "all")
    assert res.models["monotonic-reads"].valid is True
    assert res.models["monotonic-writes"].valid is True
    assert res.models["PRAM"].valid is False and res.models["PRAM"].how == "checked"
    assert res.violated[0] == "PRAM" and not res.conflicts


# ------------------------------------------------------------------ monotonic writes, WFR


def test_monotonic_writes_cycle_across_keys():
    ops = [
        ("a", "append", 1, 0, 10, None, "x"),
        ("a", "append", 1, 20, 30, None, "y"),
        ("b", "append", 2, 0, 10, None, "y"),
        ("b", "append", 2, 20, 30, None, "x"),
    ]
    bad = history(
        ops + [("c", "read", None, 40, 50, (2, 1), "x"), ("d", "read", None, 40, 50, (1, 2), "y")],
        "list-append",
    )
    r = check_consistency(bad, None, "monotonic-writes").models["monotonic-writes"]
    assert r.valid is False and len(r.witness.ops) == 4
    assert {e.kind for e in r.witness.cycle} == {"process", "ww"}
    good = history(
        ops + [("c", "read", None, 40, 50, (1, 2), "x"), ("d", "read", None, 40, 50, (2, 1), "y")],
        "list-append",
    )
    assert verdict(good, "monotonic-writes") is True


def test_writes_follow_reads():
    base = [("a", "append", 1, 0, 10), ("b", "read", None, 20, 30, (1,)), ("b", "append", 2, 40, 50)]
    bad = history(base + [("c", "read", None, 60, 70, (2, 1))], "list-append")
    r = check_consistency(bad, None, "writes-follow-reads").models["writes-follow-reads"]
    assert r.valid is False and [e.kind for e in r.witness.cycle][-1] == "ww"
    assert {o.id for o in r.witness.ops} == {0, 1, 2}
    good = history(base + [("c", "read", None, 60, 70, (1, 2))], "list-append")
    assert verdict(good, "writes-follow-reads") is True
    # seeing the later write without the earlier is fine for WFR (it is about order)
    also = history(base + [("c", "read", None, 60, 70, (2,))], "list-append")
    assert verdict(also, "writes-follow-reads") is True


# ------------------------------------------------------------------ sequential


def test_stale_read_by_another_session_is_sequential_but_not_linearizable():
    h = history([("a", "write", 1, 0, 10), ("b", "read", None, 20, 30, None)])
    res = check_consistency(h, None, "all")
    assert res.models["linearizable"].valid is False
    assert res.models["sequential"].valid is True and res.strongest == ["sequential"]
    assert not res.conflicts


def test_sequential_consistency_needs_a_single_order_across_keys():
    # each key alone is fine; together no order keeps both sessions' orders (2+2 order)
    h = history(
        [
            ("a", "write", 1, 0, 10, None, "x"),
            ("a", "read", None, 20, 30, None, "y"),
            ("b", "write", 1, 0, 10, None, "y"),
            ("b", "read", None, 20, 30, None, "x"),
        ]
    )
    res = check_consistency(h, None, ["sequential"])
    assert res.models["sequential"].valid is False
    assert res.models["sequential"].witness.ops


# ------------------------------------------------------------------ convergence, durability


def test_convergence_final_reads_must_agree_and_values_must_be_written():
    writes = [("a", "write", 1, 0, 10), ("b", "write", 2, 5, 15)]
    agree = history(
        writes
        + [("r1", "read", None, 30, 40, 2, "x", "ok", "n1"), ("r2", "read", None, 30, 40, 2, "x", "ok", "n2")]
    )
    assert verdict(agree, "convergence") is True
    split = history(
        writes
        + [("r1", "read", None, 30, 40, 1, "x", "ok", "n1"), ("r2", "read", None, 30, 40, 2, "x", "ok", "n2")]
    )
    r = check_consistency(split, None, "convergence").models["convergence"]
    assert r.valid is False and "n1" in r.witness.summary and "n2" in r.witness.summary
    thin = history(writes + [("r1", "read", None, 30, 40, 7)])
    assert "thin air" in check_consistency(thin, None, "convergence").models["convergence"].witness.summary
    # reads before the quiet period ends do not count as final
    assert verdict(agree, "convergence", quiet=25) == "unknown"


def test_the_metadata_quiet_period_is_the_default_and_the_flag_overrides_it(tmp_path):
    # a lagging replica still shows 1 just after the last write; the final reads agree
    ops = [
        ("a", "write", 1, 0, 10),
        ("b", "write", 2, 20, 30),
        ("c", "read", None, 35, 40, 1, "x", "ok", "lagging"),
        ("r1", "read", None, 100, 110, 2, "x", "ok", "n1"),
        ("r2", "read", None, 100, 110, 2, "x", "ok", "n2"),
    ]
    lines = history(ops)
    text = (
        "\n".join(
            json.dumps(e)
            for e in [{"replicheck": {"spec": "register", "init": None, "quiet_period": 50}}]
            + [{**ev.to_dict()} for ev in lines.events]
        )
        + "\n"
    )
    path = tmp_path / "h.jsonl"
    path.write_text(text)
    assert verdict(history(ops), "convergence") is False  # no metadata: quiet 0
    run = lambda *a: CliRunner().invoke(cli, ["check", str(path), "--consistency", "convergence", *a])  # noqa: E731
    assert run().exit_code == 0
    assert run("--quiet-period", "0").exit_code == 1
    path.write_text(text.replace('"quiet_period": 50', '"quiet_period": "soon"'))
    res = run()
    assert res.exit_code == 2 and "quiet_period" in res.output and "Traceback" not in res.output


def test_durability_list_append_is_exact_and_register_is_approximate():
    la = history(
        [("a", "append", 1, 0, 10), ("b", "append", 2, 0, 10), ("r", "read", None, 20, 30, (2,))],
        "list-append",
    )
    r = check_consistency(la, None, "durability").models["durability"]
    assert r.valid is False and r.exact and r.witness.ops[0].value == 1
    # last-write-wins with a skewed clock: the later write 2 loses to 1
    reg = history(
        [
            ("a", "write", 1, 0, 10),
            ("b", "write", 2, 20, 30),
            ("r1", "read", None, 40, 50, 1, "x", "ok", "n1"),
            ("r2", "read", None, 40, 50, 1, "x", "ok", "n2"),
        ]
    )
    res = check_consistency(reg, None, "all")
    assert res.models["convergence"].valid is True
    d = res.models["durability"]
    assert d.valid is False and d.exact is False and "version order" in d.reason
    # concurrent writes: either may be the later one, so nothing is definitely lost
    conc = history([("a", "write", 1, 0, 10), ("b", "write", 2, 5, 15), ("r", "read", None, 40, 50, 1)])
    assert verdict(conc, "durability") is True


# ------------------------------------------------------------------ simulator-format histories
# Hand-made in the format the simulator writes (JSON Lines, `session` and `node` extras,
# a new process after info). The simulator's own histories are judged in
# test_consistency_models.py; these small register ones stay for what those do not
# pin down: exact witnesses and lines, convergence under wait-for-position, CLI exit codes.

ASYNC_REPLICA_READS = [
    ("c1", "write", 1, 0, 100, None, "x", "ok", "n1"),
    ("c1", "read", None, 120, 150, None, "x", "ok", "n2"),  # the replica has not applied it yet
    ("c2", "write", 2, 200, 300, None, "x", "ok", "n1"),
    ("c1", "read", None, 400, 450, 2, "x", "ok", "n3"),
]
WAIT_FOR_POSITION = [
    ("c1", "write", 1, 0, 100, None, "x", "ok", "n1"),
    ("c1", "read", None, 120, 260, 1, "x", "ok", "n2"),  # n2 waited for c1's write position
    ("c2", "write", 2, 200, 300, None, "x", "ok", "n1"),
    ("c2", "read", None, 320, 330, 2, "x", "ok", "n3"),
    ("c1", "read", None, 400, 450, 2, "x", "ok", "n3"),
]
MULTI_LEADER_LWW = [
    ("c1", "write", 1, 0, 50, None, "x", "ok", "n1"),  # n1's clock runs ahead
    ("c2", "write", 2, 100, 150, None, "x", "ok", "n2"),
    ("c3", "read", None, 1000, 1010, 1, "x", "ok", "n1"),
    ("c3", "read", None, 1020, 1030, 1, "x", "ok", "n2"),
]


def test_async_replica_reads_violate_read_your_writes():
    assert verdict(history(ASYNC_REPLICA_READS), "read-your-writes") is False


def test_wait_for_position_keeps_read_your_writes():
    res = check_consistency(history(WAIT_FOR_POSITION), None, "all")
    assert res.models["read-your-writes"].valid is True
    assert res.models["PRAM"].valid is True and res.models["convergence"].valid is True


def test_multi_leader_lww_converges_but_loses_writes():
    res = check_consistency(history(MULTI_LEADER_LWW), None, "all")
    assert res.models["convergence"].valid is True
    assert res.models["durability"].valid is False
    assert "loses acknowledged writes" in res.summary()


# ------------------------------------------------------------------ results, CLI


def test_result_is_plain_data_and_text_names_lines(tmp_path):
    res = check_consistency(history(ASYNC_REPLICA_READS), None, "all")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["models"]["read-your-writes"]["witness"]["ops"][0]["line"] == 2
    assert d["violated"][0] == "read-your-writes"
    text = render_consistency(res)
    assert "read-your-writes     VIOLATED" in text and "-rw->" in text


def test_unsupported_spec_gives_unknown_not_a_guess():
    h = parse_history(
        '{"replicheck": {"spec": "kv"}}\n'
        '{"process": 0, "type": "invoke", "f": "put", "key": "k", "value": "a"}\n'
        '{"process": 0, "type": "ok", "f": "put", "key": "k", "value": "a"}\n'
    )
    assert verdict(h, "read-your-writes") == "unknown"
    res = check_consistency(h, None, "all")
    assert res.models["linearizable"].valid is True  # searched with the kv spec itself
    r = res.models["read-your-writes"]
    assert r.valid is True and r.how == "implied" and r.implied_by == "linearizable"


def test_non_unique_register_values_are_unknown():
    h = history([("a", "write", 1, 0, 10), ("b", "write", 1, 0, 10), ("a", "read", None, 20, 30, None)])
    r = check_consistency(h, None, "read-your-writes").models["read-your-writes"]
    assert r.valid == "unknown" and "twice" in r.reason


@pytest.mark.parametrize(
    "ops,model,code",
    [
        (ASYNC_REPLICA_READS, "read-your-writes", 1),
        (WAIT_FOR_POSITION, "read-your-writes", 0),
        (MULTI_LEADER_LWW, "durability", 1),
        (MULTI_LEADER_LWW, "convergence", 0),
        (ASYNC_REPLICA_READS, "all", 0),
    ],
)
def test_cli_exit_codes(tmp_path, ops, model, code):
    path = tmp_path / "h.jsonl"
    h = history(ops)
    from replicheck.checker import write_jsonl

    write_jsonl(path, h.events, {"spec": "register", "init": None})
    res = CliRunner().invoke(cli, ["check", str(path), "--consistency", model])
    assert res.exit_code == code, res.output
    res = CliRunner().invoke(cli, ["check", str(path), "--consistency", model, "--json"])
    d = json.loads(res.output)
    assert "models" in d and (model == "all" or d["valid"] is (code == 0))


def test_cli_bad_input_and_unknown(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"process": 0, "type": "ok", "f": "read"}\n')
    res = CliRunner().invoke(cli, ["check", str(bad), "--consistency", "read-your-writes"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["check", str(bad), "--consistency", "causal"])
    assert res.exit_code == 2
    only_writes = tmp_path / "w.jsonl"
    from replicheck.checker import write_jsonl

    write_jsonl(only_writes, history([("a", "write", 1, 0, 10)]).events, {"spec": "register"})
    assert CliRunner().invoke(cli, ["check", str(only_writes), "--consistency", "convergence"]).exit_code == 3


def test_witnesses_name_ops_as_the_linearizability_report_does():
    # One describe_op for every rendering: a get is named by what it returned and a cas
    # as from->to, in a consistency witness as in a report line and an HTML tooltip.
    from replicheck.checker import make_spec
    from replicheck.checker.html import render_html
    from replicheck.checker.text import describe_op, op_label, op_line

    kv = parse_history(
        '{"process": 1, "type": "invoke", "f": "get", "key": "x", "value": null, "node": "n2"}\n'
        '{"process": 1, "type": "ok", "f": "get", "key": "x", "value": "q", "node": "n2"}\n',
        path="kv.jsonl",
    )
    get = kv.ops[0]
    assert describe_op(get, make_spec("kv")) == describe_op(get) == 'get "q"'
    assert op_label(get) == 'op 0 (get "q" key "x" on n2, line 1)'
    assert op_line(get) == 'op 0: process 1 get "q" key "x" on n2  [lines 1-2]'
    reg = history([("a", "cas", [1, 2], 0, 10), ("b", "write", 3, 0, 10)], spec="cas-register")
    cas = reg.ops[0]
    assert describe_op(cas, make_spec("cas-register")) == describe_op(cas) == "cas 1->2"
    assert "op 0 (cas 1->2 key" in op_label(cas)
    tooltips = {
        o[0]: o[2]
        for o in json.loads(render_html(reg).split('type="application/json">')[1].split("</script>")[0])[
            "ops"
        ]
    }
    assert tooltips == {0: "cas 1->2", 1: "write 3"}


def test_an_op_of_a_spec_without_words_shows_what_it_carried_and_returned():
    from replicheck.checker.text import describe_op

    h = history([("a", "incr", 1, 0, 10), ("b", "read", None, 20, 30, 5)])
    incr, read = h.ops
    assert describe_op(incr, object()) == "incr 1"  # output echoes the value: said once
    assert describe_op(read, object()) == "read 5"


def test_a_value_of_the_wrong_shape_is_the_same_bad_input_for_every_check(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"replicheck": {"spec": "cas-register"}}\n'
        '{"process": 0, "type": "invoke", "f": "cas", "value": 3}\n'
        '{"process": 0, "type": "ok", "f": "cas", "value": 3}\n'
    )
    outputs = set()
    for extra in ([], ["--consistency", "read-your-writes"], ["--consistency", "all"]):
        res = CliRunner().invoke(cli, ["check", str(bad), *extra])
        assert res.exit_code == 2 and "Traceback" not in res.output
        outputs.add(res.output)
    assert outputs == {f"error: {bad}:2: cas value must be a pair [from to], got 3\n"}
