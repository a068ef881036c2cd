"""Hostile history inputs, for the fuzz test (tests/test_fuzz.py) and the longer campaign
(bench/fuzz_campaign.py): a small history, rendered as JSON Lines, Jepsen EDN or Jepsen
log lines, then mutated the way damaged or hostile files are (flipped bytes, truncation,
lines duplicated or lost, huge numbers, deep nesting, odd unicode, wrong types).

Everything is drawn from one ``random.Random``: the fuzz test gets it from Hypothesis
(so the ci profile fixes it), the campaign from its printed seed. ``judge`` runs one
input through the API and the CLI and returns a finding (a string) or None.
"""

from __future__ import annotations

import json
import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("jsonl", "edn", "jepsen-log")
SUFFIX = {"jsonl": ".jsonl", "edn": ".edn", "jepsen-log": ".log"}

# (spec, f, the values an invocation carries, the values a completion may return)
OPS: dict[str, list[tuple[str, list, list]]] = {
    "register": [("read", [None], [None, 0, 1, 2]), ("write", [0, 1, 2], [])],
    "cas-register": [
        ("read", [None], [None, 0, 1]),
        ("write", [0, 1], []),
        ("cas", [[0, 1], [1, 0], [1, 2]], []),
    ],
    "kv": [("get", [None], [None, "", "a"]), ("put", ["", "a"], []), ("append", ["a", "b"], [])],
    "set": [("read", [None], [[], [0], [0, 1]]), ("add", [0, 1], [])],
    "fifo-queue": [("dequeue", [None], [None, 0, 1]), ("enqueue", [0, 1], [])],
    "list-append": [("read", [None], [[], [0], [0, 1], [1, 0]]), ("append", [0, 1], [])],
}

WRONG_TYPES: list[Any] = [
    None,
    True,
    [],
    [1],
    [[1, [2]]],
    {},
    {"a": 1},
    "x",
    "",
    ":invoke",
    1.5,
    -1,
    2**64,
    10**400,
    "\u00b2",
]

ODD_TEXT = [
    "\u2028",
    "\u2029",
    "\x85",
    "\ufeff",
    "\x00",
    "\u00b2",
    "\u200f",
    "e\u0301",
    "\U0001f600",
    "\ud800",
    "\udc00\ud83d",
    "\t",
    "\r",
    '"',
    "\\",
    "{{DATA}}",
    "<!--<script>",
    "##NaN",
    "NaN",
    "Infinity",
    "#inst",
    "#_",
    "#{",
    ";",
]
ODD_BYTES = [b"\xed\xa0\x80", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\x00"]


@dataclass
class Input:
    """One fuzz input: the bytes of a file in a format, the spec to judge it by, and
    what was done to it (for a finding's report)."""

    fmt: str
    spec: str
    data: bytes
    steps: list[str]


# ------------------------------------------------------------------ base histories


def history_events(rng: random.Random, spec: str) -> list[dict]:
    """A small history of ``spec``: several processes, some crashes, outputs either
    faithful to a sequential run (often valid) or drawn at random (often not)."""
    ops = OPS[spec]
    faithful = rng.random() < 0.5
    timed = rng.random() < 0.5
    state: Any = {"register": None, "cas-register": None, "kv": "", "set": [], "fifo-queue": []}.get(spec, [])
    events: list[dict] = []
    pending: dict[int, dict] = {}
    n_procs = rng.randint(1, 4)
    next_pid = n_procs
    procs = list(range(n_procs))
    now = 0
    for _ in range(rng.randint(1, 12)):
        idle = [p for p in procs if p not in pending]
        if idle and (not pending or rng.random() < 0.5):
            p = rng.choice(idle)
            f, values, _ = rng.choice(ops)
            e = {"process": p, "type": "invoke", "f": f, "value": rng.choice(values)}
            if spec == "kv":
                e["key"] = rng.choice(["x", "y"])
            pending[p] = e
        else:
            p = rng.choice(sorted(pending))
            inv = pending.pop(p)
            kind = rng.choices(["ok", "fail", "info"], [8, 1, 1])[0]
            value = inv["value"]
            if kind == "ok":
                value, state = _apply(spec, state, inv, rng, faithful)
            e = {**inv, "type": kind, "value": value}
            if kind == "info":
                procs[procs.index(p)] = next_pid
                next_pid += 1
        if timed:
            now += rng.choice([0, 0, 1, 2])
            e = {**e, "time": now}
        events.append(e)
    if rng.random() < 0.2:
        events.insert(rng.randrange(len(events) + 1), {"process": "nemesis", "type": "info", "f": "kill"})
    return events


def _apply(spec: str, state: Any, inv: dict, rng: random.Random, faithful: bool) -> tuple[Any, Any]:
    """The ok completion's value, and the state after, for one op taking effect now."""
    f, v = inv["f"], inv["value"]
    outputs = next(out for name, _, out in OPS[spec] if name == f)
    if not outputs:  # a write-like op returns what it was given
        if spec in ("register", "cas-register") and f == "write":
            return v, v
        if spec == "cas-register" and f == "cas":
            return v, v[1] if state == v[0] else state
        if spec == "set":
            return v, sorted(set(state) | {v})
        if spec == "fifo-queue":
            return v, [*state, v]
        if spec == "list-append":
            return v, [*state, v]
        return v, state
    if not faithful:
        return rng.choice(outputs), state
    if spec == "fifo-queue":
        return (state[0], state[1:]) if state else (None, state)
    if spec == "kv":
        return None, state
    return state, state


# ------------------------------------------------------------------ rendering


def _edn(v: Any) -> str:
    if v is None:
        return "nil"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_edn(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_edn(k)} {_edn(x)}" for k, x in v.items()) + "}"
    return repr(v) if not isinstance(v, int) or abs(v) < 10**4000 else str(v)


