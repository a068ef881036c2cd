"""The minimal counterexample: still invalid, and nothing in it can go."""

from __future__ import annotations

import math
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest

from replicheck.checker import History, check, make_spec, read_history
from replicheck.checker.linearizable import check_ops
from replicheck.checker.minimize import minimize

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("REPLICHECK_CORPUS", ROOT.parent / "shared" / "corpus"))


def verdict(ops, spec):
    return check_ops(ops, spec).valid


def assert_minimal(m, spec, culprit, timing):
    assert verdict(m.ops, spec) is False
    watchers = spec.observers(m.ops) if m.grounded else {}
    for i in range(len(m.ops)):
        rest = m.ops[:i] + m.ops[i + 1 :]
        v = verdict(rest, spec)
        if m.grounded and v is False:
            # the removal left an op that could only be seeing the removed one's effect
            assert watchers.get(m.ops[i].id), f"op {m.ops[i].id} could be removed"
        elif timing and v is False:
            # the removal made a duller anomaly: the failing op is now impossible even
            # when freed from real time (it reads what nobody left could have written)
            freed = [replace(o, call=-math.inf, ret=math.inf) if o.id == culprit.id else o for o in rest]
            assert verdict(freed, spec) is False
        else:
            assert v is True, f"op {m.ops[i].id} could be removed"
    assert m.one_minimal


def stale_read() -> History:
    return History.from_events(
        [
            {"process": 0, "type": "invoke", "f": "write", "value": 1},
            {"process": 1, "type": "invoke", "f": "write", "value": 7},
            {"process": 1, "type": "ok", "f": "write", "value": 7},
            {"process": 0, "type": "ok", "f": "write", "value": 1},
            {"process": 2, "type": "invoke", "f": "read", "value": None},
            {"process": 2, "type": "ok", "f": "read", "value": 1},
            {"process": 0, "type": "invoke", "f": "write", "value": 2},
            {"process": 0, "type": "ok", "f": "write", "value": 2},
            {"process": 3, "type": "invoke", "f": "read", "value": None},
            {"process": 3, "type": "ok", "f": "read", "value": 1},
            {"process": 1, "type": "invoke", "f": "read", "value": None},
            {"process": 1, "type": "ok", "f": "read", "value": 2},
        ]
    )


def test_stale_read_shrinks_to_the_write_the_overwrite_and_the_read():
    spec = make_spec("register")
    h = stale_read()
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op)
    assert m.timing
    assert [(o.f, o.value if o.f == "write" else o.output) for o in m.ops] == [
        ("write", 1),
        ("write", 2),
        ("read", 1),
    ]
    assert_minimal(m, spec, r.op, timing=True)


def test_plain_mode_is_one_minimal_in_the_strict_sense():
    spec = make_spec("register")
    h = stale_read()
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op, keep_timing=False)
    assert_minimal(m, spec, r.op, timing=False)
    assert len(m.ops) == 1  # a read of 1 with nothing written: invalid, but dull


def test_an_order_anomaly_keeps_the_appends_its_reads_show():
    # Two reads disagree on the order of two appends: no timing explains it, and a lone
    # read of [2 1] (nothing appended) would be invalid too, but says nothing.
    spec = make_spec("list-append")
    h = History.from_events(
        [
            {"process": 0, "type": "invoke", "f": "append", "value": 1},
            {"process": 1, "type": "invoke", "f": "append", "value": 2},
            {"process": 0, "type": "ok", "f": "append", "value": 1},
            {"process": 1, "type": "ok", "f": "append", "value": 2},
            {"process": 2, "type": "invoke", "f": "append", "value": 9},
            {"process": 2, "type": "ok", "f": "append", "value": 9},
            {"process": 0, "type": "invoke", "f": "read", "value": None},
            {"process": 0, "type": "ok", "f": "read", "value": [1, 2, 9]},
            {"process": 1, "type": "invoke", "f": "read", "value": None},
            {"process": 1, "type": "ok", "f": "read", "value": [2, 1, 9]},
        ]
    )
    r = check(h, spec)
    m = minimize(h.ops, spec, culprit=r.op)
    assert not m.timing and m.grounded
    appended = {o.value for o in m.ops if o.f == "append"}
    reads = [tuple(o.output) for o in m.ops if o.f == "read"]
    assert sorted(reads) == [(1, 2, 9), (2, 1, 9)] and appended == {1, 2, 9}
    assert_minimal(m, spec, r.op, timing=False)
    plain = minimize(h.ops, spec, culprit=r.op, keep_timing=False)
    assert not plain.grounded and len(plain.ops) == 1  # the dull one, when asked for


