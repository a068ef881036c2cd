"""The recorder: wrapped client calls become a history the checker can judge.

Threads, asyncio tasks, timeouts, calls that never return and writers killed mid-line:
each must leave a file that parses, pairs, and gets the verdict the fake database earns.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from click.testing import CliRunner

from replicheck.checker import check, read_history
from replicheck.checker.consistency import check_consistency
from replicheck.checker.report import render_linearizability
from replicheck.cli.main import cli
from replicheck.record import Recorder

THREADS, OPS = 8, 200


def lines_of(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.endswith("\n")
    return [json.loads(ln) for ln in text.splitlines()]  # every line a whole JSON object


def run_clients(path, read_value, *, meta=None):
    """8 threads x 200 ops, each thread its own session, on 4 shared keys; values unique."""
    db: dict = {}
    lock = threading.Lock()

    def client(t: int, s) -> None:
        for i in range(OPS):
            key = f"k{(t + i) % 4}"
            if i % 2 == 0:
                with s.op("write", t * 1000 + i, key=key):
                    with lock:  # the write takes effect inside the op's interval
                        db[key] = t * 1000 + i
            else:
                with s.op("read", key=key, read_only=True) as op:
                    with lock:
                        op.ok(read_value(db, key))

    with Recorder(path, meta=meta) as rec:
        sessions = [rec.session(f"c{t}") for t in range(THREADS)]
        threads = [threading.Thread(target=client, args=(t, s)) for t, s in enumerate(sessions)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return rec.close()


def test_threads_record_a_linearizable_history(tmp_path):
    path = tmp_path / "h.jsonl"
    stats = run_clients(path, lambda db, key: db.get(key))
    assert stats == {"invoke": 1600, "ok": 1600, "fail": 0, "info": 0, "pending": 0}
    events = lines_of(path)
    assert len(events) == 2 * THREADS * OPS
    times = [e["time"] for e in events]
    assert times == sorted(times)  # file order is time order
    h = read_history(path)  # pair() raises if a process had two ops in flight
    assert len(h.ops) == THREADS * OPS and all(op.status == "ok" for op in h.ops)
    assert h.timed and not h.skipped
    assert {op.extra["session"] for op in h.ops} == {f"c{t}" for t in range(THREADS)}
    assert check(h, "register", timeout=60).valid is True


def test_stale_reads_are_caught_so_timestamps_carry_real_time(tmp_path):
    """Each thread writes its own key on the primary and then reads a replica that applies
    only every 5th write: its first read misses a write that completed before it began."""
    primary: dict = {}
    replica: dict = {}
    lock = threading.Lock()

    def client(t: int, s) -> None:
        for i in range(1, 11):
            with s.op("write", i, key=f"k{t}"):
                with lock:
                    primary[f"k{t}"] = i
                    if i % 5 == 0:
                        replica[f"k{t}"] = i
            with s.op("read", key=f"k{t}", read_only=True) as op:
                with lock:
                    op.ok(replica.get(f"k{t}"))

    path = tmp_path / "stale.jsonl"
    with Recorder(path) as rec:
        threads = [threading.Thread(target=client, args=(t, rec.session())) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    result = check(read_history(path), "register")
    assert result.valid is False
    assert result.op.f == "read"


def test_asyncio_tasks_share_one_recorder(tmp_path):
    path = tmp_path / "async.jsonl"
    db: dict = {}

    async def client(n: int, s) -> None:
        for i in range(20):
            key = f"k{(n + i) % 3}"
            if i % 2 == 0:
                async with s.op("write", n * 100 + i, key=key):
                    await asyncio.sleep(0)
                    db[key] = n * 100 + i  # no await between here and the op's end bookkeeping
                    await asyncio.sleep(0)
            else:
                async with s.op("read", key=key, read_only=True) as op:
                    await asyncio.sleep(0)
                    op.ok(db.get(key))
                    await asyncio.sleep(0)

    async def main(rec) -> None:
        await asyncio.gather(*(client(n, rec.session(f"task{n}")) for n in range(30)))

    with Recorder(path) as rec:
        asyncio.run(main(rec))
        assert rec.pending == 0
    h = read_history(path)
    assert len(h.ops) == 30 * 20
    # the tasks really interleaved: some op was invoked while another was in flight
    assert any(a.call < b.call < a.ret for a, b in zip(h.ops, h.ops[1:]))
    assert check(h, "register", timeout=60).valid is True


@pytest.mark.parametrize("seen", [True, False])
def test_timeout_is_indeterminate_and_session_moves_to_a_new_process(tmp_path, seen):
    path = tmp_path / "t.jsonl"
    with Recorder(path) as rec:
        alice, bob = rec.session("alice"), rec.session("bob")
        before = alice.process
        with pytest.raises(TimeoutError):
            with alice.op("write", 1, key="x"):
                raise TimeoutError("no reply in 2 s")
        assert alice.process != before and alice.name == "alice"
        with bob.op("read", key="x", read_only=True) as op:
            op.ok(1 if seen else None)
        with alice.op("write", 2, key="y"):
            pass
    events = lines_of(path)
    info = events[1]
    assert info["type"] == "info" and info["process"] == before
    assert "TimeoutError" in info["error"] and "no reply" in info["error"]
    assert events[-1]["process"] != before and events[-1]["session"] == "alice"
    h = read_history(path)
    assert h.ops[0].status == "info" and h.ops[0].ret_line == 2
    assert check(h, "register").valid is True


def test_read_only_exception_is_a_fail_and_keeps_the_process(tmp_path):
    path = tmp_path / "f.jsonl"
    with Recorder(path) as rec:
        s = rec.session("s")
        before = s.process
        with pytest.raises(ConnectionError):
            with s.op("read", key="x", read_only=True):
                raise ConnectionError("reset by peer")
        assert s.process == before
        with s.op("read", key="x", read_only=True) as op:
            op.ok(None)
    events = lines_of(path)
    assert [e["type"] for e in events] == ["invoke", "fail", "invoke", "ok"]
    assert events[1]["error"] == "ConnectionError: reset by peer"
    assert {e["process"] for e in events} == {before}
    assert check(read_history(path), "register").valid is True


def test_explicit_outcomes_record_once_and_misuse_is_refused(tmp_path):
    path = tmp_path / "e.jsonl"
    with Recorder(path) as rec:
        s = rec.session("s")
        with s.op("read", key="x", read_only=True) as op:
            op.ok(7)
            with pytest.raises(RuntimeError, match="already completed ok"):
                op.fail()
        with s.op("write", 3, key="x") as op:
            op.fail("rejected")
        with s.op("write", 4, key="x") as op:
            op.info()
        op = s.op("write", 5, key="x")
        with pytest.raises(RuntimeError, match="'write' in flight.*another session"):
            s.op("read", key="x")
        op.ok()
        with pytest.raises(ValueError, match="already exists"):
            rec.session("s")
        stats = rec.close()
    assert stats == {"invoke": 4, "ok": 2, "fail": 1, "info": 1, "pending": 0}
    events = lines_of(path)
    assert [(e["type"], e["value"]) for e in events] == [
        ("invoke", None),
        ("ok", 7),
        ("invoke", 3),
        ("fail", 3),
        ("invoke", 4),
        ("info", 4),
        ("invoke", 5),
        ("ok", 5),
    ]
    assert events[3]["error"] == "rejected" and "error" not in events[5]
    assert events[6]["process"] == events[5]["process"] + 1  # new process after info


def test_session_survives_process_change_for_session_guarantees(tmp_path):
    """alice writes 1, her write of 2 times out, then (as a new process) she reads nothing:
    only the session name ties that read to her write, and read-your-writes is broken."""
    path = tmp_path / "ryw.jsonl"
    with Recorder(path) as rec:
        alice = rec.session("alice")
        alice.call("write", lambda: None, value=1, key="x")
        with pytest.raises(TimeoutError):
            alice.call("write", lambda: (_ for _ in ()).throw(TimeoutError()), value=2, key="x")
        alice.call("read", lambda: None, key="x", read_only=True)
    h = read_history(path)
    assert len({op.process for op in h.ops}) == 2
    by_session = check_consistency(h, "register", "read-your-writes")
    assert by_session.models["read-your-writes"].valid is False
    by_process = check_consistency(h, "register", "read-your-writes", session_field=None)
    assert by_process.models["read-your-writes"].valid is True


def test_an_op_that_never_completes_is_indeterminate(tmp_path):
    path = tmp_path / "hang.jsonl"
    invoked, release = threading.Event(), threading.Event()

    def stuck(s) -> None:
        s.op("write", 7, key="x")  # the call never returns, so nothing completes it
        invoked.set()
        release.wait(10)

    rec = Recorder(path)
    th = threading.Thread(target=stuck, args=(rec.session("stuck"),), daemon=True)
    th.start()
    assert invoked.wait(10)
    reader = rec.session("reader")
    with reader.op("read", key="x", read_only=True) as op:
        op.ok(7)
    assert rec.pending == 1
    assert rec.close()["pending"] == 1
    release.set()
    th.join(10)
    h = read_history(path)
    assert h.ops[0].status == "info" and h.ops[0].ret_line is None and h.never_completed == 1
    result = check(h, "register")
    assert result.valid is True
    assert "1 operations never completed" in render_linearizability(result)


WRITER = textwrap.dedent("""
    import sys, threading
    from replicheck.record import Recorder
    rec = Recorder(sys.argv[1], meta={"spec": "register"}, durable=False)
    db, lock = {}, threading.Lock()
    def client(t):
        s, i = rec.session(f"c{t}"), 0
        while True:
            i += 1
            key = f"k{i % 3}"
            with s.op("write", t * 10**9 + i, key=key):
                with lock:
                    db[key] = t * 10**9 + i
            with s.op("read", key=key, read_only=True) as op:
                with lock:
                    op.ok(db.get(key))
    for t in range(4):
        threading.Thread(target=client, args=(t,)).start()
