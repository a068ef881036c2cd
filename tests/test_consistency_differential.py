"""The graph-based checks against a brute force written apart from them.

For each session guarantee (Viotti & Vukolić's definitions) the brute force enumerates
every total order ``ar`` of the writes that took effect, gives each read the least
visibility the guarantee forces (closing it under the guarantee's rules), and accepts if
some order explains every read. Sequential consistency: every order of the ok ops (and
any subset of crashed ones) that keeps each session's order, replayed on the object.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from replicheck.checker import parse_history
from replicheck.checker.consistency import MODELS, check_consistency

GUARANTEES = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads", "PRAM")


@st.composite
def small_histories(draw, kind):
    n_sessions = draw(st.integers(1, 3))
    n_ops = draw(st.integers(2, 6))
    keys = ["x", "y"] if draw(st.booleans()) else ["x"]
    events, pending, proc, written = [], {}, {s: s for s in range(n_sessions)}, {k: [] for k in keys}
    next_value, next_proc, t = 1, n_sessions, 0
    while n_ops or pending:
        choices = list(pending) + ([s for s in range(n_sessions) if s not in pending] if n_ops else [])
        s = draw(st.sampled_from(sorted(choices)))
        t += 1
        if s in pending:
            inv = pending.pop(s)
            if inv["f"] == "read":
                k = inv["key"]
                if kind == "register":
                    out = draw(st.sampled_from([None, *written[k], 99]))
                else:
                    out = draw(st.lists(st.sampled_from(written[k] or [99]), unique=True, max_size=4))
                events.append({**inv, "type": "ok", "value": out, "time": t})
            else:
                status = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
                events.append({**inv, "type": status, "time": t})
                if status == "info":
                    proc[s], next_proc = next_proc, next_proc + 1
            continue
        n_ops -= 1
        k = draw(st.sampled_from(keys))
        f = draw(st.sampled_from(["read", "write" if kind == "register" else "append"]))
        inv = {
            "process": proc[s],
            "f": f,
            "key": k,
            "session": f"s{s}",
            "type": "invoke",
            "value": None if f == "read" else next_value,
        }
        if f != "read":
            written[k].append(next_value)
            next_value += 1
        events.append({**inv, "time": t})
        pending[s] = inv
    meta = {"replicheck": {"spec": kind, "init": None}}
    return parse_history("\n".join(map(json.dumps, [meta, *events])), path="gen.jsonl")


def brute_force(h, kind, guarantee):
    ops = h.ops
    so = lambda a, b: a.extra["session"] == b.extra["session"] and a.ok and a.ret < b.call
    reads = [o for o in ops if o.ok and o.f == "read"]
    if kind == "register":
        writer = {(o.key, o.value): o for o in ops if o.f == "write" and o.status != "fail"}
        src = {}
        for r in reads:
            if r.output is None:
                src[r.id] = None
            elif (r.key, r.output) in writer:
                src[r.id] = writer[(r.key, r.output)]
            else:
                return False  # thin air: no execution explains it
        eff = {o.id: o for o in ops if o.f == "write" and o.ok}
        eff.update({s.id: s for s in src.values() if s is not None})
        seen = {r.id: ({src[r.id].id} if src[r.id] else set()) for r in reads}
    else:
        writer = {(o.key, o.value): o for o in ops if o.f == "append" and o.status != "fail"}
        seen = {}
        for r in reads:
            if any((r.key, e) not in writer for e in r.output):
                return False
            seen[r.id] = [writer[(r.key, e)].id for e in r.output]
        eff = {o.id: o for o in ops if o.f == "append" and o.ok}
        eff.update({i: h.ops[i] for r in reads for i in seen[r.id]})
    parts = {"PRAM": {"read-your-writes", "monotonic-reads", "monotonic-writes"}}.get(guarantee, {guarantee})
    for order in itertools.permutations(eff):
        pos = {w: i for i, w in enumerate(order)}
        if kind == "list-append" and any(
            pos[a] > pos[b] for r in reads for a, b in zip(seen[r.id], seen[r.id][1:])
        ):
            continue
        # least visibility: what the read shows, closed under the guarantee's rules
        vis = {r.id: set(seen[r.id]) for r in reads}
        changed = True
        while changed:
            changed = False
            for r in reads:
                need = set()
                if "read-your-writes" in parts:
                    need |= {w for w in eff if eff[w].ok and eff[w].key == r.key and so(eff[w], r)}
                if "monotonic-reads" in parts:
                    for r1 in reads:
                        if r1.key == r.key and so(r1, r):
                            need |= vis[r1.id]
                if not need <= vis[r.id]:
                    vis[r.id] |= need
                    changed = True
        good = True
        for r in reads:
            if kind == "register":
                s = src[r.id]
                good &= all(s is not None and pos[w] <= pos[s.id] for w in vis[r.id])
            else:
                good &= vis[r.id] == set(seen[r.id])
        if "monotonic-writes" in parts:
            good &= all(pos[a] < pos[b] for a in eff for b in eff if so(eff[a], eff[b]))
        if "writes-follow-reads" in parts:
            good &= all(pos[a] < pos[c] for r in reads for a in vis[r.id] for c in eff if so(r, eff[c]))
        if good:
            return True
    return False


def sequential_brute_force(h, kind):
    ok = [o for o in h.ops if o.ok]
    crashed = [o for o in h.ops if o.crashed]
    so = lambda a, b: a.extra["session"] == b.extra["session"] and a.ok and a.ret < b.call
    for n in range(len(crashed) + 1):
        for extra in itertools.combinations(crashed, n):
            for order in itertools.permutations(ok + list(extra)):
                if any(so(b, a) for i, a in enumerate(order) for b in order[i + 1 :]):
                    continue
                state, legal = {}, True
                for o in order:
                    cur = state.get(o.key, None if kind == "register" else ())
                    if o.f == "read":
                        legal = o.output == cur if kind == "register" else tuple(o.output) == cur
                    elif o.f == "write":
                        state[o.key] = o.value
                    else:
                        state[o.key] = cur + (o.value,)
                    if not legal:
                        break
                if legal:
                    return True
    return False


@settings(max_examples=300)
@given(
    st.sampled_from(["register", "list-append"]).flatmap(lambda k: st.tuples(st.just(k), small_histories(k)))
)
def test_session_guarantees_agree_with_brute_force(case):
    kind, h = case
    res = check_consistency(h, None, list(GUARANTEES))
    for g in GUARANTEES:
        assert res.models[g].valid is brute_force(h, kind, g), (g, [op.to_dict() for op in h.ops])
    assert not res.conflicts


@settings(max_examples=150)
@given(
    st.sampled_from(["register", "list-append"]).flatmap(lambda k: st.tuples(st.just(k), small_histories(k)))
)
def test_sequential_and_hierarchy_agree_with_brute_force(case):
    kind, h = case
    res = check_consistency(h, None, "sequential")
    assert res.models["sequential"].valid is sequential_brute_force(h, kind), [op.to_dict() for op in h.ops]
    full = check_consistency(h, None, "all")
    assert not full.conflicts, full.conflicts
    assert all(full.models[m].valid in (True, False, "unknown") for m in MODELS)
