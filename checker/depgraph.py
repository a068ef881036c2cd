"""What the values in a history reveal, as dependency-graph edges, and cycles in them.

Reads are traced back to the writes they saw (``wr``). On list-append a read shows every
append it saw, in the store's order, so visibility is known exactly and each read adds
version-order edges (``ww``) between neighbouring elements; a read that does not show an
append did not see it (``rw``, an anti-dependency). On a register with unique written
values a read reveals one write, the latest it saw; the version order is not observed,
so it is *inferred* from what a consistency model requires (see sessions.py).

A violation of a model is a cycle in a graph of such edges plus order edges (``process``:
session order, ``realtime``); the cycle, with the kind of each edge and why it is there,
is the witness shown to the user. networkx is imported only in :func:`find_cycle`, so
that ``replicheck check`` without ``--consistency`` never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .history import Op
from .listappend import ListAppend
from .mvregister import MVRegister, siblings
from .specs import Register
from .text import fmt, op_label

EDGE_KINDS = ("process", "realtime", "ww", "wr", "rw")


def init_node(key: Any) -> tuple:
    """The initial version of a key, as a graph node: every write follows it."""
    return ("init", key)


class Edge:
    """``src`` must come before ``dst``; ``kind`` is one of EDGE_KINDS; ``why`` in words.

    ``why`` may be given as a function of no arguments, called the first time it is read:
    a big history has hundreds of thousands of edges and only the few in a witness are
    ever shown, so formatting every one up front was most of the cost of a check.
    """

    __slots__ = ("src", "dst", "kind", "_why")

    def __init__(self, src: Any, dst: Any, kind: str, why: str | Callable[[], str]):
        self.src, self.dst, self.kind, self._why = src, dst, kind, why

    @property
    def why(self) -> str:
        w = self._why
        if not isinstance(w, str):
            w = self._why = w()
        return w

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edge):
            return NotImplemented
        return (self.src, self.dst, self.kind, self.why) == (other.src, other.dst, other.kind, other.why)

    def __hash__(self) -> int:
        return hash((self.src, self.dst, self.kind))

    def __repr__(self) -> str:
        return f"Edge(src={self.src!r}, dst={self.dst!r}, kind={self.kind!r}, why={self.why!r})"

    def to_dict(self) -> dict:
        return {"from": _node_json(self.src), "to": _node_json(self.dst), "kind": self.kind, "why": self.why}


def _node_json(n: Any) -> Any:
    return n if isinstance(n, int) else {"initial": n[1]} if n[0] == "init" else str(n)


@dataclass
class Witness:
    """Evidence for a violation: a cycle of edges (or none, for a single bad read)."""

    summary: str
    ops: list[Op]
    cycle: list[Edge] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "summary": self.summary,
            "ops": [op.to_dict() for op in self.ops],
            "cycle": [e.to_dict() for e in self.cycle],
        }


@dataclass
class Observations:
    """Reads traced to writes, per spec. ``unsupported`` says why tracing is impossible."""

    kind: str  # "register" | "list-append" | "other"
    by_id: dict[int, Op]
    writes: dict[int, Op] = field(default_factory=dict)  # ok, or crashed and seen by a read
    reads: dict[int, Op] = field(default_factory=dict)  # reads with a usable result
    key_of: dict[int, Any] = field(default_factory=dict)
    source: dict[int, Any] = field(default_factory=dict)  # register read -> write id | init
    visible: dict[int, tuple] = field(default_factory=dict)  # list read -> writer ids, in order
    ww: dict[tuple, Edge] = field(default_factory=dict)  # observed version order
    anomalies: list[Witness] = field(default_factory=list)  # reads nothing can explain
    unsupported: str | None = None
    _ww_cycle: Any = field(default=(), repr=False)  # () until find_ww_cycle has run

    def find_ww_cycle(self) -> list[Edge] | None:
        """A cycle of the observed version order alone; found once, as several checks ask."""
        if self._ww_cycle == ():
            self._ww_cycle = find_cycle(list(self.ww.values()))
        return self._ww_cycle

    def seen_writes(self, read_id: int) -> tuple:
        """The writes a read is known to have seen (register: its source only)."""
        if self.kind == "list-append":
            return self.visible[read_id]
        src = self.source[read_id]
        return () if isinstance(src, tuple) else (src,)


def observe(ops: list[Op], spec: Any) -> Observations:
    """Trace every read to the writes it saw, under ``spec``'s semantics."""
    by_id = {op.id: op for op in ops}
    if isinstance(spec, ListAppend):
        obs = Observations("list-append", by_id)
        if spec.initial:
            obs.unsupported = "list-append histories must start from empty lists"
        _observe_lists(ops, spec, obs)
    elif isinstance(spec, MVRegister):
        obs = Observations("mv-register", by_id)
        _observe_siblings(ops, spec, obs)
    elif isinstance(spec, Register):
        obs = Observations("register", by_id)
        _observe_register(ops, spec, obs)
    else:
        obs = Observations("other", by_id)
        obs.unsupported = (
            f"reads of a {getattr(spec, 'name', 'custom')} object do not reveal which writes "
            "they saw; use a register with unique written values, or list-append"
        )
    return obs


