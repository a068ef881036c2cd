"""Consistency models beyond linearizability, reported on the model hierarchy.

    from replicheck.checker import read_history
    from replicheck.checker.consistency import check_consistency
    result = check_consistency(read_history("h.jsonl"), "list-append")
    print(result.summary())   # "converges, keeps monotonic writes, but not read-your-writes (...)"
    result.to_dict()          # plain data: every model's verdict, how it was decided, witness

Models form a hierarchy (stronger -> weaker), kept as a networkx DAG::

    linearizable -> sequential -> causal -> PRAM -> read-your-writes
                                                 -> monotonic-reads
                                                 -> monotonic-writes
                                         causal -> writes-follow-reads

Verdicts flow along it: a model that holds makes every weaker one hold; a violated one
rules out every stronger one. Linearizability and sequential consistency are searched
with the WGL machinery of linearizable.py; the session guarantees and PRAM are checked on
dependency graphs (sessions.py, depgraph.py); causal consistency is not checked directly,
so it is only ever implied (or unknown). Convergence and durability sit beside the
hierarchy: they are about what the replicas end with, not about the order of operations.
A verdict is never a guess: when the evidence is not enough, it is "unknown", with why.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from .basespec import check_step_shape, validate_ops
from .depgraph import UNORDERED_SIBLINGS, Edge, Observations, Witness, cycle_witness, find_cycle, observe
from .formats import jsonable
from .history import History, HistoryError, Op, no_gc
from .linearizable import Budget, BudgetExhausted, check_ops, searchable_parts
from .mvregister import siblings
from .sessions import GUARANTEES, MR, MW, RYW, WFR, _before, _did_not_see, _saw, check_guarantees, sessions
from .specs import NO_INIT, resolve_spec
from .text import fmt, op_label
from .verdict import UNKNOWN_VERDICT, Verdict, as_verdict, verdict_json

LIN, SEQ, CAUSAL, PRAM = "linearizable", "sequential", "causal", "PRAM"
MODELS = (LIN, SEQ, CAUSAL, PRAM, RYW, MR, MW, WFR)
CONVERGENCE, DURABILITY = "convergence", "durability"
PROPERTIES = (CONVERGENCE, DURABILITY)
CHOICES = (LIN, SEQ, RYW, MR, MW, WFR, CONVERGENCE, DURABILITY, "all")
# The searches (linearizable, sequential) are exponential at worst: an 85-op register
# history once took 78 s for sequential consistency. Without a limit from the caller
# they stop here and say unknown.
SEARCH_TIMEOUT = 60.0

_STRONGER_THAN = [
    (LIN, SEQ),
    (SEQ, CAUSAL),
    (CAUSAL, PRAM),
    (PRAM, RYW),
    (PRAM, MR),
    (PRAM, MW),
    (CAUSAL, WFR),
]


def hierarchy():
    """The models as a networkx DAG, an edge from each model to the next weaker one."""
    # networkx (~0.3 s to import) is loaded by the first result, not by this module, so
    # that importing it for its names (CHOICES, MODELS) stays quick; likewise below.
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(MODELS)
    g.add_edges_from(_STRONGER_THAN)
    return g


def _reach(edges: list[tuple[str, str]], start: str) -> frozenset[str]:
    """The models reachable from ``start`` along ``edges`` (itself excluded)."""
    out: set[str] = set()
    todo = [start]
    while todo:
        m = todo.pop()
        for a, b in edges:
            if a == m and b not in out:
                out.add(b)
                todo.append(b)
    return frozenset(out)


# The hierarchy's transitive closure, computed once: every check propagates verdicts
# along it, and asking networkx for ancestors and descendants (with building the graph)
# cost ~0.5 ms a check, more than judging a small history itself (the explorer judges
# thousands). tests/test_consistency_fastpath.py compares them, and what they decide, with networkx.
_WEAKER: dict[str, frozenset[str]] = {m: _reach(_STRONGER_THAN, m) for m in MODELS}
_STRONGER: dict[str, frozenset[str]] = {m: _reach([(b, a) for a, b in _STRONGER_THAN], m) for m in MODELS}
_NEXT_STRONGER: dict[str, tuple[str, ...]] = {
    m: tuple(a for a, b in _STRONGER_THAN if b == m) for m in MODELS
}


@dataclass
class ModelResult:
    """One model's verdict: True, False or UNKNOWN_VERDICT; ``how`` it was decided."""

    model: str
    valid: Verdict
    how: str  # "checked" | "implied" | "not checked"
    exact: bool = True
    reason: str | None = None  # why unknown, or why not exact
    witness: Witness | None = None
    implied_by: str | None = None

    def __post_init__(self) -> None:
        self.valid = as_verdict(self.valid, self.reason)

    def to_dict(self) -> dict:
        d: dict = {"model": self.model, "valid": verdict_json(self.valid), "how": self.how}
        d["exact"] = self.exact
        if self.reason:
            d["reason"] = self.reason
        if self.implied_by:
            d["implied_by"] = self.implied_by
        if self.witness is not None:
            d["witness"] = self.witness.to_dict()
        return d


