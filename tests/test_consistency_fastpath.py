"""check_consistency's shortcuts for small histories against its general path.

A history of at most ``SMALL_HISTORY`` operations is checked without arming the budget's
timer and memory ceiling, and every history's verdicts propagate along a closure of the
model hierarchy computed once instead of asking networkx each time. Neither may change a
verdict, a witness, a summary or a report: the explorer judges thousands of such
histories, so this is where a silent difference would spread.
"""

from __future__ import annotations

import re

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from replicheck.checker import HistoryError, SpecError
from replicheck.checker import consistency as cc

from strategies import histories

# the specs check_consistency reads observations from (others are refused, on both paths)
SPECS = ("register", "cas-register", "kv", "list-append", "set")
MODEL_SETS = (
    "all",
    ["read-your-writes"],
    ["monotonic-reads", "monotonic-writes", "writes-follow-reads"],
    ["PRAM", "sequential"],
    ["convergence", "durability"],
    ["linearizable", "read-your-writes"],
)


def test_the_closure_is_the_hierarchys():
    g = cc.hierarchy()
    for m in cc.MODELS:
        assert cc._WEAKER[m] == nx.descendants(g, m)
        assert cc._STRONGER[m] == nx.ancestors(g, m)
        assert set(cc._NEXT_STRONGER[m]) == set(g.predecessors(m))


def _outcome(case, models, small_limit: int) -> object:
    """Everything a caller sees of one check (times left out), with the limit given."""
    saved = cc.SMALL_HISTORY
    cc.SMALL_HISTORY = small_limit
    try:
        result = cc.check_consistency(case.history, case.spec, models, timeout=20, **case.check_kwargs())
    except (HistoryError, SpecError, ValueError, TypeError) as e:
        return ("raised", type(e).__name__, str(e))
    finally:
        cc.SMALL_HISTORY = saved
    d = result.to_dict()
    d.pop("elapsed")
    report = re.sub(r"[\d.]+ ms", "T ms", cc.render_consistency(result, "h"))
    return d, report


@settings(max_examples=200, deadline=None)
@given(
    case=st.sampled_from(SPECS).flatmap(lambda spec: histories(spec, max_ops=8)),
    models=st.sampled_from(MODEL_SETS),
)
def test_a_small_history_gets_the_general_paths_verdicts(case, models):
    assert len(case.history.ops) <= cc.SMALL_HISTORY  # the shortcut is what is tested
    assert _outcome(case, models, cc.SMALL_HISTORY) == _outcome(case, models, -1)