def _writers(ops: list[Op], is_write, value_of, obs: Observations, what: str):
    """(key, value) -> writer op for non-failed writes; failed ones apart."""
    writer: dict[tuple, Op] = {}
    failed: dict[tuple, Op] = {}
    for op in ops:
        if not is_write(op):
            continue
        kv = (op.key, value_of(op))
        if op.status == "fail":
            failed.setdefault(kv, op)
        elif kv in writer:
            if obs.unsupported is None:
                obs.unsupported = (
                    f"{what} {fmt(kv[1])} is written twice on key {fmt(kv[0])} ({op_label(writer[kv])} and "
                    f"{op_label(op)}): reads cannot be traced to one write"
                )
        else:
            writer[kv] = op
    return writer, failed


def _unexplained(op: Op, value: Any, failed: Op | None) -> Witness:
    if failed is not None:
        why = f"{op_label(op)} returned {fmt(value)}, written only by {op_label(failed)}, which failed"
        return Witness(why, [op, failed])
    return Witness(
        f"{op_label(op)} returned {fmt(value)}, which no operation wrote (a value from thin air)", [op]
    )


def _observe_register(ops: list[Op], spec: Register, obs: Observations) -> None:
    def is_write(op: Op) -> bool:
        return op.f in ("write", "cas")

    writer, failed = _writers(ops, is_write, spec.written_value, obs, "value")  # a cas writes its "to"
    init = spec.initial
    for kv in writer:
        if kv[1] == init and obs.unsupported is None:
            obs.unsupported = f"the initial value {fmt(init)} is written again on key {fmt(kv[0])}"
    for op in ops:
        if not op.ok:
            continue
        if op.f == "cas":
            value = op.value[0]
        elif op.f == "read" and not spec.unknown_read(op):
            value = op.output
        else:
            continue
        obs.key_of[op.id] = op.key
        if value == init:
            obs.reads[op.id] = op
            obs.source[op.id] = init_node(op.key)
        elif (op.key, value) in writer:
            obs.reads[op.id] = op
            w = writer[(op.key, value)]
            obs.source[op.id] = w.id
            obs.writes[w.id] = w  # a crashed write that was read took effect
        else:
            obs.anomalies.append(_unexplained(op, value, failed.get((op.key, value))))
    for w in writer.values():
        if w.ok:
            obs.writes[w.id] = w
        obs.key_of[w.id] = w.key


UNORDERED_SIBLINGS = (
    "reads of a multi-value register return sets of concurrent siblings, which no order "
    "of operations explains; only convergence, durability and linearizability are judged"
)


def _observe_siblings(ops: list[Op], spec: MVRegister, obs: Observations) -> None:
    """Each read shows a set of siblings: it saw each of their writes (``visible``, by id).

    Sibling sets carry no version order between siblings, so the ordering models
    (session guarantees, causal, sequential) are not judged on them; convergence and
    durability are, on the sets.
    """
    writer, failed = _writers(ops, lambda op: op.f == "write", lambda op: op.value, obs, "value")
    if obs.unsupported is not None:
        return  # a value written twice: reads cannot be traced to one write
    obs.unsupported = UNORDERED_SIBLINGS
    for w in writer.values():
        obs.key_of[w.id] = w.key
        if w.ok:
            obs.writes[w.id] = w
    for op in ops:
        if not (op.ok and op.f == "read") or spec.unknown_read(op):
            continue
        ids = []
        for v in sorted(siblings(op.output), key=repr):
            w = writer.get((op.key, v))
            if w is None:
                obs.anomalies.append(_unexplained(op, v, failed.get((op.key, v))))
                break
            ids.append(w.id)
            obs.writes[w.id] = w  # a crashed write that a read shows took effect
        else:
            obs.reads[op.id] = op
            obs.key_of[op.id] = op.key
            obs.visible[op.id] = tuple(ids)