""")


def test_writer_killed_mid_run_leaves_a_checkable_history(tmp_path):
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.read_bytes().count(b"\n") >= 200:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the writer died on its own"
        assert path.read_bytes().count(b"\n") >= 200, "the writer never got going"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    h = read_history(path)
    assert len(h.ops) >= 99
    for op in h.ops:
        assert op.status == "ok" or (op.status == "info" and op.ret_line is None)
    assert sum(op.ret_line is None for op in h.ops) <= 4  # at most one in flight per thread
    assert check(h, timeout=60).valid is True


def test_unterminated_last_line_is_skipped_with_a_note(tmp_path):
    path = tmp_path / "cut.jsonl"
    run_clients(path, lambda db, key: db.get(key), meta={"spec": "register"})
    data = path.read_bytes()
    path.write_bytes(data[:-15])  # the last line loses its tail and its newline
    h = read_history(path)
    assert h.skipped == {"unterminated last line (the writer stopped mid-line)": 1}
    assert len(h.ops) == THREADS * OPS and h.never_completed == 1
    result = CliRunner().invoke(cli, ["check", "-q", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 unterminated last line" in result.output and "skipped" in result.output


def test_malformed_line_in_the_middle_is_an_error_naming_it(tmp_path):
    path = tmp_path / "bad.jsonl"
    with Recorder(path, meta={"spec": "register"}) as rec:
        s = rec.session()
        for i in range(3):
            s.call("write", lambda: None, value=i)
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3][:-10]  # line 4 of 7
    path.write_bytes(b"\n".join(lines))
    result = CliRunner().invoke(cli, ["check", "-q", str(path)])
    assert result.exit_code == 2
    assert f"{path}:4: malformed JSON" in result.output


def test_metadata_faults_and_durable(tmp_path):
    path = tmp_path / "meta.jsonl"
    with Recorder(path, meta={"spec": "register"}, durable=True) as rec:
        s = rec.session("s")
        s.call("write", lambda: None, value=1, key="x")
        rec.fault("partition", ["n1", "n2"])
        s.call("read", lambda: 1, key="x", read_only=True)
        rec.fault("heal")
    events = lines_of(path)
    assert events[0] == {"replicheck": {"spec": "register"}}
    assert events[3]["process"] == "nemesis" and events[3]["value"] == ["n1", "n2"]
    h = read_history(path)
    assert h.meta["spec"] == "register" and len(h.ops) == 2
    assert [(e.f, e.value) for e in h.faults] == [("partition", ("n1", "n2")), ("heal", None)]
    result = CliRunner().invoke(cli, ["check", "-q", str(path)])  # no --spec: the metadata says
    assert result.exit_code == 0, result.output
    assert "linearizable" in result.output and "2 nemesis events" in result.output


def test_call_returns_result_and_records_the_right_value(tmp_path):
    path = tmp_path / "call.jsonl"
    with Recorder(path) as rec:
        s = rec.session("s")
        assert s.call("write", lambda v: f"stored {v}", 5, value=5, key="x", node="primary") == "stored 5"
        assert s.call("read", dict(x=5).get, "x", key="x", node="replica", read_only=True) == 5
    events = lines_of(path)
    assert [(e["type"], e["f"], e["value"], e["node"]) for e in events] == [
        ("invoke", "write", 5, "primary"),
        ("ok", "write", 5, "primary"),
        ("invoke", "read", None, "replica"),
        ("ok", "read", 5, "replica"),
    ]
    assert check(read_history(path), "register").valid is True


def test_a_read_that_never_says_what_it_read_is_refused(tmp_path):
    # Recording it as ok would claim the read returned nothing: a false stale read.
    path = tmp_path / "h.jsonl"
    with Recorder(path) as rec:
        s = rec.session("alice")
        with pytest.raises(RuntimeError, match=r"op\.ok\(value\)"):
            with s.op("read", key="x", read_only=True):
                pass
        with s.op("read", key="x", read_only=True) as op:  # the session goes on
            op.ok(None)
    types = [e["type"] for e in lines_of(path)]
    assert types == ["invoke", "fail", "invoke", "ok"]


def test_completing_after_close_is_refused_and_the_op_stays_open(tmp_path):
    path = tmp_path / "h.jsonl"
    rec = Recorder(path)
    op = rec.session("alice").op("write", 1, key="x")
    assert rec.close()["pending"] == 1
    with pytest.raises(RuntimeError, match="closed"):
        op.ok()
    assert op.outcome is None
    assert [e["type"] for e in lines_of(path)] == ["invoke"]
