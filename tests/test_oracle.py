"""The oracle's own tests: textbook histories whose answers are known by hand.

The differential tests trust the oracle; these are why. Each case is small enough to
verify on paper, and each is also run through the literal definition
(``naive_is_linearizable``: every subset, every permutation) so that the prefix
enumeration the oracle uses is checked against the definition it shortcuts.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from oracle import is_linearizable, naive_is_linearizable, oracle, pair_events
from strategies import Case, all_histories


def ev(process, type, f, value=None, **extra) -> dict:
    return {"process": process, "type": type, "f": f, "value": value, **extra}


def both(events, spec, **kw) -> bool:
    """The oracle's answer, after making sure the literal definition agrees."""
    fast = oracle(events, spec, **kw)
    slow = naive_is_linearizable(pair_events(events), spec, **kw)
    assert fast == slow, "prefix enumeration disagrees with the literal definition"
    return fast


def write_then_read(written, read):
    return [
        ev(0, "invoke", "write", written),
        ev(0, "ok", "write", written),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", read),
    ]


# ---------------------------------------------------------------- registers


def test_read_of_a_value_never_written_is_invalid():
    assert not both(write_then_read(1, 3), "register", init=0)


def test_read_after_completed_write_sees_it():
    assert both(write_then_read(1, 1), "register", init=0)


def test_stale_read_after_completed_write_is_invalid():
    assert not both(write_then_read(1, 0), "register", init=0)


@pytest.mark.parametrize("seen", [0, 1])
def test_concurrent_write_and_read_may_see_either(seen):
    h = [
        ev(0, "invoke", "write", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", seen),
        ev(0, "ok", "write", 1),
    ]
    assert both(h, "register", init=0)


def test_read_cannot_go_back_once_a_later_read_saw_the_write():
    # both reads overlap the write, but they are ordered with each other
    h = [
        ev(0, "invoke", "write", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 1),
        ev(2, "invoke", "read"),
        ev(2, "ok", "read", 0),
        ev(0, "ok", "write", 1),
    ]
    assert not both(h, "register", init=0)


@pytest.mark.parametrize("seen", [0, 1])
def test_crashed_write_may_or_may_not_have_happened(seen):
    h = [
        ev(0, "invoke", "write", 1),
        ev(0, "info", "write", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", seen),
    ]
    assert both(h, "register", init=0)


def test_crashed_write_may_take_effect_after_the_crash_was_reported():
    h = [
        ev(0, "invoke", "write", 1),
        ev(0, "info", "write", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 0),
        ev(2, "invoke", "read"),
        ev(2, "ok", "read", 1),
    ]
    assert both(h, "register", init=0)


def test_crashed_write_takes_effect_at_most_once():
    h = [
        ev(0, "invoke", "write", 1),
        ev(0, "info", "write", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 1),
        ev(2, "invoke", "read"),
        ev(2, "ok", "read", 0),
    ]
    assert not both(h, "register", init=0)


def test_crashed_write_cannot_take_effect_before_its_invocation():
    h = [
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 1),
        ev(0, "invoke", "write", 1),
        ev(0, "info", "write", 1),
    ]
    assert not both(h, "register", init=0)


def test_never_completed_write_is_crashed():
    h = [ev(0, "invoke", "write", 1), ev(1, "invoke", "read"), ev(1, "ok", "read", 1)]
    assert both(h, "register", init=0)


def test_failed_write_never_happened():
    h = [
        ev(0, "invoke", "write", 1),
        ev(0, "fail", "write", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 1),
    ]
    assert not both(h, "register", init=0)


def test_equal_timestamps_are_concurrent():
    # intervals are closed: the read invoked at the write's completion time may precede it
    h = [
        ev(0, "invoke", "write", 1, time=0),
        ev(0, "ok", "write", 1, time=5),
        ev(1, "invoke", "read", time=5),
        ev(1, "ok", "read", 0, time=6),
    ]
    assert both(h, "register", init=0)
    later = [dict(e, time=e["time"] + 1) if e["process"] == 1 else e for e in h]
    assert not both(later, "register", init=0)


def test_nil_read_absent_is_an_ordinary_value():
    h = write_then_read(1, None)
    assert not both(h, "register", init=None, nil_read="absent")
    assert both(
        [ev(1, "invoke", "read"), ev(1, "ok", "read", None)], "register", init=None, nil_read="absent"
    )


def test_nil_read_unknown_matches_any_state():
    assert both(write_then_read(1, None), "register", init=0, nil_read="unknown")


def test_register_starts_at_nil_by_default():
    h = [ev(1, "invoke", "read"), ev(1, "ok", "read", None)]
    assert both(h, "register")
    assert not both(h, "register", init=0)


def test_cas_succeeds_only_from_its_expected_value():
    ok = [
        ev(0, "invoke", "cas", (0, 2)),
        ev(0, "ok", "cas", (0, 2)),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 2),
    ]
    assert both(ok, "cas-register", init=0)
    assert not both(ok, "cas-register", init=1)


def test_failed_cas_took_no_effect():
    h = [
        ev(0, "invoke", "cas", (0, 2)),
        ev(0, "fail", "cas", (0, 2)),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 2),
    ]
    assert not both(h, "cas-register", init=0)


def test_crashed_cas_needs_its_expected_value_to_take_effect():
    h = [
        ev(0, "invoke", "cas", (1, 2)),
        ev(0, "info", "cas", (1, 2)),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", 2),
    ]
    assert not both(h, "cas-register", init=0)
    assert both(h, "cas-register", init=1)


# ---------------------------------------------------------------- kv


