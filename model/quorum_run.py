"""What a quorum configuration buys when the protocol runs: ``quorum check --simulate``.

Quorum intersection is a statement about sets. This module runs the leaderless model
(``model/leaderless.py``) with a system's N, W, R (and fallbacks, for a sloppy quorum)
over several seeds, under faults chosen to matter for quorums, and judges every client
history with the linearizability checker. Simulation can refute linearizability (a
history the checker rejects, saved to a file with the command that replays it) but
never prove it: "linearizable in every run" means no violation was found in these runs.

The faults, the same for every seed (the seed decides latencies, losses and choices):

- heavy-tailed latency (``pareto-exp:1,0.1,10,1.2``: one message in ten waits 10 ms or
  more), so a write stays in progress long enough for two reads to straddle it;
- 5% message loss, so a write can time out having reached fewer than W replicas and
  stay there (the "new value, then old value" pattern without blocking read repair);
- six clients, 70% reads, so a partial write is read many times before the next write;
- a partition from 20 ms to 150 ms that cuts R preferred replicas off from the others,
  with every fallback on the other side: a strict quorum then refuses writes on the
  small side (a timed-out write may still have landed there), while a sloppy quorum
  lets fallbacks complete them — and reads on the large side never see them.

These were chosen by measuring, not by theory alone: with them, strict N=3 W=2 R=2
without read repair is non-linearizable in most 1000-operation runs, and ABD in none.
"""

from __future__ import annotations

import bisect
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from replicheck.checker import History, check, write_jsonl
from replicheck.checker.text import describe_op
from replicheck.checker.verdict import UNKNOWN_VERDICT, Verdict
from replicheck.checker.verdict import exit_code as verdict_exit_code

from .config import ConfigError, parse_config, run

LATENCY = "pareto-exp:1,0.1,10,1.2"
LOSS = 0.05
READ_RATIO = 0.7
CLIENTS = 6
PARTITION_MS = 20
HEAL_MS = 150
MAX_NODES = 25


@dataclass
class SeedRun:
    """One seed's run and verdict. ``anomaly`` names a read pattern that alone proves a
    violation, when one is visible (see :func:`find_anomaly`)."""

    seed: int
    valid: Verdict  # True, False or UNKNOWN_VERDICT, from the checker
    operations: int
    reads_ok: int
    sloppy_operations: int
    anomaly: dict | None = None
    explanation: str | None = None
    saved: str | None = None
    replay: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "valid": self.valid,
            "operations": self.operations,
            "reads_ok": self.reads_ok,
            "sloppy_operations": self.sloppy_operations,
            "anomaly": self.anomaly,
            "explanation": self.explanation,
            "saved": self.saved,
            "replay": self.replay,
        }


@dataclass
class QuorumSimulation:
    n: int
    w: int
    r: int
    fallbacks: int | None  # None: a strict quorum
    read_repair: str
    config: str  # the simulate configuration, without the seed
    runs: list[SeedRun]

    @property
    def verdict(self) -> Verdict:
        """False if any run is not linearizable, UNKNOWN_VERDICT if any is undecided, else True."""
        if any(r.valid is False for r in self.runs):
            return False
        if any(r.valid is not True for r in self.runs):
            return UNKNOWN_VERDICT
        return True

    @property
    def exit_code(self) -> int:
        return verdict_exit_code(self.verdict)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "w": self.w,
            "r": self.r,
            "sloppy": self.fallbacks is not None,
            "fallbacks": self.fallbacks,
            "read_repair": self.read_repair,
            "config": self.config,
            "seeds": [r.seed for r in self.runs],
            "linearizable": self.verdict,
            "runs": [r.to_dict() for r in self.runs],
        }


def scenario(
    n: int, w: int, r: int, *, fallbacks: int | None = None, read_repair: str = "none", ops: int = 1000
) -> str:
    """The ``replicheck simulate`` configuration (without ``--seed``) for these quorums."""
    words = ["leaderless", "--nodes", str(n), "-w", str(w), "-r", str(r), "--read-repair", read_repair]
    if fallbacks is not None:
        words += ["--sloppy", "--fallback", str(fallbacks)]
    words += [
        "--ops",
        str(ops),
        "--clients",
        str(CLIENTS),
        "--read-ratio",
        str(READ_RATIO),
        "--latency",
        LATENCY,
        "--loss",
        str(LOSS),
    ]
    preferred = [f"n{i + 1}" for i in range(n)]
    # R preferred replicas on one side: enough for reads there, and the rest plus the
    # fallbacks on the other, where a sloppy write can still gather W acknowledgements.
    small = preferred[: max(1, n - r)] + [f"f{i + 1}" for i in range(fallbacks or 0)]
    large = [p for p in preferred if p not in small]
    if small and large:
        words += [
            "--partition",
            f"{PARTITION_MS}:{','.join(small)}|{','.join(large)}",
            "--heal",
            str(HEAL_MS),
        ]
    return " ".join(shlex.quote(x) for x in words)


