"""Commands that fan out over the engine: ``--jobs``/``--scheduler`` wiring, the batch check
of many files, and ``explore --campaign``.

Nothing here imports Dask at module level; the engine loads it only for a run that needs a
cluster, so ``--help`` and the quick commands never pay for it.
"""

from __future__ import annotations

import contextvars
import json
import operator
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from replicheck.engine import ENV_SCHEDULER, EngineError, Layout

from .progress import Progress
from .vocabulary import option

# Set while a worker judges one file of a batch: check prints that file's one-line report.
ONE_OF_MANY: contextvars.ContextVar[bool] = contextvars.ContextVar("one_of_many", default=False)


def scheduler_option(f: Callable) -> Callable:
    return option(
        "scheduler",
        "scheduler",
        metavar="ADDRESS",
        envvar=ENV_SCHEDULER,
        show_envvar=True,
        default=None,
        help="run the tasks on this Dask scheduler (tcp://HOST:8786) instead of locally; "
        "workers need replicheck installed (and, for check, the files at the same paths)",
    )(f)


def engine_options(f: Callable) -> Callable:
    """--campaign, --stop-early, --jobs and --scheduler for explore."""
    f = scheduler_option(f)
    f = click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        metavar="N",
        help="with --campaign, --matrix or --exhaustive: worker processes of a local Dask cluster "
        "(1: this process)",
    )(f)
    f = click.option(
        "--stop-early",
        is_flag=True,
        help="with --campaign: stop at the first counterexample (in run order, so every layout "
        "stops at the same run)",
    )(f)
    return click.option(
        "--campaign",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="N independent searches per design x property over seeds derived from --seed; "
        "a summary goes to --out-dir (campaign.json, campaign.txt) or, without it, stdout",
    )(f)


def pop_engine_params(params: dict) -> dict:
    """The engine's options out of explore's **params (which the topology options share)."""
    return {k: params.pop(k, None) for k in ("campaign", "stop_early", "jobs", "scheduler")}


def refuse_unused_engine_options(
    fan: dict,
    matrix: bool,
    replay: str | None,
    out: str | None,
    html_out: str | None,
    exhaustive: bool = False,
) -> None:
    """Flags the run would ignore are usage errors, not silence. A scheduler named by the
    environment is not refused: REPLICHECK_SCHEDULER may be set for every command."""
    ctx = click.get_current_context()
    from_command_line = ctx.get_parameter_source("scheduler") == click.core.ParameterSource.COMMANDLINE
    if fan["campaign"]:
        for flag, value in (("--replay", replay), ("--out", out), ("--html", html_out)):
            if value:
                raise click.UsageError(
                    f"{flag} takes one search; --campaign saves its counterexamples under --out-dir"
                )
        return
    if fan["stop_early"]:
        raise click.UsageError("--stop-early applies to --campaign")
    if not (matrix or exhaustive) or replay:
        if (fan["jobs"] or 1) > 1 or (fan["scheduler"] and from_command_line):
            raise click.UsageError("--jobs and --scheduler apply to --campaign, --matrix and --exhaustive")


def layout_of(jobs: int | None, scheduler: str | None) -> Layout:
    return Layout.from_options(jobs, scheduler)


def fail(e: EngineError) -> None:
    """One line on stderr and the engine error's exit code (2 unreachable, 3 lost mid-run)."""
    click.echo(f"error: {e}", err=True)
    sys.exit(e.exit_code)


# --- check FILE... on the engine ----------------------------------------------------------


def check_batch(
    task: Callable[[dict], tuple[int | str, str]],
    files: tuple[str, ...],
    params: dict,
    layout: Layout,
    quiet: bool,
) -> int:
    """Every file a ``task`` (check.check_file_task) on ``layout``; report lines printed in
    file order as they land."""
    from replicheck.checker.verdict import worst_exit_code
    from replicheck.engine import run

    # A worker judges its file alone: no process pool of its own inside a Dask worker.
    base = {**params, "jobs": 1, "scheduler": None}
    tasks = [({**base, "files": (path,)},) for path in files]
    codes: list[int] = []

    def landed(i: int, result: tuple[int | str, str]) -> None:
        code, text = result
        if isinstance(code, str):
            raise click.UsageError(code.removeprefix("usage: "))
        click.echo(text, nl=False)
        codes.append(code)

    progress = Progress(f"checking on {layout.describe()}", quiet)
    try:
        run(task, tasks, layout=layout, on_result=landed, progress=progress)
    except EngineError as e:
        progress.close()
        fail(e)
    finally:
        progress.close()
    return worst_exit_code(codes)


# --- explore --campaign ---------------------------------------------------------------------