@dataclass
class ConsistencyResult:
    spec: str
    ops: int
    sessions: int
    models: dict[str, ModelResult]
    elapsed: float
    conflicts: list[str] = field(default_factory=list)  # contradictions: a bug if ever non-empty
    history: Any = field(default=None, repr=False)

    def _in_hierarchy(self, valid: Any) -> list[str]:
        return [m for m in MODELS if m in self.models and self.models[m].valid is valid]

    @property
    def strongest(self) -> list[str]:
        """Models that hold with no stronger model holding."""
        holds = set(self._in_hierarchy(True))
        return [m for m in MODELS if m in holds and not any(p in holds for p in _NEXT_STRONGER[m])]

    @property
    def violated(self) -> list[str]:
        """Violated models, the weakest first: direct violations, then the ones implied."""
        bad = self._in_hierarchy(False)
        return [m for m in reversed(bad) if self.models[m].how == "checked"] + [
            m for m in reversed(bad) if self.models[m].how != "checked"
        ]

    def to_dict(self) -> dict:
        return jsonable(
            {
                "spec": self.spec,
                "ops": self.ops,
                "sessions": self.sessions,
                "strongest": self.strongest,
                "violated": self.violated,
                "summary": self.summary(),
                "models": {m: r.to_dict() for m, r in self.models.items()},
                "conflicts": self.conflicts,
                "elapsed": round(self.elapsed, 6),
            }
        )

    def summary(self) -> str:
        """One sentence: "converges, keeps read-your-writes, but not monotonic reads (...)"."""
        parts = []
        conv = self.models.get(CONVERGENCE)
        if conv is not None and conv.valid is True:
            parts.append("eventually consistent (converges)")
        elif conv is not None and conv.valid is False:
            parts.append(f"does not converge ({_where(conv.witness)})")
        strongest = self.strongest
        if strongest:
            parts.append("keeps " + _and([_display(m) for m in strongest]))
        direct = [m for m in self.violated if self.models[m].how == "checked"]
        weakest = [m for m in direct if not any(d in direct for d in _descendants(m))]
        if weakest:
            parts.append(
                "but not " + _and([f"{_display(m)} ({_where(self.models[m].witness)})" for m in weakest])
            )
        dur = self.models.get(DURABILITY)
        if dur is not None and dur.valid is False:
            parts.append(f"and loses acknowledged writes ({_where(dur.witness)})")
        unknown = [_display(m) for m, r in self.models.items() if r.valid == UNKNOWN_VERDICT]
        if unknown:
            parts.append("unknown: " + ", ".join(unknown))
        return ", ".join(parts) if parts else "nothing decided"


def _display(m: str) -> str:
    return {LIN: "linearizability", SEQ: "sequential consistency", CAUSAL: "causal consistency"}.get(m, m)


