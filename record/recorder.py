"""Record a history from a real system: wrap each client call, get Jepsen-shaped events.

    from replicheck.record import Recorder

    with Recorder("history.jsonl", meta={"spec": "register"}) as rec:
        s = rec.session("alice")
        with s.op("write", 3, key="x", node="primary"):
            db.write("x", 3)
        with s.op("read", key="x", node="replica", read_only=True) as op:
            op.ok(db.read("x"))

Every event is one ``os.write`` of one line, made while holding a lock and stamped with
the monotonic clock under that same lock, so file order is time order, threads and
asyncio tasks can share one recorder, and a writer killed at any moment leaves every
earlier event on disk. Pass ``durable=True`` to also fsync each line (a machine crash
then loses at most the line being written).

Outcomes follow Jepsen. ``ok``: the call took effect. ``fail``: it certainly did not.
``info``: nobody knows (a timeout, a lost connection), so the checker lets it take effect
at any later point or never; the session then continues under a new process id, because
a Jepsen process with an indeterminate operation never invokes again. The session name
(the ``session`` field) survives that, which is what session guarantees are judged on.
An operation still open when the recorder closes is left as a bare invocation: checkers
treat it as indeterminate too, which is exactly what it is.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from replicheck.checker.formats import META_KEY, jsonable

_SAME = object()  # ok() without a value: the completion repeats the invocation's value


class Recorder:
    """Appends events to a JSON Lines history file (replacing it), one line per event.

    ``meta`` becomes the first line (``{"replicheck": meta}``), telling ``replicheck
    check`` how to judge the file: ``{"spec": "list-append"}`` and the like.
    ``clock`` returns nanoseconds and must never go backwards. ``scrub`` rewrites each
    error text before it is written (``record`` masks passwords with it).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        meta: dict | None = None,
        durable: bool = False,
        clock: Callable[[], int] = time.monotonic_ns,
        scrub: Callable[[str], str] | None = None,
    ):
        self.path = os.fspath(path)
        self._scrub = scrub  # applied to every error text (to keep passwords out of the file)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._durable = durable
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._processes = 0
        self._sessions: dict[str, Session] = {}
        self._open: set[Operation] = set()
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        if meta is not None:
            self._write(json.dumps({META_KEY: jsonable(meta)}) + "\n")

    # -- public

    def session(self, name: str | None = None) -> Session:
        """A new client session. Its operations run one at a time, like a Jepsen client."""
        with self._lock:
            if name is None:
                name = f"s{len(self._sessions)}"
            if name in self._sessions:
                raise ValueError(f"session {name!r} already exists in this recorder")
            s = self._sessions[name] = Session(self, name, self._next_process())
            return s

    def fault(self, f: str, value: Any = None) -> None:
        """Record a fault you injected (a partition, a kill) as a Jepsen nemesis event."""
        self._event({"process": "nemesis", "type": "info", "f": f, "value": value})

    @property
    def pending(self) -> int:
        """Operations invoked and not (yet) completed."""
        return len(self._open)

    def close(self) -> dict:
        """Close the file; returns the event counts and how many operations stayed open."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            return {**self.counts, "pending": len(self._open)}

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internal

    def _next_process(self) -> int:
        p = self._processes
        self._processes += 1
        return p

    def _write(self, line: str) -> None:
        if self._fd is None:
            raise RuntimeError(f"recorder for {self.path} is closed")
        data = line.encode()
        while data:  # a regular file takes it whole; loop only for the odd short write
            data = data[os.write(self._fd, data) :]
        if self._durable:
            os.fsync(self._fd)

    def _event(self, event: dict, op: Operation | None = None, new_process: Session | None = None) -> None:
        with self._lock:
            event["time"] = self._clock() - self._start
            self._write(json.dumps(jsonable(event)) + "\n")
            if event["process"] != "nemesis":
                self.counts[event["type"]] += 1
            if op is not None:
                (self._open.add if event["type"] == "invoke" else self._open.discard)(op)
            if new_process is not None:
                new_process.process = self._next_process()


class Session:
    """One client's sequence of operations (made by :meth:`Recorder.session`)."""

    def __init__(self, recorder: Recorder, name: str, process: int):
        self.recorder = recorder
        self.name = name
        self.process = process  # changes after an indeterminate (info) outcome
        self._current: Operation | None = None

    def op(
        self,
        f: str,
        value: Any = None,
        *,
        key: Any = None,
        node: str | None = None,
        read_only: bool = False,
    ) -> Operation:
        """Record the invocation now; use the result as a context manager (``with`` or
        ``async with``) around the call. Leaving the block normally records ``ok`` unless
        you called ``ok(value)``, ``fail()`` or ``info()`` (a ``read_only`` op must call
        ``ok(value)``). An exception records ``info`` with the error, or ``fail`` when
        ``read_only`` says the call cannot change anything, and goes on propagating.
        ``node``: the node serving the call.
        """
        if self._current is not None:
            raise RuntimeError(
                f"session {self.name!r} already has {self._current.f!r} in flight; a session "
                "runs one operation at a time (open another session for concurrent calls)"
            )
        op = Operation(self, f, value, key, node, read_only)
        op._emit("invoke", value)
        self._current = op
        return op

    def call(
        self,
        f: str,
        fn: Callable[..., Any],
        *args: Any,
        value: Any = None,
        key: Any = None,
        node: str | None = None,
        read_only: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` as one operation. A ``read_only`` call records what
        it returned as the value read; any other records the invocation's ``value``."""
        with self.op(f, value, key=key, node=node, read_only=read_only) as op:
            result = fn(*args, **kwargs)
            op.ok(result if read_only else _SAME)
        return result


class Operation:
    """One invoked operation; complete it with :meth:`ok`, :meth:`fail` or :meth:`info`."""

    def __init__(self, session: Session, f: str, value: Any, key: Any, node: str | None, read_only: bool):
        self.session = session
        self.f = f
        self.value = value
        self.key = key
        self.node = node  # may be set later, when the serving node is only known then
        self.read_only = read_only
        self.process = session.process
        self.outcome: str | None = None

    def ok(self, value: Any = _SAME) -> None:
        """It took effect; ``value`` is what it returned (a read's value), if not the
        invocation's value."""
        self._complete("ok", self.value if value is _SAME else value)

    def fail(self, error: Any = None) -> None:
        """It certainly did not take effect."""
        self._complete("fail", self.value, error)

    def info(self, error: Any = None) -> None:
        """Its fate is unknown (timeout, lost connection): it may take effect any time."""
        self._complete("info", self.value, error)

    def _complete(self, outcome: str, value: Any, error: Any = None) -> None:
        if self.outcome is not None:
            raise RuntimeError(
                f"{self.f!r} by session {self.session.name!r} already completed {self.outcome}"
            )
        self._emit(outcome, value, error)  # raises if the recorder is closed: still open
        self.outcome = outcome
        self.session._current = None

    def _emit(self, typ: str, value: Any, error: Any = None) -> None:
        event = {"process": self.process, "session": self.session.name, "type": typ, "f": self.f}
        if self.key is not None:
            event["key"] = self.key
        event["value"] = value
        if self.node is not None:
            event["node"] = self.node
        rec = self.session.recorder
        if error is not None:
            text = error if isinstance(error, str) else _describe_error(error)
            event["error"] = rec._scrub(text) if rec._scrub else text
        rec._event(event, self, new_process=self.session if typ == "info" else None)

    def __enter__(self) -> Operation:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.outcome is not None:
            return
        if exc is None and self.read_only:
            # A read that never said what it read would pass for a read of nothing.
            self.fail("the block ended without op.ok(value)")
            raise RuntimeError(
                f"read-only {self.f!r} by session {self.session.name!r} ended without "
                "op.ok(value): record what the read returned"
            )
        if exc is None:
            self.ok()
        elif self.read_only:
            self.fail(exc)
        else:
            self.info(exc)

    async def __aenter__(self) -> Operation:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


def _describe_error(error: Any) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