def simulate_quorum(
    n: int,
    w: int,
    r: int,
    *,
    fallbacks: int | None = None,
    read_repair: str = "none",
    seeds: Iterable[int] = range(8),
    ops: int = 1000,
    out_dir: str | os.PathLike | None = ".",
    timeout_s: float | None = 30.0,
) -> QuorumSimulation:
    """Run the leaderless model once per seed and judge each history.

    A history the checker rejects is written to ``out_dir`` (unless None) as JSON Lines
    whose metadata names the spec, so ``replicheck check FILE`` needs no flags; the
    ``replay`` commands regenerate it byte for byte from the seed. Raises
    :class:`ConfigError` for parameters the model cannot run.
    """
    if n > MAX_NODES:
        raise ConfigError(
            f"--simulate runs every replica message by message; it takes N <= {MAX_NODES}, not {n}"
        )
    config = scenario(n, w, r, fallbacks=fallbacks, read_repair=read_repair, ops=ops)
    runs = []
    for seed in seeds:
        cfg = parse_config(f"{config} --seed {seed}")
        result = run(cfg)
        events = result.events
        history = History.from_events(events, meta=result.meta)
        verdict = check(history, timeout=timeout_s)
        sloppy = result.measurements.get("sloppy", {})
        one = SeedRun(
            seed=seed,
            valid=verdict.valid,
            operations=sum(1 for e in events if e["type"] == "invoke" and e["process"] != "nemesis"),
            reads_ok=sum(1 for e in events if e["type"] == "ok" and e["f"] == "read"),
            sloppy_operations=sloppy.get("operations_with_fallbacks", 0),
        )
        if verdict.valid is not True:
            one.anomaly = find_anomaly(events)
            if verdict.valid is False and verdict.op is not None:
                op = verdict.op
                one.explanation = f"cannot linearize op {op.id}: process {op.process} {describe_op(op)}"
            else:
                one.explanation = verdict.reason
        if verdict.valid is False and out_dir is not None:
            sloppy = "" if fallbacks is None else f"-sloppy{fallbacks}"
            name = f"quorum-n{n}-w{w}-r{r}{sloppy}-{read_repair}-seed{seed}.jsonl"
            path = os.path.join(os.fspath(out_dir), name)
            replay = f"replicheck simulate {config} --seed {seed} --out {shlex.quote(path)}"
            write_jsonl(path, events, {**result.meta, "source": replay})
            one.saved = path
            one.replay = [replay, f"replicheck check {shlex.quote(path)}"]
        runs.append(one)
    return QuorumSimulation(n, w, r, fallbacks, read_repair, config, runs)


def find_anomaly(events: list[dict]) -> dict | None:
    """The earliest read pattern that by itself rules out linearizability, or None.

    Writes of a register are unique, so "older" is sound when the write of ``a``
    completed before the write of ``b`` was invoked (the initial nil is older than
    any value). Two patterns, each impossible in any linearization:

    - ``new-then-old``: a read returned ``b``, and a read invoked after it had returned
      got the older ``a``;
    - ``stale-read``: a read returned ``a`` although the newer ``b`` had been written
      (acknowledged) before the read was invoked.

    Timed-out writes (``info``) never count as completed, so they are never the older
    value. The checker's verdict stays the judgement; this names what to look at.
    """
    invoked: dict = {}
    write_invoke: dict = {}  # value -> invoke time
    write_done: dict = {}  # value -> ok time
    reads = []  # (invoke, complete, value, node)
    for e in events:
        if e.get("process") == "nemesis" or e.get("key") is not None:
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e
            if e["f"] == "write":
                write_invoke[e["value"]] = e["time"]
        elif e["type"] == "ok":
            start = invoked[e["process"]]["time"]
            if e["f"] == "write":
                write_done[e["value"]] = e["time"]
            elif e["f"] == "read":
                reads.append((start, e["time"], e["value"], e.get("node")))

    def done_before(a: Any) -> float | None:
        """When the write of ``a`` was acknowledged (nil: before everything)."""
        if a is None:
            return float("-inf")
        return write_done.get(a)

    def first_overtaken(times: list, prefix: list, value_of: Any) -> tuple | None:
        """The first read (by invoke time) older than ``prefix[i - 1]``, the running
        maximum over the entries whose ``times`` fall before the read began."""
        for rd in sorted(reads):
            old_done = done_before(rd[2])
            i = bisect.bisect_left(times, rd[0])
            if old_done is None or i == 0:
                continue
            t, x = prefix[i - 1]
            if t > old_done and value_of(x) != rd[2]:
                return rd, t, x
        return None

    found = []
    # new-then-old: among reads completed before r2 began, the newest write invoke seen.
    by_end = sorted(reads, key=lambda x: x[1])
    best = _running_max(
        (write_invoke.get(x[2], float("-inf")) if x[2] is not None else float("-inf"), x) for x in by_end
    )
    hit = first_overtaken([x[1] for x in by_end], best, lambda r1: r1[2])
    if hit:
        r2, _, r1 = hit
        found.append((r2[0], {"kind": "new-then-old", "first_read": _read(r1), "later_read": _read(r2)}))
    # stale-read: the newest write acknowledged before the read began.
    acks = sorted((done, v) for v, done in write_done.items())
    newest = _running_max((write_invoke[v], v) for _, v in acks)
    hit = first_overtaken([a[0] for a in acks], newest, lambda v: v)
    if hit:
        rd, t, v = hit
        found.append(
            (
                rd[0],
                {
                    "kind": "stale-read",
                    "read": _read(rd),
                    "newer_write": {"value": v, "invoke_ms": t / 1e6, "acked_ms": write_done[v] / 1e6},
                },
            )
        )
    return min(found, key=lambda f: f[0])[1] if found else None


def _running_max(items: Iterable[tuple]) -> list[tuple]:
    """Prefix maxima of ``(time, item)`` pairs by time; a tie keeps the earlier pair."""
    out: list[tuple] = []
    for p in items:
        out.append(p if not out or p[0] > out[-1][0] else out[-1])
    return out


def _read(r: tuple) -> dict:
    """A read ``(invoke, complete, value, node)`` as reported."""
    return {"value": r[2], "node": r[3], "invoke_ms": r[0] / 1e6, "complete_ms": r[1] / 1e6}


__all__ = ["ConfigError", "QuorumSimulation", "SeedRun", "find_anomaly", "scenario", "simulate_quorum"]
