"""Search campaigns as data: many independent searches, cut into tasks for the engine.

    from replicheck.model.campaign import campaign
    c = campaign([("lf-async-failover", DESIGNS["lf-async-failover"], "durability")], runs=8, seed=0)
    c.cells[0].broken, c.to_dict()      # per design x property: runs, examples, time, counterexamples

Run ``r`` of every cell searches with seed ``derive_seed(seed, r)``: the seeds depend on
the campaign seed and the run number only, so a campaign gives the same counterexamples
in-process, on a local cluster or on a remote one, and a nightly campaign over more
designs still repeats last night's runs of the old ones. The claims matrix runs through
the same engine, one task per cell (:func:`run_matrix`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from replicheck.checker import write_jsonl
from replicheck.engine import Layout, derive_seed, run

from .explore import DESIGNS, NO_COUNTEREXAMPLE, PROPERTIES, Cell, SearchResult, explore, run_cell
from .quorum_run import QuorumSimulation, simulate_quorum

__all__ = [
    "Campaign",
    "CellSummary",
    "campaign",
    "matrix_cell",
    "quorum_seed_task",
    "run_matrix",
    "search_task",
    "simulate_quorum_on",
]


@contextlib.contextmanager
def _same_draws_in_every_process() -> Iterator[None]:
    # A Dask worker's own threads draw from the global `random` while a search runs, and
    # Hypothesis warns that a strategy did. The model draws only from its own seeded
    # Random objects, so the results do not change; the warning is noise.
    # (The literals Hypothesis would mix in from loaded local modules are left out by
    # explore itself, so a worker draws what the CLI draws.)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*random. module inside strategies")
        yield


def search_task(text: str, prop: str, max_examples: int, steps: int, seed: int) -> SearchResult:
    """One search, as a task: module-level so a worker imports it by name."""
    with _same_draws_in_every_process():
        return explore(text, prop, max_examples=max_examples, steps=steps, seed=seed)


def matrix_cell(
    name: str,
    text: str,
    prop: str,
    seconds: float,
    max_examples: int,
    steps: int,
    seed: int,
    derandomize: bool,
) -> Cell:
    """One cell of the claims matrix, as :func:`replicheck.model.explore.matrix` runs it:
    the exhaustive search for ``seconds``, then the random search."""
    with _same_draws_in_every_process():
        return run_cell(
            name,
            text,
            prop,
            seconds=seconds,
            max_examples=max_examples,
            steps=steps,
            seed=seed,
            derandomize=derandomize,
        )


def run_matrix(
    *,
    seconds: float = 20.0,
    max_examples: int = 300,
    steps: int = 30,
    seed: int = 0,
    derandomize: bool = True,
    layout: Layout | None = None,
    on_cell: Callable[[str, str, Cell], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Cell]:
    """Every design against every property, one task per cell; ``on_cell`` hears the cells
    in table order as they land. The exhaustive part is bounded by time, so the depth it
    reaches (not the random search's examples) may differ between layouts."""
    cells = [(name, text, prop) for name, text in DESIGNS.items() for prop in PROPERTIES]
    args = [(name, text, prop, seconds, max_examples, steps, seed, derandomize) for name, text, prop in cells]

    def landed(i: int, r: Cell) -> None:
        if on_cell is not None:
            on_cell(cells[i][0], cells[i][2], r)

    return run(matrix_cell, args, layout=layout or Layout(), on_result=landed, progress=progress).ordered


@dataclass
class CellSummary:
    """One design x property over a campaign's runs."""

    name: str
    design: str
    prop: str
    runs: int = 0
    examples: int = 0
    seconds: float = 0.0  # search time summed over runs (not wall time)
    outcomes: dict[str, int] = field(default_factory=dict)
    counterexamples: list[dict] = field(default_factory=list)
    reason: str | None = None

    @property
    def broken(self) -> int:
        return self.outcomes.get("broken", 0)

    def verdict(self) -> str:
        for word in ("broken", "unknown", NO_COUNTEREXAMPLE):
            if self.outcomes.get(word):
                return word
        return "not applicable"

    def add(self, run_index: int, r: SearchResult, saved: str | None) -> None:
        self.runs += 1
        self.examples += r.examples
        self.seconds += r.elapsed
        self.outcomes[r.outcome] = self.outcomes.get(r.outcome, 0) + 1
        self.reason = self.reason or r.reason
        if r.counterexample is not None:
            self.counterexamples.append(
                {"run": run_index, "seed": r.seed, "steps": r.counterexample.steps, "out": saved}
            )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "design": self.design,
            "property": self.prop,
            "verdict": self.verdict(),
            "runs": self.runs,
            "examples": self.examples,
            # Hypothesis's search does not count the states it visits
            "distinct_states": None,
            "seconds": round(self.seconds, 3),
            "outcomes": dict(sorted(self.outcomes.items())),
            "counterexamples": self.counterexamples,
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass
class Campaign:
    seed: int
    runs: int
    max_examples: int
    steps: int
    layout: str
    cells: list[CellSummary]
    wall: float
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "runs": self.runs,
            "max_examples": self.max_examples,
            "steps": self.steps,
            "layout": self.layout,
            "wall_seconds": round(self.wall, 3),
            "examples": sum(c.examples for c in self.cells),
            "stopped_early": self.stopped_early,
            "cells": [c.to_dict() for c in self.cells],
        }

    def comparable(self) -> list[dict]:
        """The cells without times or layout: equal for the same seed in every layout."""
        out = []
        for c in self.cells:
            d = c.to_dict()
            d.pop("seconds")
            d["counterexamples"] = [{k: v for k, v in x.items() if k != "out"} for x in d["counterexamples"]]
            out.append(d)
        return out

    def text(self) -> str:
        lines = [
            f"campaign: {self.runs} runs per cell of up to {self.max_examples} examples of up to "
            f"{self.steps} steps, seed {self.seed}, {self.layout}, {self.wall:.1f} s"
            + (" (stopped at the first counterexample)" if self.stopped_early else "")
        ]
        for c in self.cells:
            lines.append(
                f"{c.name} / {c.prop}: {c.verdict()} ({c.runs} runs, {c.examples} examples, "
                f"{c.seconds:.1f} s, {c.broken} broken)"
            )
            for x in c.counterexamples:
                lines.append(
                    f"  run {x['run']}: seed {x['seed']}, {x['steps']} steps"
                    + (f", {x['out']}" if x["out"] else "")
                )
        return "\n".join(lines)

    def write(self, out_dir: str) -> tuple[str, str]:
        """campaign.json and campaign.txt in ``out_dir``; returns their paths."""
        os.makedirs(out_dir, exist_ok=True)
        js, txt = os.path.join(out_dir, "campaign.json"), os.path.join(out_dir, "campaign.txt")
        with open(js, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")
        with open(txt, "w", encoding="utf-8") as fh:
            fh.write(self.text() + "\n")
        return js, txt


def campaign(
    cells: list[tuple[str, str, str]],
    runs: int,
    *,
    seed: int = 0,
    max_examples: int = 300,
    steps: int = 30,
    layout: Layout | None = None,
    stop_early: bool = False,
    out_dir: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Campaign:
    """``runs`` searches of each (name, design text, property) cell over derived seeds;
    counterexamples are saved under ``out_dir`` when given. ``stop_early`` ends the
    campaign at the first counterexample in task order (cell by cell, run by run)."""
    started = time.perf_counter()
    args = [
        (text, prop, max_examples, steps, derive_seed(seed, r))
        for _name, text, prop in cells
        for r in range(runs)
    ]
    summaries = [CellSummary(name, DESIGNS.get(text, text), prop) for name, text, prop in cells]

    def landed(i: int, r: SearchResult) -> None:
        cell, run_index = divmod(i, runs)
        saved = None
        if r.counterexample is not None and out_dir:
            s = summaries[cell]
            saved = os.path.join(out_dir, f"explore-{s.name}-{s.prop}-run{run_index}-seed{r.seed}.jsonl")
            os.makedirs(out_dir, exist_ok=True)
            write_jsonl(saved, r.counterexample.events, r.counterexample.meta())
        summaries[cell].add(run_index, r, saved)

    stop = (lambda r: r.outcome == "broken") if stop_early else None
    out = run(search_task, args, layout=layout or Layout(), stop=stop, on_result=landed, progress=progress)
    return Campaign(
        seed,
        runs,
        max_examples,
        steps,
        out.layout,
        summaries,
        time.perf_counter() - started,
        stopped_early=out.stopped_at is not None,
    )


def quorum_seed_task(
    n: int, w: int, r: int, fallbacks: int | None, read_repair: str, seed: int, ops: int, out_dir: str | None
) -> QuorumSimulation:
    """One seed of ``quorum check --simulate``, as a task. A history that is not
    linearizable is written by the worker, under ``out_dir`` on its machine."""
    return simulate_quorum(
        n, w, r, fallbacks=fallbacks, read_repair=read_repair, seeds=[seed], ops=ops, out_dir=out_dir
    )


def simulate_quorum_on(
    layout: Layout,
    n: int,
    w: int,
    r: int,
    *,
    fallbacks: int | None,
    read_repair: str,
    seeds: range,
    ops: int,
    out_dir: str | None,
    progress: Callable[[int, int], None] | None = None,
) -> QuorumSimulation:
    """:func:`~replicheck.model.quorum_run.simulate_quorum` with one task per seed; the runs
    come back in seed order, so the report is the same in every layout."""
    args = [(n, w, r, fallbacks, read_repair, seed, ops, out_dir) for seed in seeds]
    parts = run(quorum_seed_task, args, layout=layout, progress=progress).ordered
    first = parts[0]
    return QuorumSimulation(
        n, w, r, fallbacks, read_repair, first.config, [one for part in parts for one in part.runs]
    )
