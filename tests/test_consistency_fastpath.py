"""Verdicts propagate along a closure of the model hierarchy computed once, not networkx.

check_consistency used to build the networkx DAG and ask it for ancestors and
descendants on every check (~0.5 ms, more than judging a small history; the explorer
judges thousands). The closure must say what networkx says, and propagation, the
strongest models and the summary must come out as they did with networkx: the
reference versions below are the networkx code as it was.
"""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from replicheck.checker import consistency as cc
from replicheck.checker.verdict import UNKNOWN_VERDICT


def test_the_closure_is_the_hierarchys():
    g = cc.hierarchy()
    for m in cc.MODELS:
        assert cc._WEAKER[m] == nx.descendants(g, m)
        assert cc._STRONGER[m] == nx.ancestors(g, m)
        assert set(cc._NEXT_STRONGER[m]) == set(g.predecessors(m))
        assert cc._descendants(m) == nx.descendants(g, m)


def _propagate_with_networkx(direct: dict, wanted: set) -> tuple[dict, list]:
    """checker.consistency._propagate as it was, networkx and all."""
    g = cc.hierarchy()
    out: dict = {}
    conflicts = []
    for m in cc.MODELS:
        above, below = nx.ancestors(g, m), nx.descendants(g, m)
        stronger = [a for a in cc.MODELS if a in above and direct.get(a) and direct[a].valid is True]
        weaker = [d for d in cc.MODELS if d in below and direct.get(d) and direct[d].valid is False]
        if stronger and weaker:
            conflicts.append(f"{m}: implied by {stronger[-1]} holding and ruled out by {weaker[0]}")
        r = direct.get(m)
        if r is not None and r.valid in (True, False):
            if (r.valid is True and weaker) or (r.valid is False and stronger):
                conflicts.append(f"{m} checked {r.valid} against the hierarchy")
            out[m] = r
        elif stronger and not weaker:
            out[m] = cc.ModelResult(m, True, "implied", implied_by=stronger[-1])
        elif weaker and not stronger:
            out[m] = cc.ModelResult(m, False, "implied", implied_by=weaker[0])
        elif r is not None:
            out[m] = r
        elif m in wanted:
            out[m] = cc.ModelResult(
                m,
                UNKNOWN_VERDICT,
                "not checked",
                reason=(
                    "not checked directly: it holds when sequential consistency does, and fails when "
                    "PRAM or writes-follow-reads does"
                    if m == cc.CAUSAL
                    else "not checked"
                ),
            )
    return out, conflicts


def _strongest_with_networkx(result: cc.ConsistencyResult) -> list[str]:
    g = cc.hierarchy()
    holds = set(result._in_hierarchy(True))
    return [m for m in cc.MODELS if m in holds and not any(p in holds for p in g.predecessors(m))]


VERDICTS = st.sampled_from([True, False, UNKNOWN_VERDICT])


@settings(max_examples=300, deadline=None)
@given(
    direct=st.dictionaries(st.sampled_from(cc.MODELS), VERDICTS),
    wanted=st.sets(st.sampled_from(cc.MODELS)),
)
def test_propagation_is_what_networkx_gave(direct, wanted):
    checked = {m: cc.ModelResult(m, v, "checked") for m, v in direct.items()}
    got = cc._propagate(dict(checked), set(wanted))
    assert got == _propagate_with_networkx(dict(checked), set(wanted))
    result = cc.ConsistencyResult("register", 0, 0, got[0], 0.0, got[1])
    assert result.strongest == _strongest_with_networkx(result)
    # the summary, with networkx's descendants and strongest models in their place
    saved = cc._descendants, cc.ConsistencyResult.strongest
    g = cc.hierarchy()
    try:
        cc._descendants = lambda m: nx.descendants(g, m)  # type: ignore[assignment]
        cc.ConsistencyResult.strongest = property(_strongest_with_networkx)  # type: ignore[assignment]
        reference = result.summary()
    finally:
        cc._descendants, cc.ConsistencyResult.strongest = saved  # type: ignore[assignment]
    assert result.summary() == reference
