"""Large seeded histories with known verdicts: Porcupine-style kv and a cas-register.

A true sequential object is simulated under ``concurrency`` clients: each operation takes
effect at a random instant inside its interval (a crashed one, completing ``info``, takes
effect there or never, at random), so the history is linearizable by construction. With
``linearizable=False`` the same history gets exactly one stale read: a read that returns
the value of a marker write after a later write certainly overwrote it.

Why that read is certainly a violation: the marker writes a value M that no other
operation writes (not even a crashed one), and completes ``ok`` before the overwriting
write W (also ``ok``) is invoked; W completes before the read is invoked. So in every
linearization the marker precedes W, which precedes the read, and after W nothing can
make the object hold M again (kv: every state after W starts with the value of W or of
another put that is not the marker, never with M, and M is one token). Both versions
share every other event, the marker and W included: only that read's value differs.

Usage as a script (every random choice flows from the printed seed):

    python bench/gen_histories.py --spec kv --ops 100000 --keys 1000 --crash 0.01 \\
        --format all --out /tmp/kv-100k [--invalid] [--seed 1]

Importable: ``generate(...)`` -> ``Generated``; ``write_history(gen, out, fmt)``;
``check_flags(gen, fmt)`` gives the ``replicheck check`` flags each format needs (EDN and
log lines carry no metadata line, and kv log lines carry keys as Jepsen's independent
``[key value]`` tuples, since a log line has no key field).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

SPECS = ("kv", "cas-register")
FORMATS = ("jsonl", "edn", "log")
SUFFIX = {"jsonl": ".jsonl", "edn": ".edn", "log": ".log"}

# op record fields (lists, not objects: a million of them must be cheap)
PID, F, KEY, VALUE, OUT, STATUS = range(6)
_INVOKE, _EFFECT, _COMPLETE = 0, 1, 2


@dataclass
class Generated:
    """A generated history: operations plus the real-time order of their events.

    ``ops[i]`` is ``[process, f, key, value, output, status]``; ``order`` lists events as
    ``2*i`` (invocation of op i) and ``2*i + 1`` (its completion), in real-time order.
    ``stale`` names the injected read (op index), the marker and the overwriting write.
    """

    spec: str
    init: Any
    seed: int
    linearizable: bool
    ops: list[list[Any]]
    order: list[int]
    params: dict = field(default_factory=dict)
    stale: dict = field(default_factory=dict)

    @property
    def crashed(self) -> int:
        return sum(1 for op in self.ops if op[STATUS] == "info")

    def meta(self) -> dict:
        """The JSON Lines metadata line: how to judge the file with no flags."""
        return {
            "spec": self.spec,
            "init": self.init,
            "nil_read": "absent",
            "source": f"bench/gen_histories.py seed={self.seed} "
            + " ".join(f"{k}={v}" for k, v in self.params.items()),
            "expected": "valid" if self.linearizable else "invalid",
        }

    def events(self) -> Iterator[dict]:
        """Jepsen-shaped event dicts in real-time order (for ``History.from_events``)."""
        kv = self.spec == "kv"
        for e in self.order:
            op = self.ops[e >> 1]
            if e & 1:
                typ = op[STATUS]
                value = op[OUT] if typ == "ok" and op[F] in ("get", "read") else op[VALUE]
            else:
                typ, value = "invoke", op[VALUE]
            d = {"process": op[PID], "type": typ, "f": op[F], "value": value}
            if kv:
                d["key"] = op[KEY]
            yield d


def generate(
    spec: str = "kv",
    n_ops: int = 10_000,
    *,
    concurrency: int = 10,
    crash: float = 0.01,
    keys: int = 1000,
    values: int | None = None,
    seed: int = 1,
    init: Any = None,
    linearizable: bool = True,
) -> Generated:
    """Simulate ``n_ops`` operations on a sequential ``spec`` object.

    ``values``: ``None`` makes every written value unique; an int draws written values
    from that many (cas-register: ``0..values-1``; kv: tokens ``"x N y"``).
    ``init``: the cas-register's initial value (kv keys always start at ``""``).
    ``crash``: the fraction of operations completing ``info``; the client that saw it
    is replaced by a new process id, as in Jepsen.
    """
    if spec not in SPECS:
        raise ValueError(f"spec must be one of {SPECS}, not {spec!r}")
    if n_ops < 3:
        raise ValueError("need at least 3 operations (the marker write, its overwrite, the read)")
    if concurrency < 1 or not 0 <= crash < 1 or keys < 1 or (values is not None and values < 1):
        raise ValueError("concurrency >= 1, 0 <= crash < 1, keys >= 1 and values >= 1 please")
    if spec == "kv":
        init = ""
    rng = random.Random(seed)
    rand, randrange = rng.random, rng.randrange
    kv = spec == "kv"
    unique = values is None
    nvalues = values or 1
    # The marker's value: unique-value histories never repeat a value anyway; with few
    # values it is one outside their range, so that no other op can write it.
    counter = [init + 1 if isinstance(init, int) and not isinstance(init, bool) and init >= 0 else 1]

    def fresh() -> Any:
        if unique:
            counter[0] += 1
            return counter[0] - 1
        return randrange(nvalues)

    marker_value: Any = None if unique else values
    state: dict[Any, Any] = {}  # key -> current value (cas-register: key None)
    ops: list[list[Any]] = []
    order: list[int] = []
    effects: list[bool] = []  # does the op take effect (crashed ones: at random)
    heap: list[tuple[float, int, int, int, int]] = []  # (time, tiebreak, kind, slot, op)
    push, pop = heapq.heappush, heapq.heappop
    pids = list(range(concurrency))
    next_pid = concurrency
    tie = 0
    for slot in range(concurrency):
        push(heap, (rand(), tie, _INVOKE, slot, -1))
        tie += 1
    marker_at = n_ops // 2  # op index forced to be the marker write
    # the next op invoked after the marker completes overwrites it; the next one invoked
    # after that overwrite completes is the read (stale in the invalid version)
    forced: list[str] = []
    marker_key: Any = None
    stale: dict = {}
    key_names = [str(k) for k in range(keys)]
    issued = 0
    while heap:
        t, _, kind, slot, i = pop(heap)
        if kind == _INVOKE:
            if issued >= n_ops and not forced:
                continue
            i = issued
            issued += 1
            crashed = rand() < crash
            if i == marker_at:
                key = key_names[randrange(keys)] if kv else None
                marker_key = key
                f = "put" if kv else "write"
                if kv:
                    value: Any = f"x {pids[slot]} {i} y" if unique else f"x {marker_value} y"
                else:
                    value = fresh() if unique else marker_value
                marker_value = value
                crashed = False
                stale["marker"] = i
            elif forced:
                what = forced.pop(0)
                key = marker_key
                crashed = False
                if what == "overwrite":
                    f = "put" if kv else "write"
                    if kv:
                        value = f"x {pids[slot]} {i} y" if unique else f"x {randrange(nvalues)} y"
                    else:
                        value = fresh()
                    stale["overwrite"] = i
                else:
                    f, value = ("get" if kv else "read"), None
                    stale["read"] = i
            elif kv:
                key = key_names[randrange(keys)]
                r = rand()
                if r < 0.5:
                    f, value = "get", None
                else:
                    f = "put" if r < 0.75 else "append"
                    value = f"x {pids[slot]} {i} y" if unique else f"x {randrange(nvalues)} y"
            else:
                key = None
                r = rand()
                if r < 0.4:
                    f, value = "read", None
                elif r < 0.7:
                    f, value = "write", fresh()
                else:
                    f = "cas"
                    cur = state.get(None, init)
                    if cur is None or rand() < 0.3:
                        # a guess: unique values guess one written lately, so some succeed
                        if unique:
                            frm = randrange(max(1, counter[0] - 3), counter[0] + 1)
                        else:
                            frm = randrange(nvalues)
                    else:
                        frm = cur
                    value = (frm, fresh())
            ops.append([pids[slot], f, key, value, None, "info" if crashed else None])
            effects.append(not crashed or rand() < 0.5)
            order.append(2 * i)
            d = 0.05 + rand()
            push(heap, (t + rand() * d, tie, _EFFECT, slot, i))
            push(heap, (t + d, tie + 1, _COMPLETE, slot, i))
            tie += 2
        elif kind == _EFFECT:
            if not effects[i]:
                continue
            op = ops[i]
            f, key = op[F], op[KEY]
            if f == "get" or f == "read":
                op[OUT] = state.get(key, init)
            elif f == "put" or f == "write":
                state[key] = op[VALUE]
            elif f == "append":
                state[key] = state.get(key, "") + op[VALUE]
            elif state.get(None, init) == op[VALUE][0]:  # cas
                state[None] = op[VALUE][1]
            elif op[STATUS] is None:
                op[STATUS] = "fail"
        else:
            op = ops[i]
            order.append(2 * i + 1)
            if op[STATUS] is None:
                op[STATUS] = "ok"
            elif op[STATUS] == "info":
                pids[slot] = next_pid
                next_pid += 1
            if i == marker_at:
                forced = ["overwrite"]
            elif stale.get("overwrite") == i:
                forced = ["read"]
            push(heap, (t + rand() * 0.05, tie, _INVOKE, slot, -1))
            tie += 1
    read = ops[stale["read"]]
    assert read[STATUS] == "ok" and read[OUT] != marker_value
    stale["true_value"] = read[OUT]
    stale["stale_value"] = marker_value
    if not linearizable:
        read[OUT] = marker_value
    params = {
        "ops": len(ops),
        "concurrency": concurrency,
        "crash": crash,
        "values": "unique" if unique else values,
    }
    if kv:
        params["keys"] = keys
    return Generated(spec, init, seed, linearizable, ops, order, params, stale)


# ---------------------------------------------------------------- writing


def _json_value(v: Any) -> str:
    if type(v) is str:
        return '"' + v + '"'  # generated strings are plain: letters, digits, spaces
    if type(v) is int:
        return str(v)
    if v is None:
        return "null"
    if type(v) is tuple:
        return "[" + ", ".join(map(_json_value, v)) + "]"
    return json.dumps(v)


def _edn_value(v: Any) -> str:
    if type(v) is str:
        return '"' + v + '"'
    if type(v) is int:
        return str(v)
    if v is None:
        return "nil"
    if type(v) is tuple:
        return "[" + " ".join(map(_edn_value, v)) + "]"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    raise ValueError(f"cannot write {v!r} as EDN")


def _lines(gen: Generated, fmt: str) -> Iterator[str]:
    kv = gen.spec == "kv"
    ops, order = gen.ops, gen.order
    if fmt == "jsonl":
        yield json.dumps({"replicheck": gen.meta()}, separators=(", ", ": ")) + "\n"
        enc = _json_value
        tmpl = (
            '{"process": %d, "type": "%s", "f": "%s", "key": "%s", "value": %s}\n'
            if kv
            else '{"process": %d, "type": "%s", "f": "%s", "value": %s}\n'
        )
    elif fmt == "edn":
        yield f"; generated: {' '.join(check_flags(gen, 'edn'))}; {gen.meta()['source']}\n"
        enc = _edn_value
        tmpl = (
            '{:process %d, :type :%s, :f :%s, :key "%s", :value %s}\n'
            if kv
            else "{:process %d, :type :%s, :f :%s, :value %s}\n"
        )
    elif fmt == "log":
        enc = _edn_value
        tmpl = "INFO  jepsen.util - %d\t:%s\t:%s\t%s\n"
    else:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    log_kv = kv and fmt == "log"
    for e in order:
        op = ops[e >> 1]
        if e & 1:
            typ = op[STATUS]
            v = op[OUT] if typ == "ok" and (op[F] == "get" or op[F] == "read") else op[VALUE]
        else:
            typ, v = "invoke", op[VALUE]
        if log_kv:
            yield tmpl % (op[PID], typ, op[F], '["' + op[KEY] + '" ' + enc(v) + "]")
        elif kv:
            yield tmpl % (op[PID], typ, op[F], op[KEY], enc(v))
        else:
            yield tmpl % (op[PID], typ, op[F], enc(v))


def write_history(gen: Generated, out: str | os.PathLike | IO[str], fmt: str = "jsonl") -> None:
    """Write ``gen`` as ``jsonl`` (with its metadata line), ``edn`` or ``log`` (Jepsen)."""
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", encoding="utf-8", buffering=1 << 20) as fh:
            write_history(gen, fh, fmt)
        return
    buf: list[str] = []
    for line in _lines(gen, fmt):
        buf.append(line)
        if len(buf) >= 65536:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))


def check_flags(gen: Generated, fmt: str) -> list[str]:
    """Flags ``replicheck check`` needs to judge ``gen`` written as ``fmt``.

    JSON Lines needs none (its metadata line says everything). EDN and log lines need
    the spec and init, and read nil as "unknown" by default, which changes no verdict
    here: the stale value is never nil, and an unknown read only matches more states.
    """
    if fmt == "jsonl":
        return []
    flags = ["--spec", gen.spec]
    if gen.spec == "kv":
        if fmt == "log":
            flags.append("--independent")
    elif gen.init is not None:
        flags += ["--init", json.dumps(gen.init)]
    return flags


# ---------------------------------------------------------------- script


def parse_values(text: str) -> int | None:
    """``--values``: "unique" or a number of distinct values."""
    return None if text == "unique" else int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", choices=SPECS, default="kv")
    ap.add_argument("--ops", type=int, default=10_000, help="number of operations")
    ap.add_argument("--concurrency", type=int, default=10, help="concurrent clients")
    ap.add_argument("--crash", type=float, default=0.01, help="fraction of ops completing info")
    ap.add_argument("--keys", type=int, default=1000, help="kv: number of keys")
    ap.add_argument(
        "--values",
        type=parse_values,
        default=None,
        metavar="unique|N",
        help="written values: all distinct (unique, the default) or drawn from N",
    )
    ap.add_argument("--init", default=None, metavar="JSON", help="cas-register: initial value (default nil)")
    ap.add_argument("--seed", type=int, default=None, help="default: drawn at random and printed")
    ap.add_argument("--invalid", action="store_true", help="inject one stale read (NOT linearizable)")
    ap.add_argument("--format", default="jsonl", choices=FORMATS + ("all",))
    ap.add_argument("--out", required=True, help="output path; with --format all, a prefix")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    init = None if args.init in (None, "nil") else json.loads(args.init)
    t0 = time.perf_counter()
    gen = generate(
        args.spec,
        args.ops,
        concurrency=args.concurrency,
        crash=args.crash,
        keys=args.keys,
        values=args.values,
        seed=seed,
        init=init,
        linearizable=not args.invalid,
    )
    t1 = time.perf_counter()
    print(
        f"seed {seed}: {args.spec}, {len(gen.ops)} ops, {gen.crashed} crashed, "
        f"{'NOT linearizable' if args.invalid else 'linearizable'} "
        f"({t1 - t0:.2f} s to simulate)"
    )
    if args.invalid:
        s = gen.stale
        print(
            f"  stale read: op {s['read']} returns {s['stale_value']!r} (true value {s['true_value']!r}); "
            f"marker op {s['marker']}, overwritten by op {s['overwrite']}"
        )
    fmts = FORMATS if args.format == "all" else (args.format,)
    for fmt in fmts:
        path = args.out + SUFFIX[fmt] if args.format == "all" else args.out
        t2 = time.perf_counter()
        write_history(gen, path, fmt)
        print(
            f"  {path} ({time.perf_counter() - t2:.2f} s)  check: "
            f"replicheck check {' '.join(check_flags(gen, fmt) + [path])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
