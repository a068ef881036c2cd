"""The linearizability search: Wing & Gong's backtracking with Lowe's memoisation.

A history is linearizable when every operation that completed ``ok`` can be given a
point inside its interval, and some crashed (``info``) operations too, so that the ops
in point order are a legal run of the sequential spec. The search builds that order one
op at a time. An op may go next only if it was invoked no later than the earliest
completion among ok ops not yet placed (intervals are closed: equal times are
concurrent). A configuration is which ops are placed plus the spec's state (interned to
a small int); a configuration seen before is never explored again, which turns the
exponential search into one bounded by the number of distinct configurations (see
``wgl`` for how the placed set is kept small). Crashed ops never have to be placed,
which is how "may have taken effect at any moment after invocation, or never" is
handled natively.
"""

from __future__ import annotations

import contextvars
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .basespec import as_spec, check_step_shape, step_shape_error, validate_ops
from .formats import jsonable
from .history import Op, no_gc
from .verdict import INVALID, UNKNOWN_VERDICT, VALID, Verdict, as_verdict, verdict_json

# Bytes one cached configuration costs (the set slot and the key tuple), plus a bit per
# crashed op in play: measured with tracemalloc (~155 bytes on a 30-process register
# history) and rounded up. Only an early estimate: what bounds memory is the process's
# measured resident size (see _Clock), which also counts the states themselves.
_BYTES_PER_CONFIG = 160

# The search stops gracefully (keeping how far it got) once the process's resident size
# passes SOFT of the budget, and is interrupted outright past HARD: between two samples
# a search making megabyte states can grow by tens of megabytes.
_SOFT, _HARD = 0.8, 0.9
_CEILING = 0.93  # RLIMIT_DATA's share: it counts private memory only, a little else is resident
_SAMPLE_EVERY = 0.02  # seconds between resident-size samples (and timer ticks)
_GRACE = 0.2  # seconds a search may run past its deadline before it is interrupted
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_statm_fd: tuple[int, int, tuple[int, int]] | None = None  # (pid, fd, (st_dev, st_ino)): kept open