def test_kv_keys_are_independent_and_start_empty():
    h = [
        ev(0, "invoke", "append", "a", key="x"),
        ev(0, "ok", "append", "a", key="x"),
        ev(1, "invoke", "get", key="y"),
        ev(1, "ok", "get", "", key="y"),
        ev(1, "invoke", "get", key="x"),
        ev(1, "ok", "get", "a", key="x"),
    ]
    assert both(h, "kv")


def test_kv_appends_in_real_time_order():
    h = [
        ev(0, "invoke", "append", "a", key="x"),
        ev(0, "ok", "append", "a", key="x"),
        ev(0, "invoke", "append", "b", key="x"),
        ev(0, "ok", "append", "b", key="x"),
        ev(1, "invoke", "get", key="x"),
        ev(1, "ok", "get", "ba", key="x"),
    ]
    assert not both(h, "kv")
    assert both([*h[:-1], ev(1, "ok", "get", "ab", key="x")], "kv")


def test_kv_get_of_nil_absent_means_never_written():
    h = [ev(1, "invoke", "get", key="x"), ev(1, "ok", "get", None, key="x")]
    assert both(h, "kv", nil_read="absent")
    lost = [ev(0, "invoke", "put", "a", key="x"), ev(0, "ok", "put", "a", key="x"), *h]
    assert not both(lost, "kv", nil_read="absent")  # a lost put must still be caught
    assert both(lost, "kv", nil_read="unknown")


# ---------------------------------------------------------------- set, queue, mutex


def test_set_read_must_include_completed_adds():
    h = [ev(0, "invoke", "add", 1), ev(0, "ok", "add", 1), ev(1, "invoke", "read"), ev(1, "ok", "read", ())]
    assert not both(h, "set")
    concurrent = [
        ev(0, "invoke", "add", 1),
        ev(1, "invoke", "read"),
        ev(1, "ok", "read", ()),
        ev(0, "ok", "add", 1),
    ]
    assert both(concurrent, "set")


def test_set_read_of_nil_absent_means_empty():
    h = [ev(1, "invoke", "read"), ev(1, "ok", "read", None)]
    assert both(h, "set", nil_read="absent")
    lost = [ev(0, "invoke", "add", 1), ev(0, "ok", "add", 1), *h]
    assert not both(lost, "set", nil_read="absent")  # a lost add must still be caught
    assert both(lost, "set", nil_read="unknown")


def enq_enq_deq(out):
    return [
        ev(0, "invoke", "enqueue", 1),
        ev(0, "ok", "enqueue", 1),
        ev(0, "invoke", "enqueue", 2),
        ev(0, "ok", "enqueue", 2),
        ev(1, "invoke", "dequeue"),
        ev(1, "ok", "dequeue", out),
    ]


def test_fifo_dequeues_the_oldest():
    assert both(enq_enq_deq(1), "fifo-queue")
    assert not both(enq_enq_deq(2), "fifo-queue")
    assert not both(enq_enq_deq(None), "fifo-queue")


def test_fifo_concurrent_enqueues_in_either_order():
    h = [
        ev(0, "invoke", "enqueue", 1),
        ev(1, "invoke", "enqueue", 2),
        ev(0, "ok", "enqueue", 1),
        ev(1, "ok", "enqueue", 2),
        ev(2, "invoke", "dequeue"),
        ev(2, "ok", "dequeue", 2),
    ]
    assert both(h, "fifo-queue")


def test_fifo_dequeue_of_empty_returns_nil():
    assert both([ev(1, "invoke", "dequeue"), ev(1, "ok", "dequeue", None)], "fifo-queue")


def test_fifo_crashed_dequeue_may_have_taken_the_head():
    h = [
        *enq_enq_deq(1)[:4],
        ev(1, "invoke", "dequeue"),
        ev(1, "info", "dequeue"),
        ev(2, "invoke", "dequeue"),
        ev(2, "ok", "dequeue", 2),
    ]
    assert both(h, "fifo-queue")


def test_mutex_double_acquire_is_invalid():
    h = [
        ev(0, "invoke", "acquire"),
        ev(0, "ok", "acquire"),
        ev(1, "invoke", "acquire"),
        ev(1, "ok", "acquire"),
    ]
    assert not both(h, "mutex")


def test_mutex_acquire_release_acquire():
    h = [
        ev(0, "invoke", "acquire"),
        ev(0, "ok", "acquire"),
        ev(0, "invoke", "release"),
        ev(0, "ok", "release"),
        ev(1, "invoke", "acquire"),
        ev(1, "ok", "acquire"),
    ]
    assert both(h, "mutex")


def test_mutex_crashed_release_may_have_freed_it():
    h = [
        ev(0, "invoke", "acquire"),
        ev(0, "ok", "acquire"),
        ev(0, "invoke", "release"),
        ev(0, "info", "release"),
        ev(1, "invoke", "acquire"),
        ev(1, "ok", "acquire"),
    ]
    assert both(h, "mutex")


def test_nemesis_events_are_not_operations():
    h = [ev("nemesis", "info", "start"), *write_then_read(1, 1), ev(":nemesis", "info", "stop")]
    assert both(h, "register", init=0)


# ---------------------------------------------------------------- against the definition


@settings(max_examples=200)
@given(all_histories(max_ops=6))
def test_prefix_enumeration_matches_the_literal_definition(case: Case):
    ops = pair_events(case.events)
    assert is_linearizable(ops, case.spec, case.init, case.nil_read) == naive_is_linearizable(
        ops, case.spec, case.init, case.nil_read
    )
