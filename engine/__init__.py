"""Run independent tasks in-process, on a local Dask cluster, or on a remote Dask scheduler.

    from replicheck.engine import Layout, derive_seed, run
    out = run(search_one, [(design, derive_seed(seed, i)) for i in range(n)], layout=Layout(jobs=2))
    out.results          # index -> result, for every task counted

One path for every layout: a task is a picklable module-level function and its
arguments; results come back as they finish and are handed on in task order, so what a
caller prints or stops on does not depend on which worker was fastest. ``stop`` ends a
run early at the lowest index whose result satisfies it: tasks after it are cancelled,
tasks before it still finish, so every layout reports the same results.

This package imports nothing else of replicheck, and Dask only when a run needs a cluster
(``--jobs 1`` without a scheduler runs the tasks in this process, in order), so commands
that never fan out do not pay for importing it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENV_SCHEDULER",
    "ClusterLost",
    "EngineError",
    "Layout",
    "Outcome",
    "Session",
    "capture_stdout",
    "derive_seed",
    "run",
]

ENV_SCHEDULER = "REPLICHECK_SCHEDULER"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before saying it is unreachable
LOST_AFTER = 15.0  # seconds without a scheduler connection before a run is given up
NO_WORKERS_AFTER = 60.0  # seconds a scheduler may have no worker at all before a run is given up
WORKER_CHECK_EVERY = 2.0
POLL = 0.05


class EngineError(Exception):
    """The cluster could not be used at all (an address nobody answers on): exit 2."""

    exit_code = 2


class ClusterLost(EngineError):
    """The scheduler went away, or a task kept killing its workers, mid-run: exit 3 (the
    run is unfinished, so no verdict is given rather than a guess)."""

    exit_code = 3


def derive_seed(seed: int, index: int) -> int:
    """Task ``index``'s seed, from the campaign seed alone: never from a worker, a clock or
    the order tasks finish in. A hash, not ``seed + index``, so campaigns with nearby seeds
    do not share runs."""
    digest = hashlib.blake2b(f"replicheck:{seed}:{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Layout:
    """Where tasks run: ``scheduler`` (an address such as tcp://10.0.0.5:8786) wins;
    otherwise a local cluster of ``jobs`` worker processes, or this process for 1."""

    jobs: int = 1
    scheduler: str | None = None

    @classmethod
    def from_options(cls, jobs: int | None, scheduler: str | None) -> Layout:
        """The CLI's --jobs/--scheduler, with REPLICHECK_SCHEDULER as the default address."""
        address = scheduler or os.environ.get(ENV_SCHEDULER) or None
        return cls(jobs=max(1, jobs or 1), scheduler=address)

    @property
    def inline(self) -> bool:
        return self.scheduler is None and self.jobs <= 1

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask scheduler {self.scheduler}"
        if self.inline:
            return "in-process"
        return f"local Dask cluster of {self.jobs} processes"


@dataclass
class Outcome:
    """What a run produced: ``results`` maps task index to result for every counted task
    (all of them, or those up to ``stopped_at``)."""

    results: dict[int, Any]
    total: int
    layout: str
    elapsed: float
    stopped_at: int | None = None
    ordered: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ordered = [self.results[i] for i in sorted(self.results)]


class _InOrder:
    """Hands results to ``on_result`` in task order as soon as every earlier one is in,
    and finds the stopping point: the lowest index whose result satisfies ``stop``."""

    def __init__(self, on_result: Callable[[int, Any], None] | None, stop: Callable[[Any], bool] | None):
        self.on_result = on_result
        self.stop = stop
        self.results: dict[int, Any] = {}
        self.next = 0
        self.stopped_at: int | None = None

    def add(self, index: int, result: Any) -> None:
        if index in self.results:  # a rerun task reported twice: counted once
            return
        if self.stopped_at is not None and index > self.stopped_at:
            return
        self.results[index] = result
        if self.stop is not None and self.stop(result):
            if self.stopped_at is None or index < self.stopped_at:
                self.stopped_at = index
                for i in [i for i in self.results if i > index]:
                    del self.results[i]
        while self.next in self.results and (self.stopped_at is None or self.next <= self.stopped_at):
            if self.on_result is not None:
                self.on_result(self.next, self.results[self.next])
            self.next += 1

    def done(self, total: int) -> bool:
        end = total if self.stopped_at is None else self.stopped_at + 1
        return self.next >= end


def run(
    fn: Callable[..., Any],
    args: Sequence[tuple],
    *,
    layout: Layout = Layout(),  # frozen, so sharing the default is safe
    stop: Callable[[Any], bool] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Run ``fn(*args[i])`` for every i on ``layout``. ``on_result(i, result)`` hears each
    result in task order; ``progress(done, total)`` hears each completion. Raises
    EngineError when the scheduler cannot be reached, ClusterLost when it goes away, and a
    task's own exception (re-raised) when a task fails."""
    with Session(layout) as session:
        return session.run(fn, args, stop=stop, on_result=on_result, progress=progress)


class Session:
    """One connection to a layout for several runs: a search that runs a batch of tasks per
    level (the exhaustive search) connects, or starts its local cluster, once.

        with Session(layout) as s:
            for level in ...:
                out = s.run(expand, chunks, shared=seen)
    """

    def __init__(self, layout: Layout = Layout()) -> None:
        self.layout = layout
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> Session:
        if not self.layout.inline:
            self._client, self._cluster = _connect(self.layout)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            _close(self._client, self._cluster)
            self._client = self._cluster = None

    def run(
        self,
        fn: Callable[..., Any],
        args: Sequence[tuple],
        *,
        shared: Any = None,
        stop: Callable[[Any], bool] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Outcome:
        """As :func:`run`; with ``shared``, every task is ``fn(shared, *args[i])`` and the
        object is sent to each worker once, not once per task."""
        started = time.perf_counter()
        order = _InOrder(on_result, stop)
        total = len(args)
        if self.layout.inline:
            for i, a in enumerate(args):
                order.add(i, fn(*((shared,) if shared is not None else ()), *a))
                if progress is not None:
                    progress(i + 1, total)
                if order.stopped_at is not None:
                    break
        else:
            if self._client is None:
                raise RuntimeError("Session.run outside its with-block")
            _run_dask(self._client, fn, args, shared, self.layout, order, progress)
        elapsed = time.perf_counter() - started
        return Outcome(order.results, total, self.layout.describe(), elapsed, order.stopped_at)


def _quiet_dask_logs() -> None:
    # Dask logs reconnection attempts and worker restarts at WARNING on the client side;
    # the run reports what matters itself (a lost scheduler is an error, a rerun a count).
    for name in ("distributed", "distributed.client", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _connect(layout: Layout) -> tuple[Any, Any]:
    """(client, cluster or None); the cluster is ours to close."""
    _quiet_dask_logs()
    from distributed import Client, LocalCluster

    if layout.scheduler:
        address = layout.scheduler
        if "://" not in address:
            address = f"tcp://{address}"
        try:
            return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as e:
            raise EngineError(
                f"cannot reach the Dask scheduler at {layout.scheduler}: {e} "
                f"(start one with `dask scheduler`, or unset {ENV_SCHEDULER} to run locally)"
            ) from None
    cluster = LocalCluster(
        n_workers=layout.jobs,
        threads_per_worker=1,  # tasks are CPU-bound Python: one per process
        processes=True,
        dashboard_address=None,
        # the scheduler's HTTP endpoints still listen without a dashboard: on a free port,
        # not 8787, which another cluster on this machine may hold (Dask warns on stderr)
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.CRITICAL,
    )
    return Client(cluster, set_as_default=False), cluster


def _run_dask(
    client: Any,
    fn: Callable[..., Any],
    args: Sequence[tuple],
    shared: Any,
    layout: Layout,
    order: _InOrder,
    progress: Callable[[int, int], None] | None,
) -> None:
    from distributed import as_completed

    total = len(args)
    token = uuid.uuid4().hex[:12]
    name = getattr(fn, "__name__", "task")
    # Keys carry the task index, so a result is matched to its task however often the
    # scheduler reran it, and a run's keys never collide with another's on a shared scheduler.
    head: tuple = ()
    if shared is not None:
        try:  # scatter waits for a worker to hold the data: bounded as a run without workers is
            head = (client.scatter(shared, broadcast=True, hash=False, timeout=NO_WORKERS_AFTER),)
        except (OSError, TimeoutError) as e:
            raise ClusterLost(
                f"could not send the run's data to a worker of the {layout.describe()} ({e}); "
                "is the scheduler up, with workers (`dask worker ADDRESS`)?"
            ) from None
    futures = {
        client.submit(fn, *head, *a, key=f"replicheck-{name}-{token}-{i}", pure=False): i
        for i, a in enumerate(args)
    }
    pending = as_completed(list(futures), loop=client.loop)
    finished = 0
    disconnected_since: float | None = None
    workerless_since: float | None = None
    next_worker_check = 0.0
    try:
        while not order.done(total):
            batch = pending.next_batch(block=False) if pending.has_ready() else []
            for fut in batch:
                i = futures[fut]
                if fut.status == "error":
                    _raise_task_error(fut, i)
                if fut.status == "cancelled":
                    if order.stopped_at is not None and i > order.stopped_at:
                        continue
                    raise ClusterLost(
                        f"task {i} was lost with the Dask scheduler at {layout.describe()} "
                        f"after {finished} of {total} tasks; the run is unfinished"
                    )
                try:
                    result = fut.result()
                except (OSError, TimeoutError) as e:  # the scheduler went away mid-gather
                    raise ClusterLost(
                        f"lost the {layout.describe()} after {finished} of {total} tasks ({e}); "
                        "the run is unfinished"
                    ) from None
                order.add(i, result)
                finished += 1
                if progress is not None:
                    progress(finished, total)
                if order.stopped_at is not None:
                    late = [f for f, j in futures.items() if j > order.stopped_at and not f.done()]
                    if late:
                        client.cancel(late)
            if batch:
                continue
            if client.status != "running":
                disconnected_since = disconnected_since or time.monotonic()
                if client.status == "closed" or time.monotonic() - disconnected_since > LOST_AFTER:
                    raise ClusterLost(
                        f"lost the {layout.describe()} after {finished} of {total} tasks; "
                        "the run is unfinished"
                    )
            else:
                disconnected_since = None
                if time.monotonic() >= next_worker_check:
                    next_worker_check = time.monotonic() + WORKER_CHECK_EVERY
                    workerless_since = _check_workers(client, layout, workerless_since, finished, total)
            time.sleep(POLL)
    finally:
        _cancel(client, futures)


def _check_workers(
    client: Any, layout: Layout, since: float | None, finished: int, total: int
) -> float | None:
    """When the scheduler has had no worker for NO_WORKERS_AFTER seconds, tasks would wait
    forever: give up instead. Returns the time the scheduler was first seen without one."""
    now = time.monotonic()
    try:
        workers = len(client.nthreads())
    except Exception:  # the scheduler is going away: the connection check above decides
        return since
    if workers:
        return None
    since = since or now
    if now - since > NO_WORKERS_AFTER:
        raise ClusterLost(
            f"the {layout.describe()} has had no workers for {NO_WORKERS_AFTER:.0f} s, after {finished} "
            f"of {total} tasks; start some with `dask worker ADDRESS`"
        )
    return since


def _raise_task_error(fut: Any, index: int) -> None:
    from distributed import KilledWorker

    exc = fut.exception()
    if isinstance(exc, KilledWorker):
        raise ClusterLost(f"task {index} killed every worker that ran it ({exc}); giving up") from None
    raise exc


def _cancel(client: Any, futures: dict) -> None:
    """Cancel what a run leaves unfinished (after a stop, or on an error): the session may
    run more, and a shared scheduler should not keep computing what nobody will read."""
    try:
        if client.status == "running":
            client.cancel([f for f in futures if not f.done()])
    except Exception:  # a scheduler that is gone has nothing left to cancel
        pass


def _close(client: Any, cluster: Any) -> None:
    try:
        client.close(timeout=5)
    except Exception:  # closing a client whose scheduler is gone: nothing left to tidy
        pass
    if cluster is not None:
        try:
            cluster.close(timeout=10)
        except Exception:
            pass


class _ThreadStdout(io.TextIOBase):
    """sys.stdout that writes to the current thread's buffer while one is set: a worker may
    run several tasks in threads, and each task's printed report must stay its own."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.local = threading.local()

    def _target(self) -> Any:
        return getattr(self.local, "buffer", None) or self.real

    def write(self, s: str) -> int:
        return self._target().write(s)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return False if getattr(self.local, "buffer", None) else self.real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")


_install_lock = threading.Lock()


def capture_stdout(fn: Callable[..., Any], *args: Any) -> tuple[Any, str]:
    """``fn(*args)`` and what it printed, for a task whose report is text: the report
    travels back with the result and is printed by the caller, in task order."""
    with _install_lock:
        if not isinstance(sys.stdout, _ThreadStdout):
            sys.stdout = _ThreadStdout(sys.stdout)
        proxy = sys.stdout
    buf = io.StringIO()
    proxy.local.buffer = buf
    try:
        return fn(*args), buf.getvalue()
    finally:
        proxy.local.buffer = None
