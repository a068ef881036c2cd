"""Session guarantees (Terry et al. 1994), with Viotti & Vukolić's history-level definitions.

A session is a client's sequence of operations: the op's ``session`` extra where given,
else its process (Jepsen gives a crashed client a new process id; a ``session`` field
survives that). Session order ``so`` relates a to b when both are in one session and a
completed ``ok`` before b was invoked: a crashed op may take effect at any time later, so
it precedes nothing.

In an abstract execution every op sees a set of writes (``vis``) and writes are totally
ordered (``ar``); a read returns what the writes it sees produce in ``ar`` order. Then:

- read-your-writes: a write ``so``-before a read is visible to it;
- monotonic reads: what a read saw is visible to every read ``so``-after it;
- monotonic writes: writes in ``so`` order are in ``ar`` order;
- writes-follow-reads: what a read saw is ``ar``-before every write ``so``-after it;
- PRAM is their first three together (Brzezinski et al. 2004), checked jointly.

Each is checked on one key's visibility (writes to other keys never change a read) and
one global version order. On list-append visibility is observed, so a missing write is a
violation at once (a 2- or 3-cycle with an ``rw`` edge); version-order requirements join
the observed ``ww`` edges and a cycle is a violation. On registers (unique values) a read
shows only its latest visible write s, so "w must be visible" becomes "w is ordered before
s" (or a violation when the read returned the initial value); these inferred ``ww`` edges
are acyclic exactly when some ``ar`` and ``vis`` satisfy the guarantee, so the check is
exact there too — but it knows nothing of real time: on registers, two reads that seem to
go back in time violate monotonic reads only if the two writes' order is known (e.g. by
monotonic writes; check PRAM for that).
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import Any

from .depgraph import Edge, Observations, Witness, cycle_witness, find_cycle
from .history import Op
from .text import op_label

RYW, MR, MW, WFR = "read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads"
GUARANTEES = (RYW, MR, MW, WFR)


def session_of(op: Op, field: str | None = "session") -> Any:
    if field and op.extra.get(field) is not None:
        return op.extra[field]
    return op.process


def sessions(ops: list[Op], field: str | None = "session") -> tuple[dict[Any, list[Op]], str | None]:
    """Each session's ops in invocation order (failed ops left out, they did nothing),
    and a complaint if some session ran two ops at once, which leaves no session order."""
    out: dict[Any, list[Op]] = defaultdict(list)
    for op in sorted(ops, key=lambda o: (o.call, o.id)):
        if op.status != "fail":
            out[session_of(op, field)].append(op)
    for s, seq in out.items():
        for a, b in zip(seq, seq[1:]):
            if a.ok and not a.ret < b.call:
                return dict(out), (
                    f"session {s!r} runs {op_label(a)} and {op_label(b)} at the same time; a session "
                    "issues one operation at a time (pick another --session-field?)"
                )
    return dict(out), None


def check_guarantees(
    obs: Observations, by_session: dict[Any, list[Op]], wanted: set[str]
) -> tuple[bool, Witness | None]:
    """Do all the ``wanted`` guarantees hold together? (True, None) or (False, witness)."""
    name = " + ".join(g for g in GUARANTEES if g in wanted)
    if obs.anomalies:
        return False, obs.anomalies[0]
    edges: list[Edge] = list(obs.ww.values())
    by_id = obs.by_id
    lists = obs.kind == "list-append"
    ryw, mr, mw, wfr = RYW in wanted, MR in wanted, MW in wanted, WFR in wanted

    def require_visible(a: int, b: Op, path: list[Edge]) -> Witness | None:
        """``a`` must be visible to read ``b``; ``path`` is why (a cycle ends it if not)."""
        if lists:
            if a in obs.visible[b.id]:
                return None
        else:
            s = obs.source[b.id]
            if s == a:
                return None
            if not isinstance(s, tuple):
                edges.append(Edge(a, s, "ww", partial(_ordered_first, b, by_id[s], by_id[a], path)))
                return None
        rw = Edge(b.id, a, "rw", partial(_did_not_see, b, by_id[a]))
        return cycle_witness(path + [rw], by_id, f"{name} violated")

    reads, writes, key_of, visible = obs.reads, obs.writes, obs.key_of, obs.visible
    for s, seq in by_session.items():
        own_writes: dict[Any, list[int]] = defaultdict(list)
        seen_before: dict[Any, dict[int, int]] = defaultdict(dict)  # key -> write -> read that saw it
        last_ok_write: int | None = None
        for i, op in enumerate(seq):
            oid = op.id
            k = key_of.get(oid)
            is_read, is_write = oid in reads, oid in writes
            if is_read:
                # On list-append a write the read shows needs no edge and cannot fail, so
                # a read showing all it must is passed over at once; the per-write loop
                # below runs only to name the write that is missing.
                shown = set(visible[oid]) if lists and (own_writes[k] or seen_before[k]) else None
                if ryw and not (shown is not None and shown.issuperset(own_writes[k])):
                    for w in own_writes[k]:
                        path = [Edge(w, op.id, "process", partial(_before, by_id[w], op, s))]
                        bad = require_visible(w, op, path)
                        if bad:
                            return False, bad
                if mr and not (shown is not None and shown.issuperset(seen_before[k])):
                    for w, r in seen_before[k].items():
                        path = [
                            Edge(w, r, "wr", partial(_saw, by_id[r], by_id[w])),
                            Edge(r, op.id, "process", partial(_before, by_id[r], op, s)),
                        ]
                        bad = require_visible(w, op, path)
                        if bad:
                            return False, bad
                if wfr:
                    seen = obs.seen_writes(op.id)
                    if seen:  # the last one seen follows all the others in ww
                        edges.append(Edge(seen[-1], op.id, "wr", partial(_saw, op, by_id[seen[-1]])))
                        edges.append(Edge(op.id, ("pos", s, i + 1), "process", ""))
            if is_write:
                if mw and last_ok_write is not None:
                    edges.append(
                        Edge(last_ok_write, op.id, "process", partial(_before, by_id[last_ok_write], op, s))
                    )
                if wfr:
                    edges.append(Edge(("pos", s, i), op.id, "process", ""))
            if wfr:
                edges.append(Edge(("pos", s, i), ("pos", s, i + 1), "process", ""))
            if op.status != "ok":
                continue  # a crashed op may take effect later: it precedes nothing
            if is_write:
                own_writes[k].append(oid)
                last_ok_write = oid
            if is_read and mr:
                first_reader = seen_before[k].setdefault
                for w in obs.seen_writes(oid):
                    first_reader(w, oid)
    # nothing added to the observed version order: its answer is shared by every check
    cycle = obs.find_ww_cycle() if len(edges) == len(obs.ww) else find_cycle(edges)
    if cycle is None:
        return True, None
    return False, cycle_witness(cycle, by_id, f"{name} violated")


# Edge explanations, formatted only for the edges that end up in a witness.


def _before(a: Op, b: Op, session: Any) -> str:
    return f"{op_label(a)} comes before {op_label(b)} in session {session!r}"


def _saw(read: Op, write: Op) -> str:
    return f"{op_label(read)} saw {op_label(write)}"


def _did_not_see(read: Op, write: Op) -> str:
    return f"{op_label(read)} did not see {op_label(write)}"


def _ordered_first(read: Op, source: Op, must_see: Op, path: list[Edge]) -> str:
    why = " and ".join(e.why for e in path)
    return f"{op_label(read)} returned {op_label(source)}'s value but must see {op_label(must_see)} ({why}), so that write is ordered first"
