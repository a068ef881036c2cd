"""Renderings of results for people (text) and machines (JSON)."""

from __future__ import annotations

from typing import Any

from .basespec import as_spec
from .linearizable import Result
from .text import describe_op, fmt, op_line
from .verdict import verdict_word

WITNESS_SHOWN = 20


_INFERRED = " (inferred from the functions it uses)"


def render_linearizability(result: Result, spec: Any = None, path: str | None = None) -> str:
    """A report a person can read: the verdict, then the evidence for it."""
    history = result.history
    by_id = {op.id: op for op in history.ops} if history is not None else {}
    name = path or (history.path if history is not None else None) or "history"
    inferred = _INFERRED if history is not None and history.meta.get("spec_inferred") else ""
    out = [
        f"{name}: {verdict_word(result.valid)}",
        f"  spec {result.spec}{inferred}; {result.ops} operations, {result.searched} searched after "
        f"pruning, {result.partitions} partition{'s' if result.partitions != 1 else ''}; "
        f"{result.configs} configurations in {result.elapsed * 1000:.1f} ms",
    ]
    if history is not None:
        notes = []
        if never := history.never_completed:
            notes.append(f"{never} operations never completed (treated as info)")
        for why, count in history.skipped.items():
            notes.append(f"{count} {why} skipped")
        if history.faults:
            notes.append(f"{len(history.faults)} nemesis events kept as annotations")
        if result.note:
            notes.append(result.note)
        if notes:
            out.append("  note: " + "; ".join(notes))
    describe_state = fmt if spec is None else as_spec(spec).describe_state
    if result.valid is True:
        flat = [i for part in result.witness or [] for i in part]
        out.append(
            f"\nWitness: a linearization of {len(flat)} operations"
            + (f" (per key, {result.partitions} keys)" if result.partitions > 1 else "")
        )
        for i in flat[:WITNESS_SHOWN]:
            out.append("  " + op_line(by_id[i], spec))
        if len(flat) > WITNESS_SHOWN:
            out.append(f"  ... {len(flat) - WITNESS_SHOWN} more (--json gives them all)")
    elif result.valid is False:
        part = result.part
        # an invalid result names the partition that failed and the op that could not go
        assert part is not None and part.op is not None
        if result.key is not None:
            out.append(f"\nOn key {fmt(result.key)} (keys are checked independently):")
        out.append("\nThis operation cannot be linearized:")
        out.append("  " + op_line(part.op, spec))
        out.append(
            "  every order of the operations that completed before it leaves no state in\n"
            "  which it can take effect before it returned."
        )
        if part.previous_ok is not None:
            out.append("The last operation that was still fine:")
            out.append("  " + op_line(part.previous_ok, spec))
        if part.linearization:
            out.append(f"Longest linearizable prefix ({len(part.linearization)} operations), ending:")
            for i in part.linearization[-5:]:
                out.append("  " + op_line(by_id[i], spec))
        for n, att in enumerate(part.attempts[:4]):
            head = "At that point" if n == 0 else "Or, after another order"
            out.append(f"{head} the state is {describe_state(att.state)}; the candidates:")
            for op_id, why in att.tried:
                label = describe_op(by_id[op_id], spec)
                out.append(f"  op {op_id} ({label}, process {by_id[op_id].process}): {why}")
        if len(part.attempts) > 4:
            out.append(f"  ... {len(part.attempts) - 4} more end states (--json gives them all)")
    else:
        out.append(f"\nUnknown: {result.reason}; no verdict is given rather than a guess.")
        if result.partitions:  # none when the budget ran out before the history was split
            out.append(f"  {result.decided} of {result.partitions} partitions were decided linearizable.")
        if result.part is not None and result.part.ops:
            done = result.part.reached
            total = sum(1 for op in result.part.ops if op.ok)
            out.append(
                f"  In the undecided one, the search placed {done} of {total} completed "
                "operations at its furthest."
            )
        out.append("  Raise --timeout or --memory, or split the history (keys, time windows).")
    return "\n".join(out)


def render_minimal(minimal: Any, spec: Any = None) -> str:
    """The minimal counterexample, in invocation order."""
    kind = (
        "the failing operation stays, and the anomaly stays one of timing"
        if minimal.timing
        else "every value read is written within it"
        if minimal.grounded
        else "plain: the smallest invalid sub-history"
    )
    out = [
        f"Minimal counterexample: {len(minimal.ops)} of {minimal.original} operations "
        f"({minimal.checks} checks, {minimal.elapsed * 1000:.0f} ms; {kind})"
    ]
    for op in minimal.ops:
        out.append("  " + op_line(op, spec))
    if minimal.out_of_time:
        out.append("  not proved 1-minimal: the time limit stopped the shrinking first")
    elif not minimal.one_minimal:
        out.append(f"  not proved 1-minimal: checks of removing ops {minimal.undecided} ran out of budget")
    return "\n".join(out)