def _observe_lists(ops: list[Op], spec: ListAppend, obs: Observations) -> None:
    writer, failed = _writers(ops, lambda op: op.f == "append", lambda op: op.value, obs, "element")
    element_of: dict[Any, dict[Any, int]] = {}  # key -> element -> writer id
    for (k, e), w in writer.items():
        element_of.setdefault(k, {})[e] = w.id
        obs.key_of[w.id] = w.key
        if w.ok:
            obs.writes[w.id] = w
    # Per key, the longest read whose neighbouring pairs are all in ``ww`` already: reads
    # of a growing list mostly repeat a prefix of it, and then add no edge, so each key
    # costs about its longest list instead of the sum of all its reads.
    longest: dict[Any, tuple] = {}
    ww, by_id, writes = obs.ww, obs.by_id, obs.writes
    for op in ops:
        if not (op.ok and op.f == "read"):
            continue
        seen = spec.read_value(op)
        if seen is None:
            continue
        try:
            elements = element_of.get(op.key, _NO_ELEMENTS)
            ids = tuple([elements[e] for e in seen])
        except KeyError:
            # some element has no append: the first such one is the witness
            e = next(e for e in seen if (op.key, e) not in writer)
            obs.anomalies.append(_unexplained(op, e, failed.get((op.key, e))))
            continue
        if len(set(ids)) != len(ids):
            dup = next(e for e in seen if seen.count(e) > 1)
            obs.anomalies.append(
                Witness(f"{op_label(op)} shows element {fmt(dup)} twice, but it was appended once", [op])
            )
            continue
        obs.reads[op.id] = op
        obs.key_of[op.id] = op.key
        obs.visible[op.id] = ids
        for i in ids:
            if i not in writes:
                writes[i] = by_id[i]  # a crashed append that a read shows took effect
        n = len(ids)
        known = longest.get(op.key, ())
        if n <= len(known) and known[:n] == ids:
            continue
        start = len(known) - 1 if known and ids[: len(known)] == known else 0
        for x in range(start, n - 1):
            a, b = ids[x], ids[x + 1]
            if (a, b) not in ww:
                ww[(a, b)] = Edge(a, b, "ww", partial(_shows_before, op, by_id[a], by_id[b]))
        if n > len(known):
            longest[op.key] = ids


_NO_ELEMENTS: dict = {}


def _shows_before(read: Op, a: Op, b: Op) -> str:
    return f"{op_label(read)} shows {fmt(a.value)} before {fmt(b.value)}"


def find_cycle(edges: Iterable[Edge]) -> list[Edge] | None:
    """A shortest cycle through some strongly connected part of the graph, or None."""
    edges = edges if isinstance(edges, list) else list(edges)
    for e in edges:
        if e.src == e.dst:
            return [e]
    core = _cyclic_core(edges)
    if not core:
        return None
    # networkx only for the few nodes on or between cycles: building a graph of every
    # operation of a big history costs seconds, and an acyclic one needs none.
    import networkx as nx

    g = nx.DiGraph()
    for e in edges:
        if e.src in core and e.dst in core and not g.has_edge(e.src, e.dst):
            g.add_edge(e.src, e.dst, edge=e)
    for comp in nx.strongly_connected_components(g):
        if len(comp) < 2:
            continue
        sub = g.subgraph(comp)
        start = min(comp, key=lambda n: (not isinstance(n, int), str(n)))
        best = None
        for nxt in sub.successors(start):
            path = nx.shortest_path(sub, nxt, start)
            if best is None or len(path) < len(best):
                best = path
        assert best is not None  # in a strongly connected component of 2+ nodes, start has a successor
        nodes = [start, *best]
        return [g.edges[u, v]["edge"] for u, v in zip(nodes, nodes[1:])]
    return None


def _cyclic_core(edges: list[Edge]) -> set:
    """The nodes that both reach a cycle and are reached from one (every cycle lies
    within them); empty exactly when the graph is acyclic. Linear: peel off nodes with
    no incoming edges left (Kahn), then, of the rest, those with no outgoing ones."""
    left = _peel([(e.src, e.dst) for e in edges])
    if left:
        left = _peel([(e.dst, e.src) for e in edges if e.src in left and e.dst in left])
    return left


def _peel(arcs: list[tuple]) -> set:
    """The nodes Kahn's algorithm cannot remove: those on or after a cycle."""
    succ: dict[Any, list] = {}
    indeg: dict[Any, int] = {}
    for a, b in arcs:
        out = succ.get(a)
        if out is None:
            succ[a] = [b]
        else:
            out.append(b)
        indeg[b] = indeg.get(b, 0) + 1
    free = [n for n in succ if n not in indeg]
    while free:
        for m in succ.get(free.pop(), ()):
            left = indeg[m] - 1
            if left:
                indeg[m] = left
            else:
                del indeg[m]
                free.append(m)
    return set(indeg)


def _is_pos(n: Any) -> bool:
    return isinstance(n, tuple) and n[0] == "pos"


def cycle_witness(cycle: list[Edge], by_id: dict[int, Op], headline: str) -> Witness:
    """A witness from a cycle; session positions (helper nodes) are folded into one edge."""
    k = next(i for i, e in enumerate(cycle) if not _is_pos(e.src))
    cycle = cycle[k:] + cycle[:k]
    folded: list[Edge] = []
    run_start: Edge | None = None
    for e in cycle:
        if run_start is None and _is_pos(e.dst):
            run_start = e
            continue
        if run_start is not None:
            if _is_pos(e.dst):
                continue
            a, b = by_id[run_start.src], by_id[e.dst]
            e = Edge(a.id, b.id, "process", f"{op_label(a)} comes before {op_label(b)} in their session")
            run_start = None
        folded.append(e)
    ids = [e.src for e in folded if isinstance(e.src, int)]
    ops = [by_id[i] for i in dict.fromkeys(ids)]
    where = ", ".join(f"{o.id}" for o in ops)
    lines = [str(o.line) for o in ops if o.line is not None]
    summary = f"{headline}: operations {where}" + (f" (lines {', '.join(lines)})" if lines else "")
    return Witness(summary, ops, folded)