def _statm() -> list[bytes]:
    """The fields of /proc/self/statm now (sizes in pages); OSError where there is none.

    Every check samples it, and each arming twice: opening the file each time was ~20 us,
    most of the cost of checking a tiny history (the explorer checks thousands). The file
    stays open and is read again from offset 0, which the kernel answers afresh. It is
    opened again in a forked worker (/proc/self named its parent when the parent opened
    it), and when the descriptor no longer is that file (someone closed it, and the number
    went to another file).
    """
    global _statm_fd
    pid = os.getpid()
    if _statm_fd is not None and _statm_fd[0] == pid:
        try:
            st = os.fstat(_statm_fd[1])
            if (st.st_dev, st.st_ino) == _statm_fd[2]:
                return os.pread(_statm_fd[1], 4096, 0).split()
        except OSError:
            pass
    fd = os.open("/proc/self/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    st = os.fstat(fd)
    _statm_fd = (pid, fd, (st.st_dev, st.st_ino))
    return os.pread(fd, 4096, 0).split()


def rss_bytes() -> int:
    """This process's resident set size now (Linux); elsewhere its peak so far."""
    try:
        return int(_statm()[1]) * _PAGE
    except (OSError, ValueError, IndexError, AttributeError):  # AttributeError: no os.pread
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _data_bytes() -> int | None:
    """Private writable memory mapped now: what RLIMIT_DATA counts (Linux only)."""
    try:
        return int(_statm()[5]) * _PAGE
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class BudgetExhausted(BaseException):
    """Raised into a search that overran its budget and did not stop by itself.

    A BaseException so that a spec's own ``except Exception`` cannot swallow it.
    """


@dataclass
class Budget:
    """Limits for one check. Past either, the verdict is unknown.

    ``max_memory_mb`` bounds the resident size of the whole process (history, search
    cache, states), measured, not estimated; ``started`` is the ``time.monotonic()``
    the timeout counts from (a caller that read the history counts the reading too).
    """

    timeout: float | None = None  # seconds
    max_memory_mb: float | None = 2048.0
    started: float | None = None

    def start(self, progress: Callable[[int, int], None] | None = None) -> _Clock:
        origin = time.monotonic() if self.started is None else self.started
        deadline = None if self.timeout is None else origin + self.timeout
        limit = None if self.max_memory_mb is None else int(self.max_memory_mb * 1e6)
        return _Clock(deadline, self, progress, limit=limit)


@dataclass
class _Clock:
    deadline: float | None
    budget: Budget
    # progress(done, total): completed operations placed so far, over all partitions
    hook: Callable[[int, int], None] | None = None
    done: int = 0  # completed operations in partitions already decided
    total: int = 0
    limit: int | None = None  # bytes of resident memory this process may reach
    why: str | None = None  # set once a budget ran out
    reached: int = 0  # furthest completed op placed in the current partition
    peak: int = 0  # largest resident size sampled, bytes
    # A worker shares the budget with others: it starts at ``base`` bytes (a copy of the
    # parent) and may grow by 1/``shares`` of what each threshold leaves above that.
    base: int = 0
    shares: int = 1
    _next_sample: float = 0.0
    _rss: int = 0  # the last sample
    _in_search: bool = False
    _armed: int = 0
    _grace: float = _GRACE

    def progress(self, done: int, total: int) -> None:
        # wgl reports here every so often; remembering it tells an interrupted search's
        # result how far it got.
        self.reached = max(self.reached, done - self.done)
        if self.hook is not None:
            self.hook(done, total)

    def expired(self) -> bool:
        """Has a budget run out? Cheap: the resident size is read at most every 20 ms."""
        if self.why is not None:
            return True
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            self.why = "time budget exhausted"
            return True
        if self.limit is not None and now >= self._next_sample:
            self._sample_memory()
        return self.why is not None

    def _sample_memory(self) -> int:
        rss = self._rss = rss_bytes()
        self._next_sample = time.monotonic() + _SAMPLE_EVERY
        self.peak = max(self.peak, rss)
        if self.limit is not None and rss > self.threshold(_SOFT) and self.why is None:
            self.why = "memory budget exhausted"
        return rss

    def threshold(self, fraction: float) -> float:
        """Bytes of resident size at which this process acts on ``fraction`` of the budget."""
        assert self.limit is not None
        return self.base + max(0.0, fraction * self.limit - self.base) / self.shares

    def max_configs(self, crashed: int) -> float:
        if self.limit is None:
            return math.inf
        # a sample up to 20 ms old will do: thousands of small partitions each ask
        fresh = time.monotonic() >= self._next_sample
        room = self.threshold(_SOFT) - (self._sample_memory() if fresh else self._rss)
        return max(0.0, room) / (_BYTES_PER_CONFIG + crashed // 8)

    def _tick(self, signum: int, frame: Any) -> None:
        # SIGALRM, every _SAMPLE_EVERY while armed: flag an overrun so the search stops
        # at its next check; interrupt it if it does not (a slow step, fast-growing states).
        if not self._in_search:
            return
        now = time.monotonic()
        rss = self._sample_memory() if self.limit is not None else 0
        late = self.deadline is not None and now > self.deadline + self._grace
        if self.deadline is not None and now > self.deadline and self.why is None:
            self.why = "time budget exhausted"
        if late or (self.limit is not None and rss > self.threshold(_HARD)):
            if self.why is None or (late and not self.why.startswith("time")):
                self.why = "time budget exhausted" if late else "memory budget exhausted"
            self._in_search = False  # one interruption per search
            raise BudgetExhausted(self.why)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Let the armed timer interrupt the block (BudgetExhausted) when a budget runs out:
        for work outside ``wgl``, which has no checks of its own, so no grace either."""
        was, grace = self._in_search, self._grace
        self._in_search, self._grace = True, 0.0
        try:
            yield
        finally:
            self._in_search, self._grace = was, grace

    @contextmanager
    def armed(self) -> Iterator[None]:
        """Enforce the budget on searches run inside: a timer samples time and memory
        between the search's own checks, and RLIMIT_DATA is a hard ceiling (an allocation
        past it raises MemoryError). The timer needs the main thread and a free SIGALRM,
        the ceiling a process with no other threads; without them the search's own
        checks remain."""
        if self._armed or (self.deadline is None and self.limit is None):
            self._armed += 1
            try:
                yield
            finally:
                self._armed -= 1
            return
        old_handler = old_limit = None
        timer = (
            hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
        )
        if timer:
            # A plain function, not the bound method: restoring the old handler hands this
            # one back through signal's enum conversion, which fails over to a ValueError
            # whose message is the handler's repr, and a bound method's repr is this whole
            # clock's (~10 us an arming, and the explorer arms thousands of tiny checks).
            tick = self._tick

            def on_alarm(signum: int, frame: Any) -> None:
                tick(signum, frame)

            old_handler = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, _SAMPLE_EVERY, _SAMPLE_EVERY)
        if self.limit is not None and threading.active_count() == 1:
            # process-wide: only when no other thread of the caller's could be starved
            old_limit = _cap_data(self.threshold(_CEILING))
        # Elsewhere (a Dask worker's thread) a watchdog thread ticks instead: the search's
        # own checks come every 1,024 configurations, gigabytes apart when states are large.
        watched = None if timer else _Watchdog.watch(self)
        self._armed += 1
        try:
            yield
        finally:
            self._armed -= 1
            self._in_search = False
            if watched is not None:
                _Watchdog.unwatch(watched)
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0, 0)
                signal.signal(signal.SIGALRM, old_handler)
            if old_limit is not None:
                _set_data_limit(old_limit)

    def search(self, ops: list[Op], spec: Any) -> PartResult:
        """``wgl`` on one partition under this budget: never raises for a budget overrun,
        and an unknown result says which budget ran out and how far the search got."""
        if self.why is not None and self.why.startswith("memory"):
            self.why = None  # the last partition's memory is freed; this one starts afresh
            self._next_sample = 0.0  # and is judged by a fresh sample
        self.expired()  # past the deadline already: no new search starts
        self.reached = 0
        res: PartResult | None = None
        overrun = self.why is not None
        if not overrun:
            with self.armed():
                try:
                    self._in_search = True
                    res = wgl(ops, spec, self)
                    self._in_search = False
                except (BudgetExhausted, MemoryError):
                    # Only flagged here: while the exception is handled its traceback
                    # keeps the search's memory alive.
                    overrun = True
            self._in_search = False
        if overrun and (res is None or res.valid == UNKNOWN_VERDICT):
            self.why = self.why or "memory budget exhausted"
            res = PartResult(UNKNOWN_VERDICT, ops, reason=self.why, reached=self.reached)
        assert res is not None
        if res.valid == UNKNOWN_VERDICT:
            # wgl names the budget by its own checks; the clock knows which ran out
            res.reason = self.why or res.reason or "budget exhausted"
            if res.reason.startswith("memory") and self.limit is not None:
                shared = f", shared by {self.shares} workers" if self.shares > 1 else ""
                res.reason += (
                    f" (resident size {max(self.peak, rss_bytes()) / 1e6:.0f} MB, "
                    f"budget {self.limit / 1e6:.0f} MB{shared})"
                )
        if self.why is not None and self.why.startswith("memory"):
            _release_memory()
        return res


class _Watchdog:
    """The timer signal's work for searches that run outside the main thread: one thread
    for the process ticks every armed clock each _SAMPLE_EVERY and, when a clock would
    interrupt its search, raises BudgetExhausted in the searching thread (at its next
    bytecode: a step inside C code finishes first). One thread, started once, so arming
    stays cheap for the thousands of tiny checks the explorer makes on a worker."""

    lock = threading.Lock()
    clocks: dict[int, list[_Clock]] = {}  # thread id -> its armed clocks, innermost last
    wake = threading.Event()
    thread: threading.Thread | None = None

    @classmethod
    def watch(cls, clock: _Clock) -> int | None:
        if _set_async_exc is None:
            return None
        ident = threading.get_ident()
        with cls.lock:
            cls.clocks.setdefault(ident, []).append(clock)
            if cls.thread is None or not cls.thread.is_alive():
                cls.thread = threading.Thread(target=cls._run, name="replicheck-budget", daemon=True)
                cls.thread.start()
            cls.wake.set()
        return ident

    @classmethod
    def unwatch(cls, ident: int) -> None:
        with cls.lock:  # the watchdog raises under the lock too: none is raised after this
            stack = cls.clocks.get(ident)
            if stack:
                stack.pop()
                if not stack:
                    del cls.clocks[ident]
            _raise_in(ident, None)  # withdraw one raised but not yet delivered

    @classmethod
    def _run(cls) -> None:
        while True:
            cls.wake.wait()
            time.sleep(_SAMPLE_EVERY)
            with cls.lock:
                if not cls.clocks:
                    cls.wake.clear()
                    continue
                for ident, stack in cls.clocks.items():
                    try:
                        stack[-1]._tick(0, None)
                    except BudgetExhausted:
                        _raise_in(ident, BudgetExhausted)

    @classmethod
    def after_fork(cls) -> None:
        cls.lock = threading.Lock()
        cls.clocks = {}
        cls.wake = threading.Event()
        cls.thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Watchdog.after_fork)


def _async_exc_setter() -> Any:
    try:
        import ctypes

        f = ctypes.pythonapi.PyThreadState_SetAsyncExc
        f.argtypes = (ctypes.c_ulong, ctypes.py_object)
        f.restype = ctypes.c_int
        return f
    except (ImportError, AttributeError):
        return None


_set_async_exc = _async_exc_setter()


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    import ctypes

    assert _set_async_exc is not None
    _set_async_exc(thread_id, ctypes.py_object(exc) if exc is not None else ctypes.py_object())


@contextmanager
def enforced(budget: Budget) -> Iterator[_Clock]:
    """Run a block that is not a search (reading a history) under ``budget``: past it,
    BudgetExhausted (the timer) or MemoryError (the RLIMIT_DATA ceiling) escapes."""
    clock = budget.start()
    with clock.armed(), clock.interruptible():
        yield clock


def _cap_data(limit: float) -> Any:
    """Lower RLIMIT_DATA so that private memory can grow by no more than the resident
    size may; returns the old limit to restore, or None when it cannot be set."""
    try:
        import resource
    except ImportError:
        return None
    data = _data_bytes()
    if data is None or not hasattr(resource, "RLIMIT_DATA"):
        return None
    old = resource.getrlimit(resource.RLIMIT_DATA)
    cap = max(data + int(limit) - rss_bytes(), data)
    if old[0] != resource.RLIM_INFINITY and old[0] <= cap:
        return None
    if old[1] != resource.RLIM_INFINITY:
        cap = min(cap, old[1])
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, old[1]))
    except (ValueError, OSError):
        return None
    return old


def _set_data_limit(old: Any) -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_DATA, old)
    except (ValueError, OSError):
        pass


def _release_memory() -> None:
    # glibc keeps freed large blocks in the heap; handing them back keeps the next
    # partition from starting over the budget.
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class Attempt:
    """A configuration at the furthest point the search reached, and what was tried there."""

    linearized: list[int]  # op ids, in linearization order where known
    state: Any
    tried: list[tuple[int, str]]  # (op id, why it could not go next)


@dataclass
class PartResult:
    valid: Verdict
    ops: list[Op]
    linearization: list[int] | None = None
    op: Op | None = None  # the op that could not be linearized
    previous_ok: Op | None = None
    attempts: list[Attempt] = field(default_factory=list)
    configs: int = 0
    reason: str | None = None  # why unknown
    reached: int = 0  # how many ok ops (by completion) the search got past

    def __post_init__(self) -> None:
        self.valid = as_verdict(self.valid, self.reason)


def wgl(ops: list[Op], spec: Any, clock: _Clock | None = None) -> PartResult:
    """Search for a linearization of ``ops`` (already partitioned and pruned).

    Completed ops are numbered by completion (their rank); ``j``, the frontier, is the
    first rank not yet placed, so every rank below ``j`` is placed. A configuration is
    then (``j``, state, which ranks at or past ``j`` are placed — a mask relative to
    ``j``, as wide as the concurrency — and which crashed ops are placed, as a count per
    kind of crashed op still in play). Keys and steps stay small however long the
    history: the cost of a step does not grow with its length.
    """
    # The search allocates a frame and a key per step and makes no cycles: the cyclic
    # collector would only rescan the history's million objects again and again.
    with no_gc():
        return _wgl(ops, as_spec(spec), clock)


def _wgl(ops: list[Op], spec: Any, clock: _Clock | None) -> PartResult:
    clock = clock or Budget(timeout=None, max_memory_mb=None).start()
    ok_ops = sorted((o for o in ops if o.ok), key=lambda o: (o.ret, o.call, o.id))
    crashed = sorted((o for o in ops if o.crashed), key=lambda o: (o.call, o.id))  # failed: did nothing
    m, c = len(ok_ops), len(crashed)
    if m == 0:
        return PartResult(VALID, ops, linearization=[])
    # unified numbering for transitions and paths: ranks 0..m-1, then crashed m..m+c-1
    every = ok_ops + crashed
    by_call = sorted(range(m), key=lambda r: (ok_ops[r].call, r))
    read_only = spec.read_only
    is_ro = [bool(read_only and read_only(o)) for o in ok_ops]
    kinds = _crash_kinds(spec, crashed)
    members: list[list[int]] = [[] for _ in range(max(kinds, default=-1) + 1)]
    for x, k in enumerate(kinds):
        members[k].append(x)
    # A kind dies with the last of its ops: until then one of them may matter.
    death = _dead_crashed(spec, ops, ok_ops, crashed)
    kind_death = [max(death[x] for x in xs) for xs in members]
    member_calls = [[crashed[x].call for x in xs] for xs in members]
    blind = spec.blind
    ok_blind = [bool(blind and blind(o)) for o in ok_ops]
    blind_kind = [blind is not None and all(blind(crashed[x]) for x in xs) for xs in members]

    # deaths[j]: how many kinds are dead at frontier j; where it does not change, no
    # sweep of the crashed ops in play or placed is needed
    deaths = [0] * (m + 1)
    for d in kind_death:
        if d <= m:
            deaths[d] += 1
    for j in range(1, m + 1):
        deaths[j] += deaths[j - 1]

    # For each frontier j: which ranks >= j may go next (invoked by the time rank j
    # returned), as a mask relative to j; reads among them; the kinds of crashed op in
    # play (one invoked by then, not yet dead), a tuple shared while it does not change.
    ok_cands: list[int] = []
    ro_cands: list[int] = []
    in_play: list[tuple[int, ...]] = []
    deadlines = [o.ret for o in ok_ops]
    active: set[int] = set()
    first = sorted(range(len(members)), key=lambda k: members[k][0])
    playing: tuple[int, ...] = ()
    k = kf = 0
    for j in range(m):
        deadline = deadlines[j]
        while k < m and ok_ops[by_call[k]].call <= deadline:
            active.add(by_call[k])
            k += 1
        active.discard(j - 1)
        ok_cands.append(sum(1 << (r - j) for r in active))
        ro_cands.append(sum(1 << (r - j) for r in active if is_ro[r]))
        k0 = kf
        while kf < len(first) and member_calls[first[kf]][0] <= deadline:
            kf += 1
        if kf > k0 or deaths[j] != (deaths[j - 1] if j else 0):
            playing = tuple(q for q in playing + tuple(first[k0:kf]) if kind_death[q] > j)
        in_play.append(playing)

    init = spec.init()
    state_ids: dict[Any, int] = {init: 0}
    states: list[Any] = [init]
    # ops of one kind have the same effect on every state: they share their transitions
    kind_trans: list[dict[int, int]] = [{} for _ in members]
    trans: list[dict[int, int]] = [{} for _ in ok_ops] + [kind_trans[q] for q in kinds]
    step = spec.step
    seen: set[tuple[int, int, int, tuple]] = set()
    max_configs = clock.max_configs(c)

    def advance(sid: int, u: int) -> int:
        nsid = trans[u].get(sid)
        if nsid is None:
            ok, new = step(states[sid], every[u])
            if ok:
                nsid = state_ids.get(new)
                if nsid is None:
                    nsid = state_ids[new] = len(states)
                    states.append(new)
            else:
                nsid = -1
            trans[u][sid] = nsid
        return nsid

    def crash_options(j: int, placed: tuple) -> tuple[list[int], list[int]]:
        # The earliest unplaced op of each kind in play, if invoked by now: ops of one
        # kind have the same effect, so placing it stands for placing any of them. Blind
        # ones apart: they go only right before an op that sees what they leave.
        if not in_play[j]:
            return [], []
        counts = dict(zip(placed[::2], placed[1::2])) if placed else {}
        deadline = deadlines[j]
        alone: list[int] = []
        before: list[int] = []
        for q in in_play[j]:
            n = counts.get(q, 0)
            calls = member_calls[q]
            if n < len(calls) and calls[n] <= deadline:
                (before if blind_kind[q] else alone).append(members[q][n])
        alone.sort(reverse=True)  # popped from the end: earliest call first
        return alone, before

    def fused_options(j: int, okx: int, sid: int, alone: list[int], before: list[int]) -> list:
        # A crashed blind op (a write) placed anywhere in a linearization can be moved
        # later, up to the next op, as it has no completion: if that op is blind too it
        # overwrites it and the write can go, else the write sits right before an op
        # that sees its value. So the search places it only as a pair with that op.
        out: list[tuple[int, int, int]] = []
        if not before:
            return out
        seers = [j + x for x in _bits(ok_cands[j] & ~okx) if not ok_blind[j + x]] + [m + x for x in alone]
        for w in before:
            t = advance(sid, m + w)
            if t < 0 or t == sid:
                continue
            for u in seers:
                nsid = trans[u].get(t)
                if nsid is None:
                    nsid = advance(t, u)
                if nsid >= 0 and (u < m or nsid != t):
                    out.append((w, u, nsid))
        out.reverse()
        return out

    def frame(j: int, okx: int, cr: tuple, sid: int, node: Any) -> list:
        # A read that fits now may be placed now and nothing else tried here: moving a
        # state-preserving op earlier in any successful order keeps it successful.
        r = ro_cands[j] & ~okx
        while r:
            b = r & -r
            r ^= b
            if advance(sid, j + b.bit_length() - 1) >= 0:
                return [j, okx, cr, sid, b, [], node, []]
        # Completed ops are tried before crashed ones (found only when needed): crashed
        # ops never have to be placed, so trying them first only delays a witness. The
        # reads have just failed in this state: not again.
        return [j, okx, cr, sid, ok_cands[j] & ~okx & ~ro_cands[j], None, node, None]

    stack = [frame(0, 0, (), 0, None)]
    best_j = 0
    best_node: Any = None  # the path as linked (op, previous) pairs: saving it is O(1)
    samples: list[tuple[int, int, int, tuple]] = [(0, 0, 0, ())]
    iterations = 0
    while stack:
        fr = stack[-1]
        j, okx, cr, sid, okc, crc, node, fused = fr
        if okc:
            b = okc & -okc
            fr[4] = okc ^ b
            u = j + b.bit_length() - 1
            nsid = trans[u].get(sid)
            if nsid is None:
                nsid = advance(sid, u)
            if nsid < 0:
                continue
        else:
            if crc is None:
                crc, before = crash_options(j, cr)
                fr[5] = crc
                fr[7] = fused = fused_options(j, okx, sid, crc, before)
            if crc:
                x = crc.pop()
                u = m + x
                nsid = advance(sid, u)
                if nsid < 0 or nsid == sid:
                    # a crashed op that changes nothing here is no better placed than left out
                    continue
                cr = _placed(cr, kinds[x])
            elif fused:
                w, u, nsid = fused.pop()
                node = (m + w, node)
                cr = _placed(cr, kinds[w])
                if u >= m:
                    cr = _placed(cr, kinds[u - m])
                else:
                    b = 1 << (u - j)
            else:
                stack.pop()
                continue
        if u < m:
            okx |= b
            if okx & 1:
                j0 = j
                while okx & 1:
                    okx >>= 1
                    j += 1
                if j == m:
                    return PartResult(
                        VALID,
                        ops,
                        linearization=[every[x].id for x in _path((u, node))],
                        configs=len(seen),
                        reached=m,
                    )
                if cr and deaths[j] != deaths[j0]:  # forget crashed ops that can no longer matter
                    cr = _forget(cr, kind_death, j)
        key = (j, nsid, okx, cr)
        if key in seen:
            continue
        seen.add(key)
        node = (u, node)
        if j >= best_j:
            if j > best_j:
                best_j = j
                best_node = node
                samples = []
            if len(samples) < 8:
                samples.append(key)
        stack.append(frame(j, okx, cr, nsid, node))
        iterations += 1
        if not iterations & 1023:
            if clock.progress is not None:
                clock.progress(clock.done + best_j, clock.total)
            if clock.expired() or len(seen) > max_configs:
                why = "time budget exhausted" if clock.expired() else "memory budget exhausted"
                return PartResult(
                    UNKNOWN_VERDICT,
                    ops,
                    configs=len(seen),
                    reason=why,
                    reached=best_j,
                    previous_ok=ok_ops[best_j - 1] if best_j else None,
                    linearization=[every[x].id for x in _path(best_node)],
                )
    return _explain(
        ops,
        spec,
        every,
        m,
        states,
        ok_cands,
        deadlines,
        members,
        best_j,
        _path(best_node),
        samples,
        len(seen),
    )


def _path(node: Any) -> list[int]:
    out = []
    while node is not None:
        u, node = node
        out.append(u)
    out.reverse()
    return out


def _placed(cr: tuple, q: int) -> tuple:
    """``cr`` (kind, count, kind, count, ...) with one more op of kind ``q`` placed."""
    for i in range(0, len(cr), 2):
        if cr[i] == q:
            return cr[: i + 1] + (cr[i + 1] + 1,) + cr[i + 2 :]
        if cr[i] > q:
            return cr[:i] + (q, 1) + cr[i:]
    return cr + (q, 1)


def _forget(cr: tuple, kind_death: list[int], j: int) -> tuple:
    out: tuple = ()
    for i in range(0, len(cr), 2):
        if kind_death[cr[i]] > j:
            out += cr[i : i + 2]
    return out


def _crash_kinds(spec: Any, crashed: list[Op]) -> list[int]:
    """A kind number for each crashed op: equal when ``spec.effect_key`` says the ops
    have the same effect on every state, so the search need try only one of them."""
    effect_key = spec.effect_key
    if effect_key is None:
        return list(range(len(crashed)))
    numbers: dict[Any, int] = {}
    return [numbers.setdefault(effect_key(o), len(numbers)) for o in crashed]


def _dead_crashed(spec: Any, ops: list[Op], ok_ops: list[Op], crashed: list[Op]) -> list[int]:
    """For each crashed op, the frontier from which it is no longer worth placing
    (past the last rank when never).

    A crashed op whose effect only the ops in ``spec.observers`` can see is useless once
    all of them are placed: the state it leaves would be overwritten before anyone looks
    (the same reason ``prune`` drops one that nobody observes at all). Forgetting such
    ops keeps the set of crashed ops in play small on long histories.
    """
    m = len(ok_ops)
    never = [m + 1] * len(crashed)
    observers = spec.observers
    if observers is None or not crashed:
        return never
    seen_by = observers(ops)
    rank = {op.id: r for r, op in enumerate(ok_ops)}
    for x, op in enumerate(crashed):
        watchers = seen_by.get(op.id)
        if watchers is None or not all(w.ok for w in watchers):
            continue  # unknown, or a crashed op may observe it at any time: never dead
        never[x] = max((rank[w.id] for w in watchers), default=-1) + 1
    return never


def _explain(
    ops, spec, every, m, states, ok_cands, deadlines, members, best_j, best_path, samples, configs
) -> PartResult:
    """Turn the furthest point of a failed search into evidence a person can read."""
    explain = spec.explain
    attempts = []
    for n, (j, sid, okx, cr) in enumerate(samples):
        state = states[sid]
        tried = []
        placed = sorted(x for q, cnt in zip(cr[::2], cr[1::2]) for x in members[q][:cnt])
        unplaced = set(range(len(every) - m)).difference(placed)
        cands = [j + x for x in _bits(ok_cands[j] & ~okx)]
        cands += [m + x for x in sorted(unplaced) if every[m + x].call <= deadlines[j]]
        for u in cands:
            op = every[u]
            ok, _ = spec.step(state, op)
            why = "fits here, but every way on from there fails" if ok else explain(state, op)
            tried.append((op.id, why))
        if n == 0 and best_path:
            lin = [every[x].id for x in best_path]
        else:  # the set is known, not the order: list it by completion
            placed_ids = list(range(j)) + [j + x for x in _bits(okx)] + [m + x for x in placed]
            lin = [every[x].id for x in placed_ids]
        attempts.append(Attempt(linearized=lin, state=state, tried=tried))
    previous = next((every[x] for x in reversed(best_path) if every[x].ok), None)
    return PartResult(
        INVALID,
        ops,
        op=every[best_j],
        previous_ok=previous,
        attempts=attempts,
        configs=configs,
        reached=best_j,
        linearization=[every[x].id for x in best_path],
    )


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        b = mask & -mask
        out.append(b.bit_length() - 1)
        mask ^= b
    return out


@dataclass
class Result:
    """The verdict on a whole history, as plain data (``to_dict()`` is JSON-ready).
    ``valid`` is True, False or UNKNOWN_VERDICT, whose use as a bool raises (see verdict.py)."""

    valid: Verdict
    spec: str
    ops: int  # client operations in the history
    searched: int  # operations left after pruning, over all partitions
    partitions: int
    configs: int  # configurations explored
    elapsed: float  # seconds of search, parsing excluded
    history: Any = field(default=None, repr=False)
    part: PartResult | None = None  # the deciding partition (invalid / unknown)
    key: Any = None  # its key, when split by key
    witness: list[list[int]] | None = None  # one linearization per partition
    reason: str | None = None
    decided: int = 0  # partitions decided valid before stopping
    note: str | None = None  # e.g. that there was nothing to check

    def __post_init__(self) -> None:
        self.valid = as_verdict(self.valid, self.reason)

    @property
    def op(self) -> Op | None:
        return self.part.op if self.part else None

    @property
    def previous_ok(self) -> Op | None:
        return self.part.previous_ok if self.part else None

    def to_dict(self) -> dict:
        d: dict = {
            "valid": verdict_json(self.valid),
            "spec": self.spec,
            "ops": self.ops,
            "searched": self.searched,
            "partitions": self.partitions,
            "configs": self.configs,
            "elapsed": round(self.elapsed, 6),
        }
        if self.note:
            d["note"] = self.note
        if self.valid is True:
            d["linearization"] = self.witness
        if self.part is not None:
            if self.key is not None:
                d["key"] = self.key
            if self.valid is False and self.part.op is not None:
                d["op"] = self.part.op.to_dict()
                d["previous_ok"] = self.part.previous_ok.to_dict() if self.part.previous_ok else None
                d["attempts"] = [
                    {
                        "linearized": a.linearized,
                        "state": a.state,
                        "tried": [{"op": op_id, "why": why} for op_id, why in a.tried],
                    }
                    for a in self.part.attempts
                ]
            else:
                d["reason"] = self.reason
                d["decided_partitions"] = self.decided
                d["longest_prefix"] = self.part.linearization
                d["previous_ok"] = self.part.previous_ok.to_dict() if self.part.previous_ok else None
        return jsonable(d)


def searchable_parts(ops: list[Op], spec: Any) -> list[list[Op]]:
    """``ops`` split by the spec (keys), without failed ops, pruned by the spec."""
    spec = as_spec(spec)
    parts = [list(p) for p in spec.partition(ops)]
    # A failed op certainly did nothing: it goes here, for every spec, before the spec's
    # own pruning (the search would otherwise take it for one that may have happened).
    parts = [[op for op in p if op.status != "fail"] for p in parts]
    return [spec.prune(p) for p in parts]


def check_ops(
    ops: list[Op],
    spec: Any,
    budget: Budget | None = None,
    history: Any = None,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = None,
) -> Result:
    """Check operations against a spec object: validate, split, prune, search.

    ``progress(done, total)`` is called now and then during long searches with the
    number of completed operations placed so far, over all partitions. ``jobs``: worker
    processes (None: one per core, used only when the partitions are large enough, in
    all, to repay starting processes). Partitions are decided smallest first and the
    first invalid one (in that order, whatever ``jobs``) decides the verdict; the rest
    are not searched.
    """
    budget = budget or Budget()
    spec = as_spec(spec)
    started = time.perf_counter()
    clock = budget.start(progress)
    # Validating, splitting and pruning are linear to quadratic in the history (a
    # crashed write's observers are a substring search per get): on a large history they
    # take seconds, so they run under the budget too.
    try:
        with clock.armed(), clock.interruptible():
            if budget.timeout is not None and clock.expired():  # reading took it all
                raise BudgetExhausted(clock.why)
            validate_ops(ops, spec, getattr(history, "path", None))
            check_step_shape(spec, ops)
            parts: list[list[Op] | None] = list(searchable_parts(ops, spec))
    except (BudgetExhausted, MemoryError) as e:
        why = clock.why if isinstance(e, BudgetExhausted) and clock.why else "memory budget exhausted"
        why += " before searching"
        return Result(
            valid=UNKNOWN_VERDICT,
            spec=getattr(spec, "name", type(spec).__name__),
            ops=len(ops),
            searched=0,
            partitions=0,
            configs=0,
            elapsed=time.perf_counter() - started,
            history=history,
            part=PartResult(UNKNOWN_VERDICT, [], reason=why),
            reason=why,
        )
    n_parts = len(parts)
    searched = sum(len(p) for p in parts if p)
    # Small parts first: an invalid verdict found early saves the big searches.
    order = sorted(range(n_parts), key=lambda k: len(parts[k] or ()))
    position = {k: i for i, k in enumerate(order)}
    got = [False] * n_parts  # by position: result received
    lowest = 0  # every position below has its result
    clock.total = sum(op.ok for p in parts if p for op in p)
    witness: list[list[int]] = [[] for _ in parts]
    configs = 0
    first_bad: dict[Verdict, tuple[int, int, PartResult, list[Op]]] = {}  # verdict -> earliest
    decided = 0

    def result(valid: Verdict, found: tuple | None = None, **kw: Any) -> Result:
        res, part = (found[2], found[3]) if found else (None, None)
        return Result(
            valid=valid,
            spec=spec.name,
            ops=len(ops),
            searched=searched,
            partitions=n_parts,
            configs=configs,
            elapsed=time.perf_counter() - started,
            history=history,
            part=res,
            key=part[0].key if part else None,
            **kw,
        )

    hook = PARTITION_SEARCH.get()
    search = (hook and hook(parts, order, spec, clock)) or _search(parts, order, spec, clock, jobs)
    try:
        for k, res in search:
            part = parts[k] or []
            # Only an undecided or invalid partition is needed again (for the report):
            # a decided one's operations and search state go now.
            parts[k] = None
            configs += res.configs
            clock.done += sum(op.ok for op in part)
            if progress is not None:
                progress(clock.done, clock.total)
            got[position[k]] = True
            while lowest < n_parts and got[lowest]:
                lowest += 1
            if res.valid is True:
                witness[k] = res.linearization or []
                decided += 1
            else:
                res.ops = part
                verdict = res.valid
                if verdict not in first_bad or position[k] < first_bad[verdict][0]:
                    first_bad[verdict] = (position[k], k, res, part)
            bad = first_bad.get(False)
            if bad is not None and lowest >= bad[0]:
                return result(False, bad, decided=decided)
            if UNKNOWN_VERDICT in first_bad and clock.why is not None and clock.why.startswith("time"):
                break
    except (TypeError, ValueError) as e:
        # a step that answers a bare bool on some path only: say what to write instead
        shape = step_shape_error(spec, e)
        if shape is None:
            raise
        raise shape from e
    finally:
        search.close()
    if False in first_bad:  # time ran out while earlier partitions were still undecided
        return result(False, first_bad[False], decided=decided)
    if UNKNOWN_VERDICT in first_bad:
        found = first_bad[UNKNOWN_VERDICT]
        reason = found[2].reason or "budget exhausted"
        return result(UNKNOWN_VERDICT, found, reason=reason, decided=decided)
    note = "the history has no client operations: nothing to contradict" if not ops else None
    return result(True, witness=witness, decided=decided, note=note)


# Set by a caller that runs the partitions elsewhere (the CLI, on a Dask cluster):
# hook(parts, order, spec, clock) gives each partition's (index, result), as _search does,
# or None to search here. The merge above stays the one merge for every way of searching.
PARTITION_SEARCH: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "partition_search", default=None
)


def partition_groups(parts: list, order: list[int]) -> list[list[int]]:
    """The partitions' indices cut into tasks of PARALLEL_MIN_OPS operations or more, in
    search order (smallest first)."""
    return _groups(parts, order)


def judge_parts(
    parts: list[list[Op]],
    spec: Any,
    timeout: float | None,
    max_memory_mb: float | None = None,
    *,
    base: int = 0,
    shares: int = 1,
) -> list[PartResult]:
    """Each partition judged in turn, within ``timeout`` seconds for them all: a task for
    a worker elsewhere. ``max_memory_mb`` bounds this process's resident size as check's
    budget bounds its own process; a process running ``shares`` such tasks at once (a
    Dask worker with several threads) starts at ``base`` bytes and gives each task its
    share of what the budget leaves above that, as check's forked workers do. Results
    come back without their operations, which the caller has."""
    deadline = None if timeout is None else time.monotonic() + timeout
    limit = None if max_memory_mb is None else int(max_memory_mb * 1e6)
    clock = _Clock(deadline, Budget(timeout, max_memory_mb), limit=limit, base=base, shares=max(1, shares))
    out = []
    with clock.armed():
        for ops in parts:
            try:
                res = clock.search(ops, spec)
            except BudgetExhausted:  # a watchdog's interruption that landed as the search ended
                res = PartResult(UNKNOWN_VERDICT, [], reason=clock.why or "memory budget exhausted")
            res.ops = []
            out.append(res)
    return out


PARALLEL_MIN_OPS = 2000  # operations a worker's task should hold to repay handing it over
_SEARCH_HERE_FIRST = 0.5  # seconds of searching here before workers are started (jobs=None)

_FORKED: tuple = ()  # (parts, spec, deadline, budget, base, shares), inherited by forked workers


def _groups(parts: list, order: list[int]) -> list[list[int]]:
    """Consecutive runs of ``order`` of at least PARALLEL_MIN_OPS operations each, so
    that thousands of small keys become a few hundred tasks, not thousands."""
    groups: list[list[int]] = []
    size = 0
    for k in order:
        if not groups or size >= PARALLEL_MIN_OPS:
            groups.append([])
            size = 0
        groups[-1].append(k)
        size += len(parts[k])
    return groups


def _search(parts, order, spec, clock, jobs) -> Generator[tuple[int, PartResult], None, None]:
    """Each partition's result as it comes: searched here, or in forked workers when
    there are partitions enough for two or more tasks (by default, only once searching
    here has taken long enough that workers would pay for their start).

    Workers inherit the partitions by fork, so nothing is pickled on the way in and
    only the small results come back, a task's at a time. Closing the iteration (an
    invalid partition was found) terminates the workers.
    """
    global _FORKED
    auto = jobs is None
    # Workers only for two tasks or more: most histories are one, and asking for the
    # cores first read a file under /sys for every check (the explorer checks thousands).
    many = len(_groups(parts, order)) > 1
    jobs = ((os.cpu_count() or 1) if auto else jobs) if many else 1
    if jobs > 1:
        import multiprocessing  # only now: importing it costs a small check a few ms

        if "fork" not in multiprocessing.get_all_start_methods():
            jobs = 1
    else:
        jobs = 1
    if auto and jobs > 1:
        # Most histories are decided in well under a second: those stay in this process.
        order = yield from _search_here(parts, order, spec, clock, time.monotonic() + _SEARCH_HERE_FIRST)
    if jobs == 1 or len(_groups(parts, order)) < 2:
        yield from _search_here(parts, order, spec, clock)
        return
    groups = _groups(parts, order)
    workers = min(jobs, len(groups))
    # Each worker starts as a copy of this process (shared until written) and may grow
    # by its share of what the budget leaves.
    base = clock._sample_memory() if clock.limit is not None else 0
    _FORKED = (parts, spec, clock.deadline, clock.limit, base, workers)
    retry = set()
    # concurrent.futures, not multiprocessing.Pool: Pool.terminate(), on the way out when
    # an invalid key decides early, can deadlock on a queue lock held by a worker it has
    # just killed (seen in tests, for minutes); the executor is built to survive that.
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    pending: set = set()
    try:
        pending = {pool.submit(_search_forked, g) for g in groups}  # every worker forks here
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                for k, res in fut.result():
                    if clock.why is None and (res.reason or "").startswith("time"):
                        clock.why = res.reason  # the workers share the deadline: stop waiting
                    if res.valid == UNKNOWN_VERDICT and (res.reason or "").startswith("memory"):
                        retry.add(k)  # held back: see below
                        continue
                    yield k, res
    finally:
        _FORKED = ()
        _stop_pool(pool, early=bool(pending))
    # A worker had a share of the memory; with the workers gone, this process has all of
    # it: the partitions that ran out of their share get one more try here.
    yield from _search_here(parts, [k for k in order if k in retry], spec, clock)


def _stop_pool(pool: Any, early: bool) -> None:
    """Shut the workers down; stopped early (the verdict is decided, or the caller went
    away), kill them rather than wait for searches nobody needs."""
    if not early:
        pool.shutdown(wait=True)
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.exitcode is None:
            p.kill()
    pool.shutdown(wait=True)


def _search_here(
    parts, order, spec, clock, until: float | None = None
) -> Generator[tuple[int, PartResult], None, list[int]]:
    """Search partitions in this process (until ``until``, if given); returns the rest."""
    with clock.armed():
        for n, k in enumerate(order):
            if until is not None and time.monotonic() >= until:
                return order[n:]
            yield k, clock.search(parts[k], spec)
            if clock.why is not None and clock.why.startswith("time"):
                for rest in order[n + 1 :]:
                    yield rest, PartResult(UNKNOWN_VERDICT, [], reason=clock.why)
                return []
    return []


def _search_forked(group: list[int]) -> list[tuple[int, PartResult]]:
    parts, spec, deadline, limit, base, shares = _FORKED
    clock = _Clock(deadline, Budget(), limit=limit, base=base, shares=shares)
    out = []
    with clock.armed():
        for k in group:
            res = clock.search(parts[k], spec)
            res.ops = []  # the parent has them; the rest of the result refers to them by value
            out.append((k, res))
    return out