def test_minimize_refuses_a_valid_history():
    spec = make_spec("register")
    h = History.from_events(
        [
            {"process": 0, "type": "invoke", "f": "write", "value": 1},
            {"process": 0, "type": "ok", "f": "write", "value": 1},
        ]
    )
    with pytest.raises(ValueError):
        minimize(h.ops, spec)


def random_register_events(rng: random.Random, n_ops: int) -> list[dict]:
    # concurrent clients on a register; reads return a random recent value, so many
    # histories are invalid in varied ways
    events, pending, written, next_pid = [], {}, [None], 0
    procs = list(range(4))
    for _ in range(n_ops * 2):
        p = rng.choice(procs)
        if p in pending:
            f, v = pending.pop(p)
            kind = rng.choices(["ok", "info", "fail"], [8, 1, 1])[0]
            out = rng.choice(written[-3:]) if f == "read" else v
            events.append({"process": p, "type": kind, "f": f, "value": out if kind == "ok" else v})
            if kind == "info":
                procs[procs.index(p)] = 100 + next_pid
                next_pid += 1
        else:
            if rng.random() < 0.5:
                v = len(written)
                written.append(v)
                pending[p] = ("write", v)
            else:
                pending[p] = ("read", None)
            events.append({"process": p, "type": "invoke", "f": pending[p][0], "value": pending[p][1]})
    return events


def with_stale_read(rng: random.Random, events: list[dict]) -> History:
    """``events`` with a stale read woven in at random places, so it is invalid by construction.

    A fresh process writes a, then (after that write completed) b, and another reads a
    after b completed. No one else ever writes a or b (every other write has its own
    value), so whatever the other operations do, a was overwritten before the read.
    """
    fresh = 1 + max((e["value"] for e in events if e["f"] == "write"), default=0)
    a, b = fresh, fresh + 1
    stale = [
        {"process": 900, "type": "invoke", "f": "write", "value": a},
        {"process": 900, "type": "ok", "f": "write", "value": a},
        {"process": 900, "type": "invoke", "f": "write", "value": b},
        {"process": 900, "type": "ok", "f": "write", "value": b},
        {"process": 901, "type": "invoke", "f": "read", "value": None},
        {"process": 901, "type": "ok", "f": "read", "value": a},
    ]
    events = list(events)
    # ascending slots keep the stale events in their real-time order
    slots = sorted(rng.randint(0, len(events)) for _ in stale)
    for event, slot in reversed(list(zip(stale, slots))):
        events.insert(slot, event)
    return History.from_events(events)


@pytest.mark.parametrize("seed", range(40))
def test_random_invalid_histories_shrink_to_minimal_ones(seed):
    rng = random.Random(seed)
    spec = make_spec("register")
    h = with_stale_read(rng, random_register_events(rng, 14))
    r = check(h, spec)
    assert r.valid is False, f"seed {seed}: a read of an overwritten value was accepted"
    for timing in (True, False):
        m = minimize(h.ops, spec, culprit=r.op, key=r.key, keep_timing=timing)
        assert_minimal(m, spec, r.op, timing=m.timing)


def corpus_invalid():
    judge = {
        "jepsen-etcd": ("cas-register", None),
        "knossos": ("cas-register", 0),
        "porcupine-kv": ("kv", ""),
    }
    out = []
    for folder, (spec, init) in judge.items():
        for p in sorted((CORPUS / folder).glob("*")):
            if p.suffix in (".log", ".edn", ".txt"):
                out.append(pytest.param(p, spec, init, id=f"{folder}/{p.name}"))
    return out


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
@pytest.mark.parametrize(
    "path, spec_name, init", corpus_invalid() or [pytest.param(None, None, None, marks=pytest.mark.skip)]
)
def test_corpus_failures_shrink_to_a_handful(path, spec_name, init):
    h = read_history(path)
    spec = make_spec(spec_name, init, h.meta["nil_read"])
    r = check(h, spec)
    if r.valid is not False:
        return
    m = minimize(h.ops, spec, culprit=r.op, key=r.key)
    assert_minimal(m, spec, r.op, timing=m.timing)
    assert len(m.ops) <= 10