def _and(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def _descendants(m: str) -> frozenset[str]:
    return _WEAKER[m]


def _where(w: Witness | None) -> str:
    if w is None:
        return "no witness"
    ids = [str(o.id) for o in w.ops]
    lines = [str(o.line) for o in w.ops if o.line is not None]
    s = "operation" + ("s " if len(ids) > 1 else " ") + _and(ids)
    return s + (f", line{'s' if len(lines) > 1 else ''} {_and(lines)}" if lines else "")


# --------------------------------------------------------------------------- the checks


def _linearizable(ops: list[Op], spec: Any, budget: Budget, history: Any) -> ModelResult:
    res = check_ops(ops, spec, budget, history=history)
    if res.valid is True:
        return ModelResult(LIN, True, "checked")
    if res.valid is False:
        return ModelResult(LIN, False, "checked", witness=_search_witness(res.part, "cannot be linearized"))
    return ModelResult(LIN, UNKNOWN_VERDICT, "checked", reason=_out_of_budget(res.reason, budget))


def _out_of_budget(reason: str | None, budget: Budget) -> str:
    """Why a search gave up, and how to give it more."""
    reason = reason or "budget exhausted"
    if reason.startswith("time") and budget.timeout is not None:
        default = " (the default for these searches)" if budget.timeout == SEARCH_TIMEOUT else ""
        when = ", before searching" if reason.endswith(" before searching") else ""
        reason = reason.removesuffix(" before searching")
        return f"{reason} after {budget.timeout:g} s{default}{when}; raise --timeout for a verdict"
    if reason.startswith("memory") and budget.max_memory_mb is not None:
        return f"{reason}; raise --memory for a verdict"
    return reason


def _search_witness(part: Any, what: str) -> Witness:
    tried = "; ".join(why for a in part.attempts[:1] for _, why in a.tried[:3])
    ops = [part.op] + ([part.previous_ok] if part.previous_ok is not None else [])
    why = f"{op_label(part.op)} {what}" + (f" ({tried})" if tried else "")
    if part.previous_ok is not None:
        why += f"; the last operation still fine was {op_label(part.previous_ok)}"
    return Witness(why, ops)


class _InSessionOrder:
    """A spec wrapper under which WGL searches exactly the orders that respect sessions.

    Sequential consistency asks for one legal total order that keeps each session's
    order but ignores real time. Deriving fake intervals from session order cannot say
    that in general: two sessions of two ops each form a "2+2" partial order, which no
    set of intervals has (interval orders are exactly the 2+2-free ones). So every op
    gets the same interval, making all of them concurrent for WGL, and session order is
    enforced by the state instead: a per-session count of ok ops placed so far. An ok op
    may go only when it is next in its session; a crashed op once the ok ops before it
    are placed (it may take effect any time later, or never). The counts are a function
    of the placed set, so WGL's cache of (placed, state) explores nothing twice.
    """

    def __init__(self, spec: Any, parts: list[list[Op]], place: dict[int, tuple[int, int]]):
        # ``place``: op id -> (its session's index, its position in the session), made
        # once for the history: a key's search costs its own ops, not the history's.
        self.inner = spec
        self.name = getattr(spec, "name", "spec")
        self.part_of = {op.id: p for p, part in enumerate(parts) for op in part}
        self.slot: dict[int, tuple[int, int, bool]] = {}
        here: dict[int, int] = {}  # the sessions these parts hold, numbered densely
        ranks: list[int] = []
        for op in sorted((o for part in parts for o in part), key=lambda o: place[o.id]):
            si = here.setdefault(place[op.id][0], len(here))
            if si == len(ranks):
                ranks.append(0)
            self.slot[op.id] = (si, ranks[si], op.ok)
            ranks[si] += op.ok
        self.n_parts, self.n_sessions = len(parts), len(here)

    def init(self) -> Any:
        return (tuple(self.inner.init() for _ in range(self.n_parts)), (0,) * self.n_sessions)

    def _blocked(self, counts: tuple, op: Op) -> bool:
        si, rank, ok = self.slot[op.id]
        return counts[si] != rank if ok else counts[si] < rank

    def step(self, state: Any, op: Op) -> tuple[bool, Any]:
        states, counts = state
        if self._blocked(counts, op):
            return False, state
        p = self.part_of[op.id]
        good, new = self.inner.step(states[p], op)
        if not good:
            return False, state
        states = states[:p] + (new,) + states[p + 1 :]
        si, _, ok = self.slot[op.id]
        if ok:
            counts = counts[:si] + (counts[si] + 1,) + counts[si + 1 :]
        return True, (states, counts)

    def explain(self, state: Any, op: Op) -> str:
        states, counts = state
        if self._blocked(counts, op):
            return "an earlier operation of its session has not taken effect yet"
        explain = getattr(self.inner, "explain", None)
        s = states[self.part_of[op.id]]
        return explain(s, op) if explain else f"not allowed in state {s!r}"


def _sequential(
    ops: list[Op],
    spec: Any,
    by_session: dict,
    budget: Budget,
    pram: Callable[[], tuple[bool, Witness | None]] | None = None,
) -> ModelResult:
    # Any order that keeps every session's order is an execution with PRAM (its prefix
    # is what each op sees), so a PRAM cycle, found in linear time, already proves no
    # such order exists; the search, exponential at worst, is left for what it cannot
    # rule out.
    if pram is not None:
        holds, witness = pram()
        if holds is False:
            assert witness is not None  # a failed guarantee comes with its cycle
            return ModelResult(
                SEQ,
                False,
                "checked",
                witness=Witness(
                    f"no order keeps every session's order, as even PRAM fails: {witness.summary}",
                    witness.ops,
                    witness.cycle,
                ),
            )
    clock = budget.start()
    # Preparing takes seconds on a large history: under the budget too.
    try:
        with clock.armed(), clock.interruptible():
            if budget.timeout is not None and clock.expired():
                raise BudgetExhausted(clock.why)
            parts = searchable_parts(ops, spec)
            # Prune's reasons (a read accepting any value; a crashed write nobody observed)
            # hold for any order, not just real-time ones, so pruning stays sound here.
            parts = [[replace(o, call=0.0, ret=1.0 if o.ok else math.inf) for o in p] for p in parts]
            place = {op.id: (si, i) for si, seq in enumerate(by_session.values()) for i, op in enumerate(seq)}
    except (BudgetExhausted, MemoryError) as e:
        why = (clock.why if isinstance(e, BudgetExhausted) else None) or "memory budget exhausted"
        return ModelResult(SEQ, UNKNOWN_VERDICT, "checked", reason=_out_of_budget(why, budget))
    unknown = None
    # A sequential order of the whole history, restricted to one key, is one for that
    # key: so a key alone can rule the model out. The converse fails (sequential
    # consistency is not compositional), so passing keys still need the joint search.
    for part in sorted(parts, key=len):
        res = clock.search(part, _InSessionOrder(spec, [part], place))
        if res.valid is False:
            return ModelResult(
                SEQ,
                False,
                "checked",
                witness=_search_witness(res, "has no place in any order that keeps every session's order"),
            )
        if res.valid is not True:
            unknown = res.reason
    if unknown is None and len(parts) > 1:
        res = clock.search([o for p in parts for o in p], _InSessionOrder(spec, parts, place))
        if res.valid is False:
            return ModelResult(
                SEQ,
                False,
                "checked",
                witness=_search_witness(
                    res, "has no place in any order of all keys that keeps every session's order"
                ),
            )
        unknown = None if res.valid is True else res.reason
    if unknown is not None:
        return ModelResult(SEQ, UNKNOWN_VERDICT, "checked", reason=_out_of_budget(unknown, budget))
    return ModelResult(SEQ, True, "checked")


def _sequential_lists(obs: Observations, by_session: dict) -> ModelResult:
    """Sequential consistency of a list-append history, decided exactly in linear time.

    Every state of a list is a prefix of its final list, so the reads of a key must all
    be prefixes of its longest read L. Given that, a total order replays legally exactly
    when L's appends come in L's order, a read of length n comes after L[n-1] and before
    L[n], and an append no read shows (it went after every read) follows the reads of
    all of L. Those constraints and session order form a graph, and some legal order
    keeping every session's order exists exactly when the graph has no cycle. The WGL
    search decides the same question by trying orders, and on a few hundred operations
    of a handful of sessions it can run for minutes.
    """
    by_id = obs.by_id
    edges: list[Edge] = list(obs.ww.values())
    longest: dict[Any, int] = {}
    for rid, seen in obs.visible.items():
        k = obs.key_of[rid]
        if k not in longest or len(seen) > len(obs.visible[longest[k]]):
            longest[k] = rid
    last_reads: dict[Any, list[int]] = {}
    for rid, seen in obs.visible.items():
        lid = longest[obs.key_of[rid]]
        full = obs.visible[lid]
        if full[: len(seen)] != seen:
            r, other = by_id[rid], by_id[lid]
            return ModelResult(
                SEQ,
                False,
                "checked",
                witness=Witness(
                    f"{op_label(r)} and {op_label(other)} show lists neither of which extends the other: "
                    "no one order of the appends explains both",
                    [r, other],
                ),
            )
        read = by_id[rid]
        if seen:
            edges.append(Edge(seen[-1], rid, "wr", partial(_saw, read, by_id[seen[-1]])))
        if len(seen) < len(full):
            edges.append(
                Edge(rid, full[len(seen)], "rw", partial(_did_not_see, read, by_id[full[len(seen)]]))
            )
        else:
            last_reads.setdefault(obs.key_of[rid], []).append(rid)
    shown = {i for lid in longest.values() for i in obs.visible[lid]}
    for wid, w in obs.writes.items():
        if wid not in shown:  # ok, as a crashed append enters writes only when shown
            for rid in last_reads.get(w.key, ()):
                edges.append(Edge(rid, wid, "rw", partial(_did_not_see, by_id[rid], w)))
    for s, seq in by_session.items():
        last_ok: Op | None = None
        for op in seq:
            if op.id not in obs.reads and op.id not in obs.writes:
                continue  # a read that tells nothing, or a crashed append nobody saw
            if last_ok is not None:
                edges.append(Edge(last_ok.id, op.id, "process", partial(_before, last_ok, op, s)))
            if op.ok:
                last_ok = op
    cycle = find_cycle(edges)
    if cycle is None:
        return ModelResult(SEQ, True, "checked")
    return ModelResult(
        SEQ,
        False,
        "checked",
        witness=cycle_witness(cycle, by_id, "no order of all operations keeps every session's order"),
    )


def _final_reads(
    obs: Observations, ops: list[Op], quiet: float, quiet_from: float | None = None
) -> tuple[dict, set]:
    """Per key, the reads invoked ``quiet`` after every write to it ended (and not before
    ``quiet_from``, when the system settled), and the keys with a crashed write (it may
    land at any time, even between final reads)."""
    last_write: dict[Any, float] = {}
    crashed: set = set()
    for op in ops:
        if op.status == "fail" or op.f not in ("write", "cas", "append"):
            continue
        end = op.call if op.crashed else op.ret
        last_write[op.key] = max(last_write.get(op.key, -math.inf), end)
        if op.crashed:
            crashed.add(op.key)
    finals: dict[Any, list[Op]] = {k: [] for k in last_write}
    for op in obs.reads.values():
        k = op.key
        if k in finals and op.f == "read" and op.call > last_write[k] + quiet:
            if quiet_from is not None and op.call < quiet_from:
                continue
            finals[k].append(op)
    return finals, crashed


def _convergence(obs: Observations, ops: list[Op], quiet: float, quiet_from: float | None) -> ModelResult:
    if obs.anomalies:
        return ModelResult(CONVERGENCE, False, "checked", witness=obs.anomalies[0])
    if obs.kind == "other":
        return ModelResult(CONVERGENCE, UNKNOWN_VERDICT, "not checked", reason=obs.unsupported)
    finals, crashed = _final_reads(obs, ops, quiet, quiet_from)
    undecided = []
    for k, reads in finals.items():
        if not reads:
            undecided.append(k)
            continue
        values: dict[Any, Op] = {}
        for r in reads:
            values.setdefault(_read_value(r, obs.kind), r)
        if len(values) > 1:
            if k in crashed:
                undecided.append(k)
                continue
            a, b = list(values.values())[:2]
            # op_label names the node that served each read
            return ModelResult(
                CONVERGENCE,
                False,
                "checked",
                witness=Witness(
                    f"after the last write to key {fmt(k)}, {op_label(a)} and {op_label(b)} disagree", [a, b]
                ),
            )
    if undecided:
        return ModelResult(
            CONVERGENCE,
            UNKNOWN_VERDICT,
            "checked",
            reason=(
                f"cannot judge {_keys_text(undecided)}: no reads after the last write (and quiet "
                "period), or a crashed write that may land between them; end the history with a "
                "read of every key from every replica"
            ),
        )
    return ModelResult(CONVERGENCE, True, "checked")


def _read_value(r: Op, kind: str) -> Any:
    if kind == "mv-register":
        return siblings(r.output)
    if r.f == "cas":
        return r.value[0]
    return () if kind == "list-append" and r.output is None else r.output


def _durability(obs: Observations, ops: list[Op], quiet: float, quiet_from: float | None) -> ModelResult:
    # Sibling sets cannot be ordered, but they do show which writes survive.
    if obs.unsupported and obs.unsupported is not UNORDERED_SIBLINGS:
        return ModelResult(DURABILITY, UNKNOWN_VERDICT, "not checked", reason=obs.unsupported)
    finals, _ = _final_reads(obs, ops, quiet, quiet_from)
    # Registers and sibling sets alike do not reveal the version order.
    register = obs.kind in ("register", "mv-register")
    mv = obs.kind == "mv-register"
    undecided = set()
    # Every final read must show the write (or, for a register, a write that may follow
    # it): a settled replica that serves reads without an acknowledged write has lost it
    # for its readers, even if another replica still holds it (a deposed leader, say).
    # Per key, the writes every final read shows: one set lookup per write.
    shown: dict[Any, set] = {}
    if not register:
        for k, reads in finals.items():
            shown[k] = set.intersection(*(set(obs.visible[r.id]) for r in reads)) if reads else set()
    for w in sorted((o for o in obs.writes.values() if o.ok), key=lambda o: o.id):
        reads = finals.get(w.key)
        if not reads:
            undecided.add(w.key)
            continue
        if register:
            # A read's source counts as later unless it completed before w began (the
            # version order is unknown).
            def later_or_same(r: Op, w: Op = w) -> bool:
                if mv:  # some sibling is w, or a write that may have superseded it
                    return any(not obs.by_id[i].ret < w.call for i in obs.visible[r.id])
                s = obs.source[r.id]
                return not isinstance(s, tuple) and not obs.by_id[s].ret < w.call

            missing = next((r for r in reads if not later_or_same(r)), None)
        else:
            missing = None
            if w.id not in shown[w.key]:
                missing = next(r for r in reads if w.id not in obs.visible[r.id])
        if missing is not None:
            r = missing
            return ModelResult(
                DURABILITY,
                False,
                "checked",
                exact=not register,
                reason=_REGISTER_DURABILITY if register else None,
                witness=Witness(
                    f"{op_label(w)} was acknowledged, but a read after the last write does not see it"
                    + (" or any write that may follow it" if register else ""),
                    [w, r],
                    [Edge(r.id, w.id, "rw", _did_not_see(r, w))],
                ),
            )
    if undecided:
        return ModelResult(
            DURABILITY,
            UNKNOWN_VERDICT,
            "checked",
            reason=f"no reads after the last write on {_keys_text(sorted(undecided, key=repr))}",
        )
    return ModelResult(
        DURABILITY, True, "checked", exact=not register, reason=_REGISTER_DURABILITY if register else None
    )


_REGISTER_DURABILITY = (
    "a register's version order is not observed: a write counts as overwritten by any write "
    "that did not complete before it began"
)


def _session_model(
    model: str, decide: Callable[[], tuple[Any, Any]], obs: Observations, concurrent: str | None
) -> ModelResult:
    if obs.anomalies:
        return ModelResult(model, False, "checked", witness=obs.anomalies[0])
    if obs.unsupported or concurrent:
        return ModelResult(model, UNKNOWN_VERDICT, "not checked", reason=obs.unsupported or concurrent)
    holds, witness = decide()
    if holds == UNKNOWN_VERDICT:  # out of budget: the second item says which, and how to get more
        return ModelResult(model, UNKNOWN_VERDICT, "checked", reason=str(witness))
    return ModelResult(model, holds, "checked", witness=witness)


def check_consistency(
    history: History,
    spec: Any = None,
    models: str | Iterable[str] = "all",
    *,
    session_field: str | None = "session",
    quiet_period: float | None = None,
    timeout: float | None = SEARCH_TIMEOUT,
    max_memory_mb: float | None = 2048.0,
    init: Any = NO_INIT,
    nil_read: str | None = None,
    started: float | None = None,
    quiet: float | None = None,
) -> ConsistencyResult:
    """Which consistency models does ``history`` keep, and which does it break?

    ``models``: "all", or names from CHOICES (and "PRAM"). Sessions are the ops'
    ``session_field`` extra where present, else their process. ``quiet_period`` (named as
    ``--quiet-period`` and the metadata's ``quiet_period``; ``quiet`` is its old name) is how long
    after the last write to a key a read must start to count as final (convergence,
    durability), in the history's time unit; by default the metadata's ``quiet_period``
    (a recorder that waited for its replicas before its final reads says how long), else
    0. ``timeout`` (seconds, from ``started``, a ``time.monotonic()``, default now; None:
    no limit) bounds the searches together, ``max_memory_mb`` the process's resident
    size: past either, the models they decide are unknown, with a note.
    """
    if quiet is not None and quiet_period is not None:
        raise TypeError("give quiet_period or its old name quiet, not both")
    if quiet is None:
        quiet = quiet_period
    if quiet is None:
        quiet = history.meta.get("quiet_period", 0)
        if isinstance(quiet, bool) or not isinstance(quiet, (int, float)) or quiet < 0:
            raise HistoryError(f"metadata 'quiet_period' must be a number >= 0, got {quiet!r}", history.path)
    # When the system settled (faults over, replication caught up): a simulator knows it
    # and writes it; reads taken earlier, with a node down or cut off, are not final.
    quiet_from = history.meta.get("quiet_from")
    if quiet_from is not None and (isinstance(quiet_from, bool) or not isinstance(quiet_from, (int, float))):
        raise HistoryError(f"metadata 'quiet_from' must be a time, got {quiet_from!r}", history.path)
    with no_gc():
        budget = Budget(timeout, max_memory_mb, time.monotonic() if started is None else started)
        return _check(history, spec, models, session_field, quiet, budget, init, nil_read, quiet_from)


def _check(
    history: History,
    spec: Any,
    models: str | Iterable[str],
    session_field: str | None,
    quiet: float,
    budget: Budget,
    init: Any,
    nil_read: str | None,
    quiet_from: float | None = None,
) -> ConsistencyResult:
    started = time.perf_counter()
    spec_obj = resolve_spec(history, spec, init=init, nil_read=nil_read)
    ops = history.ops
    validate_ops(ops, spec_obj, history.path)
    check_step_shape(spec_obj, ops)
    names = [models] if isinstance(models, str) else list(models)
    wanted = set(MODELS + PROPERTIES) if "all" in names else set(names)
    unknown_names = wanted - set(MODELS + PROPERTIES)
    if unknown_names:
        raise ValueError(
            f"unknown consistency model {sorted(unknown_names)[0]!r}; expected one of {', '.join(CHOICES)}"
        )
    clock = budget.start()
    # One arming (timer, memory ceiling: ~30 us each time) for all the linear work below,
    # rather than one per piece: on a small history arming was most of the check, and the
    # explorer checks thousands. The pieces' own armed() inside only count the nesting;
    # the searches further down are armed on their own, as before.
    with clock.armed():
        # Reading what each op observed and splitting sessions are linear, but seconds on a
        # few hundred thousand ops: under the budget too.
        try:
            with clock.armed(), clock.interruptible():
                if budget.timeout is not None and clock.expired():
                    raise BudgetExhausted(clock.why)
                obs = observe(ops, spec_obj)
                by_session, concurrent = sessions(ops, session_field)
        except (BudgetExhausted, MemoryError) as e:
            why = (clock.why if isinstance(e, BudgetExhausted) else None) or "memory budget exhausted"
            why = _out_of_budget(why + " before searching", budget)
            return ConsistencyResult(
                spec=getattr(spec_obj, "name", type(spec_obj).__name__),
                ops=len(ops),
                sessions=0,
                models={
                    m: ModelResult(m, UNKNOWN_VERDICT, "not checked", reason=why)
                    for m in MODELS + PROPERTIES
                    if m in wanted
                },
                elapsed=time.perf_counter() - started,
                conflicts=[],
                history=history,
            )
        decided: dict[frozenset, tuple[Any, Any]] = {}

        def guarantees(which: set[str]) -> tuple[Any, Any]:
            """(True, None), (False, witness), or (unknown, why) past the budget: on a large
            history the dependency graph has millions of edges and takes minutes."""
            key = frozenset(which)
            if key not in decided:
                try:
                    with clock.armed(), clock.interruptible():
                        if budget.timeout is not None and clock.expired():
                            raise BudgetExhausted(clock.why)
                        decided[key] = check_guarantees(obs, by_session, which)
                except (BudgetExhausted, MemoryError) as e:
                    why = (clock.why if isinstance(e, BudgetExhausted) else None) or "memory budget exhausted"
                    decided[key] = (UNKNOWN_VERDICT, _out_of_budget(why, budget))
            return decided[key]

        # The guarantees first: polynomial, they are decided before the exponential searches
        # can spend the budget (and a PRAM cycle settles sequential consistency outright).
        if not (concurrent or obs.unsupported or obs.anomalies):
            for g in GUARANTEES:
                if g in wanted:
                    guarantees({g})
            if PRAM in wanted or SEQ in wanted:
                guarantees({RYW, MR, MW})
    direct: dict[str, ModelResult] = {}
    if LIN in wanted:
        direct[LIN] = _linearizable(ops, spec_obj, budget, history)
    if SEQ in wanted and direct.get(LIN, ModelResult(LIN, UNKNOWN_VERDICT, "")).valid is not True:
        if concurrent:
            direct[SEQ] = ModelResult(SEQ, UNKNOWN_VERDICT, "not checked", reason=concurrent)
        else:
            pram = None if obs.unsupported else lambda: guarantees({RYW, MR, MW})
            if obs.kind == "list-append" and not obs.unsupported and not obs.anomalies:
                direct[SEQ] = _sequential_lists(obs, by_session)
            else:
                direct[SEQ] = _sequential(ops, spec_obj, by_session, budget, pram)
    for g in GUARANTEES:
        if g in wanted:
            direct[g] = _session_model(g, partial(guarantees, {g}), obs, concurrent)
    if PRAM in wanted:
        direct[PRAM] = _session_model(PRAM, partial(guarantees, {RYW, MR, MW}), obs, concurrent)
    results, conflicts = _propagate(direct, wanted)
    if CONVERGENCE in wanted:
        results[CONVERGENCE] = _convergence(obs, ops, quiet, quiet_from)
    if DURABILITY in wanted:
        results[DURABILITY] = _durability(obs, ops, quiet, quiet_from)
    return ConsistencyResult(
        spec=getattr(spec_obj, "name", type(spec_obj).__name__),
        ops=len(ops),
        sessions=len(by_session),
        models=results,
        elapsed=time.perf_counter() - started,
        conflicts=conflicts,
        history=history,
    )


def _propagate(direct: dict[str, ModelResult], wanted: set[str]) -> tuple[dict[str, ModelResult], list[str]]:
    """Fill in the models not decided directly from the ones that were."""
    out: dict[str, ModelResult] = {}
    conflicts = []
    for m in MODELS:
        above, below = _STRONGER[m], _WEAKER[m]
        stronger = [a for a in MODELS if a in above and direct.get(a) and direct[a].valid is True]
        weaker = [d for d in MODELS if d in below and direct.get(d) and direct[d].valid is False]
        if stronger and weaker:
            conflicts.append(f"{m}: implied by {stronger[-1]} holding and ruled out by {weaker[0]}")
        r = direct.get(m)
        if r is not None and r.valid in (True, False):
            if (r.valid is True and weaker) or (r.valid is False and stronger):
                conflicts.append(f"{m} checked {r.valid} against the hierarchy")
            out[m] = r
        elif stronger and not weaker:
            out[m] = ModelResult(m, True, "implied", implied_by=stronger[-1])
        elif weaker and not stronger:
            out[m] = ModelResult(m, False, "implied", implied_by=weaker[0])
        elif r is not None:
            out[m] = r
        elif m in wanted:
            out[m] = ModelResult(
                m,
                UNKNOWN_VERDICT,
                "not checked",
                reason=(
                    "not checked directly: it holds when sequential consistency does, and fails when "
                    "PRAM or writes-follow-reads does"
                    if m == CAUSAL
                    else "not checked"
                ),
            )
    return out, conflicts


# --------------------------------------------------------------------------- text


def _keys_text(keys: list) -> str:
    """'key "a"' or 'keys "a", "b"', at most five named."""
    return f"key{'s' if len(keys) > 1 else ''} {', '.join(fmt(k) for k in keys[:5])}"


def render_consistency(result: ConsistencyResult, path: str | None = None) -> str:
    """The map for people: each model's verdict, then the witness of each direct violation."""
    name = path or getattr(result.history, "path", None) or "history"
    out = [
        f"{name}: {result.summary()}",
        f"  spec {result.spec}; {result.ops} operations in {result.sessions} sessions; "
        f"{result.elapsed * 1000:.1f} ms",
    ]
    if not result.ops:
        out.append("  note: the history has no client operations: nothing to contradict")
    for m, r in result.models.items():
        word = "holds" if r.valid is True else "VIOLATED" if r.valid is False else UNKNOWN_VERDICT
        how = f"implied by {_display(r.implied_by)}" if r.how == "implied" and r.implied_by else r.how
        note = f"; {r.reason}" if r.reason and r.valid == UNKNOWN_VERDICT else ""
        approx = "; approximate" if not r.exact else ""
        out.append(f"  {m:<20} {word:<9} ({how}{approx}){note}")
    for m, r in result.models.items():
        if r.valid is False and r.witness is not None:
            out.append(f"\n{_display(m)}: {r.witness.summary}")
            for e in r.witness.cycle:
                out.append(f"  {e.src} -{e.kind}-> {e.dst}: {e.why}")
            if not r.exact and r.reason:
                out.append(f"  (approximate: {r.reason})")
    return "\n".join(out)