def _edn_event(e: dict) -> str:
    parts = []
    for k, v in e.items():
        if k in ("type", "f") and isinstance(v, str) and v and " " not in v:
            parts.append(f":{k} :{v.lstrip(':')}")
        elif k == "process" and v == "nemesis":
            parts.append(":process :nemesis")
        else:
            parts.append(f":{k} {_edn(v)}")
    return "{" + ", ".join(parts) + "}"


def render(events: list[dict], fmt: str, spec: str, rng: random.Random) -> str:
    if fmt == "jsonl":
        lines = [json.dumps(e) for e in events]
        if rng.random() < 0.3:
            lines.insert(0, json.dumps({"replicheck": {"spec": spec}}))
        return "\n".join(lines) + "\n"
    if fmt == "edn":
        body = "\n ".join(_edn_event(e) for e in events)
        return f"[{body}]\n" if rng.random() < 0.7 else body + "\n"
    lines = []
    for e in events:
        p = ":nemesis" if e.get("process") == "nemesis" else _edn(e.get("process"))
        lines.append(f"INFO  jepsen.util - {p}\t:{e.get('type')}\t:{e.get('f')}\t{_edn(e.get('value'))}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ mutations


def _deep(rng: random.Random) -> Any:
    v: Any = 1
    for _ in range(rng.choice([50, 99, 101, 120, 500, 3000])):
        v = [v] if rng.random() < 0.8 else {"a": v}
    return v


def mutate_events(events: list[dict], rng: random.Random, steps: list[str]) -> list[dict]:
    """Mutations made before rendering: a field of the wrong type, a deep or huge value."""
    events = [dict(e) for e in events]
    if not events:
        return events
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        e = rng.choice(events)
        what = rng.choice(["wrong type", "deep", "huge", "odd text", "drop field", "extra field"])
        name = rng.choice(["process", "type", "f", "value", "key", "time", "index", "node", "session"])
        if what == "wrong type":
            e[name] = rng.choice(WRONG_TYPES)
        elif what == "deep":
            e[name] = _deep(rng)
        elif what == "huge":
            e[name] = rng.choice([10**4400, -(10**5000), 2**63, 2**64 + 1, 1e308, -0.0, 5e-324])
        elif what == "odd text":
            e[name] = rng.choice(ODD_TEXT) * rng.randint(1, 3)
        elif what == "drop field":
            e.pop(name, None)
        else:
            e[rng.choice(ODD_TEXT)] = rng.choice(WRONG_TYPES)
        steps.append(f"{what} in {name}")
    return events


def mutate_bytes(data: bytes, rng: random.Random, steps: list[str]) -> bytes:
    """Mutations of the file's bytes and lines."""
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        what = rng.choice(["flip", "truncate", "duplicate line", "delete line", "swap lines", "odd bytes",
                           "huge number", "deep"])  # fmt: skip
        lines = data.split(b"\n")
        if what == "flip" and data:
            at = rng.randrange(len(data))
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
        elif what == "truncate" and data:
            data = data[: rng.randrange(len(data))]
        elif what == "duplicate line" and lines:
            k = rng.randrange(len(lines))
            lines.insert(k, lines[k])
            data = b"\n".join(lines)
        elif what == "delete line" and lines:
            del lines[rng.randrange(len(lines))]
            data = b"\n".join(lines)
        elif what == "swap lines" and len(lines) > 1:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif what == "odd bytes":
            at = rng.randrange(len(data) + 1)
            odd = rng.choice(ODD_BYTES + [t.encode("utf-8", "surrogatepass") for t in ODD_TEXT])
            data = data[:at] + odd + data[at:]
        elif what == "huge number":
            digits = [i for i, b in enumerate(data) if 48 <= b <= 57]
            if digits:
                at = rng.choice(digits)
                data = data[:at] + rng.choice([b"9" * 4400, b"1e400", b"-1e999", b"0" * 5000]) + data[at:]
        elif what == "deep":
            at = rng.randrange(len(data) + 1)
            n = rng.choice([101, 500, 5000, 100_000])
            data = data[:at] + b"[" * n + b"]" * n + data[at:]
        steps.append(what)
    return data


def make_input(rng: random.Random, fmt: str | None = None) -> Input:
    fmt = fmt or rng.choice(FORMATS)
    spec = rng.choice(sorted(OPS))
    steps: list[str] = []
    events = mutate_events(history_events(rng, spec), rng, steps)
    # huge integers are written whole: past Python's limit on printing them (and it is
    # put back before anything reads the file)
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        text = render(events, fmt, spec, rng)
    except RecursionError:  # too deep for json.dumps: the flattest stand-in
        text = render([{k: 1 if isinstance(v, (list, dict)) else v for k, v in e.items()} for e in events],
                      fmt, spec, rng)  # fmt: skip
    finally:
        sys.set_int_max_str_digits(limit)
    data = mutate_bytes(text.encode("utf-8", "surrogatepass"), rng, steps)
    return Input(fmt, spec, data, steps)


# ------------------------------------------------------------------ judging

API_VERDICTS = {True: 0, False: 1, "unknown": 3}


def judge_api(inp: Input, timeout: float = 5.0, fmt: str | None = None) -> tuple[int | None, str | None]:
    """The exit code the API's answer stands for (2: a HistoryError), and a finding: any
    other exception, with its traceback. ``fmt``: the format named, else detected."""
    from replicheck.checker import HistoryError, check, parse_history

    try:
        history = parse_history(inp.data, format=fmt)
        result = check(history, inp.spec, timeout=timeout, max_memory_mb=None)
    except HistoryError as e:
        if not str(e) or "\n" in str(e):
            return 2, f"HistoryError message not one line: {str(e)!r}"
        return 2, None
    except Exception:
        return None, "API raised:\n" + traceback.format_exc()
    code = API_VERDICTS.get(result.valid)
    if code is None:
        return None, f"API verdict {result.valid!r} is none of True, False, unknown"
    return code, None


def judge_cli(inp: Input, path: Path, args: list[str]) -> tuple[int, str | None]:
    """The CLI's exit code on the input written to ``path``, and a finding: a traceback,
    an exception, an exit code outside {0, 1, 2, 3}, or a bad-input exit of many lines."""
    from click.testing import CliRunner

    from replicheck.cli.main import cli

    path.write_bytes(inp.data)
    res = CliRunner().invoke(cli, ["check", str(path), "--quiet", *args])
    out = res.output
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        tb = "".join(traceback.format_exception(res.exception))
        return res.exit_code, f"CLI raised {res.exception!r}:\n{tb}"
    if "Traceback" in out:
        return res.exit_code, f"traceback in CLI output:\n{out}"
    if res.exit_code not in (0, 1, 2, 3):
        return res.exit_code, f"CLI exit code {res.exit_code}:\n{out}"
    if res.exit_code == 2 and "--json" not in args and out.strip().count("\n"):
        return res.exit_code, f"bad input not told in one line:\n{out}"
    if "--json" in args and res.exit_code != 2:
        try:
            json.loads(out, parse_constant=_refuse)
        except ValueError as e:
            return res.exit_code, f"--json output is not JSON ({e}):\n{out}"
    return res.exit_code, None


def _refuse(name: str) -> None:
    raise ValueError(f"{name} in the output")


def judge(inp: Input, path: Path, rng: random.Random, timeout: float = 5.0) -> str | None:
    """Run one input through the API and the CLI (the same spec and format), and compare:
    a violation's exit code (1) only for a violation, bad input (2) alike in both."""
    # the format named (sometimes the wrong one) as well as detected
    fmt = rng.choice([None, None, None, inp.fmt, rng.choice(["jsonl", "json", "edn", "jepsen-log"])])
    api_code, finding = judge_api(inp, timeout, fmt)
    if finding:
        return finding
    args = ["--spec", inp.spec, "--timeout", str(timeout)] + (["--format", fmt] if fmt else [])
    if rng.random() < 0.3:
        args.append("--json")
    cli_code, finding = judge_cli(inp, path, args)
    if finding:
        return finding
    if 3 not in (api_code, cli_code) and api_code != cli_code:
        return f"API says exit {api_code}, the CLI exits {cli_code}"
    return None


def describe(inp: Input) -> str:
    return f"format {inp.fmt}, spec {inp.spec}, mutations: {', '.join(inp.steps) or 'none'}"


Finder = Callable[[Input], str | None]