def test_the_minimized_history_checks_alone_as_the_original_was_checked(tmp_path):
    # The file's metadata says init 0, the user said 5: the minimal history must carry 5
    # (and the format's rule for nil reads), or alone it is judged as a different history.
    from replicheck.checker import analyse, write_jsonl
    from replicheck.checker.minimize import write_minimized

    src = tmp_path / "h.jsonl"
    write_jsonl(
        src,
        [
            {"process": 0, "type": "invoke", "f": "read", "value": None, "time": 0},
            {"process": 0, "type": "ok", "f": "read", "value": 5, "time": 1},
            {"process": 1, "type": "invoke", "f": "write", "value": 6, "time": 2},
            {"process": 1, "type": "ok", "f": "write", "value": 6, "time": 3},
            {"process": 2, "type": "invoke", "f": "read", "value": None, "time": 4},
            {"process": 2, "type": "ok", "f": "read", "value": 5, "time": 5},
        ],
        {"spec": "register", "init": 0},
    )
    a = analyse(src, init=5, nil_read="unknown", minimize=True)
    assert a.result.valid is False
    assert [(o.f, o.process) for o in a.minimal.ops] == [("write", 1), ("read", 2)]
    out = tmp_path / "min.jsonl"
    write_minimized(out, a.minimal, a.history, a.spec, a.spec_name)
    again = analyse(out, minimize=True)  # no flags: the metadata says everything
    assert again.history.meta["init"] == 5 and again.history.meta["nil_read"] == "unknown"
    assert again.spec_name == "register" and "minimized from" in again.history.meta["source"]
    assert again.result.valid is False

    def shape(ops):
        return [(o.f, o.value, o.output) for o in ops]

    assert shape(again.minimal.ops) == shape(a.minimal.ops)


def test_analyse_shrinks_only_invalid_histories_and_only_when_asked():
    from replicheck.checker import analyse

    invalid = ROOT / "histories" / "stale-replica-read.jsonl"
    assert analyse(invalid).minimal is None
    assert len(analyse(invalid, minimize=True).minimal.ops) == 2
    valid = analyse(ROOT / "histories" / "leader-reads.jsonl", minimize=True)
    assert valid.result.valid is True and valid.minimal is None


def _corpus_invalid() -> list:
    from test_corpus import CORPUS, JUDGE, _expected

    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"reference corpus not found at {CORPUS}"))]
    return [
        pytest.param((folder, name), id=f"{folder}/{name}")
        for folder in sorted(JUDGE)
        for name, valid in sorted(_expected(folder).items())
        if valid is False and (CORPUS / folder / name).is_file()
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case", _corpus_invalid())
def test_minimized_corpus_histories_read_back(tmp_path, case):
    # issue 18.5: --minimize-out must write what the reader accepts; times in steps so
    # coarse that completions and next invocations tie are where it went wrong
    from test_corpus import CORPUS, JUDGE

    from replicheck.checker import analyse
    from replicheck.checker.minimize import write_minimized

    folder, name = case
    spec, init, nil_read = JUDGE[folder]
    history = read_history(CORPUS / folder / name)
    coarse = History.from_events(
        [{**e.to_dict(), "time": n // 4} for n, e in enumerate(history.events)],
        path=history.path,
        meta=history.meta,
    )
    for h in (history, coarse):
        a = analyse(h, spec, init=init, nil_read=nil_read, minimize=True, timeout=2)
        if a.result.valid is not False:
            continue  # coarse times can hide the violation: nothing to write
        out = tmp_path / "min.jsonl"
        write_minimized(out, a.minimal, h, a.spec, a.spec_name)
        again = read_history(out)
        assert len(again.ops) == len(a.minimal.ops)
        if not a.minimal.out_of_time:
            assert check(again, timeout=10).valid is False