def explore_campaign(
    cells: list[tuple[str, str, str]],
    runs: int,
    *,
    seed: int,
    max_examples: int,
    steps: int,
    layout: Layout,
    stop_early: bool,
    out_dir: str | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """Run the campaign, write or print its summary; exit 1 when a counterexample was found."""
    from replicheck.checker.verdict import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID
    from replicheck.model.campaign import campaign

    progress = Progress(f"campaign on {layout.describe()}", quiet)
    try:
        c = campaign(
            cells,
            runs,
            seed=seed,
            max_examples=max_examples,
            steps=steps,
            layout=layout,
            stop_early=stop_early,
            out_dir=out_dir,
            progress=progress,
        )
    except EngineError as e:
        progress.close()
        fail(e)
        raise  # fail() exits; this keeps the type checker from thinking c may be unset
    finally:
        progress.close()
    if out_dir:
        js, txt = c.write(out_dir)
        click.echo(f"campaign summary written to {js} and {txt}", err=True)
    click.echo(json.dumps(c.to_dict(), indent=2) if as_json else c.text())
    verdicts = {cell.verdict() for cell in c.cells}
    if "broken" in verdicts:
        return EXIT_INVALID
    return EXIT_UNKNOWN if "unknown" in verdicts else EXIT_VALID


# --- check FILE: one history's partitions on the engine -------------------------------------


def partitions_on(layout: Layout, quiet: bool, stats: dict | None = None) -> Callable[..., Any]:
    """A linearizable.PARTITION_SEARCH hook: the partitions of one history as tasks on
    ``layout`` (groups of keys, as check's own process pool cuts them). A history too
    small for two tasks is searched here. ``stats``, if given, is filled with what the
    run cost (tasks, seconds inside the tasks, wall seconds): for bench/bench_dask.py."""

    def search(parts: list, order: list[int], spec: Any, clock: Any) -> Iterator[tuple[int, Any]] | None:
        from replicheck.checker.linearizable import partition_groups

        groups = partition_groups(parts, order)
        if len(groups) < 2:
            return None
        return _search_on_engine(parts, groups, spec, clock, layout, quiet, stats)

    return search


def pack_partitions(parts: list) -> bytes:
    """A task's partitions for the wire: each operation as the tuple of its fields, the
    lot pickled once. Pickling Op objects one by one cost as much as checking them, and
    Dask walks a task's nested arguments looking for futures: bytes it leaves alone."""
    import pickle

    from replicheck.checker.history import Op

    fields = operator.attrgetter(*Op.__dataclass_fields__)
    return pickle.dumps([[fields(op) for op in part] for part in parts], protocol=pickle.HIGHEST_PROTOCOL)


def unpack_partitions(packed: bytes) -> list:
    import pickle

    from replicheck.checker.history import Op

    return [[Op(*row) for row in part] for part in pickle.loads(packed)]


def judge_partitions(
    packed: bytes, spec: Any, deadline: float | None, max_memory_mb: float | None
) -> tuple[float, list]:
    """One task: ``judge_parts`` on the partitions ``packed`` (pack_partitions) under
    check's budget, in whatever process runs it.

    ``deadline`` is check's, in ``time.time()`` seconds (the one clock machines share,
    to within their clock skew): a task that waited in the scheduler's queue gets only
    what is left, not a fresh ``--timeout``.

    On a Dask worker the budget bounds the worker process's resident size, as it bounds
    check's own process in-process; a worker running several tasks at once (--nthreads N)
    gives each the share of what the budget leaves above the worker's size when the task
    starts. A worker thread gets no timer signal and no RLIMIT_DATA ceiling (those need
    the main thread of a process with no other threads): the search's own checks, a
    resident-size sample every 20 ms and a cap on cached configurations, stop it.
    Returns the seconds spent and the partitions' results (without their operations)."""
    from replicheck.checker.linearizable import PartResult, judge_parts, rss_bytes
    from replicheck.checker.verdict import UNKNOWN_VERDICT

    started = time.perf_counter()
    parts = unpack_partitions(packed)
    timeout = None if deadline is None else deadline - time.time()
    if timeout is not None and timeout <= 0:  # it waited past the deadline: as in-process,
        # the partitions not yet searched are unknown
        late = [PartResult(UNKNOWN_VERDICT, [], reason="time budget exhausted") for _ in parts]
        return time.perf_counter() - started, late
    base, shares, where = 0, 1, ""
    worker = _dask_worker()
    if worker is not None:
        where = f" on the Dask worker {worker.address}"
        shares = _threads(worker)
        if shares > 1 and max_memory_mb is not None:
            base = rss_bytes()
    results = judge_parts(parts, spec, timeout, max_memory_mb, base=base, shares=shares)
    for res in results:
        if where and res.reason and res.reason.startswith("memory"):
            res.reason += where
    return time.perf_counter() - started, results


def _dask_worker() -> Any:
    """The Dask worker running this task, or None (in-process: Dask maybe not even loaded)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _threads(worker: Any) -> int:
    state = getattr(worker, "state", worker)
    return max(1, int(getattr(state, "nthreads", 1) or 1))


class _PackedTasks(Sequence):
    """The tasks' arguments, each task's partitions packed when the engine asks for it:
    the engine submits in order, so the first tasks run on the workers while the later
    ones are still being packed here."""

    def __init__(self, parts: list, groups: list[list[int]], spec: Any, deadline: Any, memory: Any) -> None:
        self.parts, self.groups, self.rest = parts, groups, (spec, deadline, memory)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return (pack_partitions([self.parts[k] for k in self.groups[i]]), *self.rest)


def _search_on_engine(
    parts: list,
    groups: list[list[int]],
    spec: Any,
    clock: Any,
    layout: Layout,
    quiet: bool,
    stats: dict | None,
) -> Iterator[tuple[int, Any]]:
    from replicheck.engine import run

    deadline = None if clock.deadline is None else time.time() + clock.deadline - time.monotonic()
    memory = clock.budget.max_memory_mb if clock.limit is not None else None
    args = _PackedTasks(parts, groups, spec, deadline, memory)

    def invalid(result: tuple[float, list]) -> bool:
        # the first group (in search order) holding an invalid partition decides, as the
        # merge does: later groups are cancelled, earlier ones still finish
        return any(r.valid is False for r in result[1])

    bar = Progress(f"checking partitions on {layout.describe()}", quiet)
    try:
        out = run(judge_partitions, args, layout=layout, stop=invalid, progress=bar)
    finally:
        bar.close()
    if stats is not None:
        stats.update(
            tasks=len(out.results),
            of=len(groups),
            task_seconds=sum(seconds for seconds, _ in out.results.values()),
            wall=out.elapsed,
        )
    for t in sorted(out.results):
        yield from zip(groups[t], out.results[t][1])
