"""`replicheck check FILE...`: judge recorded histories."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import click

from replicheck.checker import History, HistoryError, analyse, read_history
from replicheck.checker.formats import FORMATS
from replicheck.checker.history import tuplify
from replicheck.checker.linearizable import PARTITION_SEARCH, Budget, BudgetExhausted, enforced
from replicheck.checker.minimize import write_minimized
from replicheck.checker.report import render_linearizability, render_minimal
from replicheck.checker.specs import NIL_READS, NO_INIT
from replicheck.checker.verdict import EXIT_BAD_INPUT, exit_code, short_word, worst_exit_code
from replicheck.cli.artifacts import in_out_dir
from replicheck.cli.fanout import ONE_OF_MANY, fail, scheduler_option
from replicheck.cli.progress import Progress
from replicheck.cli.vocabulary import option
from replicheck.engine import EngineError

# Kept here (not imported from checker.consistency) so that --help does not load networkx.
CONSISTENCY_CHOICES = (
    "linearizable",
    "sequential",
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "convergence",
    "durability",
    "all",
)


# A bare word outside strings that is not a keyword (:x), tag (#inst), character (\\a) or
# nil/true/false: EDN would read it as a symbol, which no history's value is; `zero` and
# `None` are typing mistakes, not initial states.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BARE_WORD = re.compile(r"(?<![\w:#\\.+-])[A-Za-z_*!?$%&=<>][\w.*+!\-?$%&=<>/]*")
INIT_HELP = 'write a JSON value (0, "x", null, [1,2]) or EDN (nil, :x, [1 2])'


def parse_init(text: str | None) -> Any:
    """--init takes a JSON value, or EDN (``nil`` is Jepsen's null); anything else is a
    ValueError whose message says how to write it. A word such as ``zero`` used to pass
    as the string "zero" and yield a false violation."""
    if text is None:
        return NO_INIT
    if text.strip() == "nil":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = _parse_edn_init(text)
    except RecursionError:
        raise ValueError(f"nested too deep; {INIT_HELP}") from None
    value = tuplify(value)
    try:
        hash(value)
    except TypeError:
        raise ValueError(
            f"{text!r}: a map cannot be an initial state here (states must be hashable); "
            "give a number, string, list or null"
        ) from None
    return value


def _parse_edn_init(text: str) -> Any:
    from replicheck.checker.edn import EdnError, Reader

    words = [w for w in _BARE_WORD.findall(_STRING.sub('""', text)) if w not in ("nil", "true", "false")]
    if words:
        hint = f" (a string needs quotes: --init '\"{words[0]}\"')" if text.strip() == words[0] else ""
        raise ValueError(f"{text!r} is not JSON or EDN{hint}; {INIT_HELP}")
    try:
        forms = Reader().read(text)[0]
    except (EdnError, RecursionError, ValueError):
        raise ValueError(f"{text!r} is not JSON or EDN; {INIT_HELP}") from None
    if len(forms) != 1:
        raise ValueError(f"{text!r} is {len(forms)} values, not one; {INIT_HELP}")
    return forms[0]


def _check_init(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        parse_init(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


@dataclass
class Options:
    """The flags that say how to judge each file."""

    spec: str | None
    init: Any
    nil_read: str | None
    timeout: float | None
    memory: float
    jobs: int | None
    as_json: bool
    many: bool
    quiet: bool
    minimize: bool
    minimize_out: str | None
    html_out: str | None
    consistency: str | None
    session_field: str
    quiet_period: float | None
    started: float | None = None  # time.monotonic() before reading the current file
    out_dir: str | None = None  # --out-dir: each file's HTML and minimal history go here
    stems: dict[str, str] = field(default_factory=dict)  # path -> its unique name in out_dir
    partitions: Any = None  # a linearizable.PARTITION_SEARCH hook: the keys on a cluster


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@option(
    "spec",
    "spec",
    metavar="SPEC",
    help="cas-register, register, kv, set, fifo-queue, mutex, list-append, or "
    "package.module:Class. Default: the history's metadata line.",
)
@option(
    "initial value",
    "init_text",
    metavar="JSON",
    callback=_check_init,
    help="Initial value, as JSON or EDN (nil for null); a string needs its quotes: '\"x\"'.",
)
@click.option(
    "--nil-read",
    type=click.Choice(NIL_READS),
    default=None,
    help="What a read returning nil means: 'absent' (the object is empty) or 'unknown' "
    "(Knossos's rule: matches any state). Default: unknown for Jepsen EDN and logs, "
    "absent for JSON Lines, unless the metadata line says.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Input format. Default: chosen by content.",
)
@click.option(
    "--independent",
    is_flag=True,
    help="Values are Jepsen independent tuples [key value]: unwrap them and check each key alone.",
)
@option(
    "time budget",
    type=click.FloatRange(min=0),  # 0 allowed: unknown at once (explore's must be > 0)
    help="Time budget per file, reading included; past it the verdict is unknown (exit 3). "
    "Default: none for linearizability, 60 for the --consistency searches.",
)
@option(
    "memory budget",
    "memory",
    type=click.FloatRange(min=1),
    default=2048.0,
    show_default=True,
    metavar="MB",
    help="Memory budget: the process's resident size (history, search, workers) stays "
    "under it; past it the verdict is unknown (exit 3).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Worker processes sharing the partitions (keys). Default: one per core, when "
    "there are enough operations to pay. With several files: a local Dask cluster of N "
    "processes judging the files.",
)
@scheduler_option
@option("json output", help="Print the result as JSON.")
@option(
    "artifact directory",
    help="Write each history's HTML report (DIR/NAME.html) and, when invalid, its minimal "
    "sub-history (DIR/NAME.minimal.jsonl) here, unless --html/--minimize-out name them.",
)
@click.option(
    "--minimize",
    is_flag=True,
    help="For an invalid history, shrink it to a minimal sub-history that is still invalid.",
)
@click.option(
    "--minimize-out",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write the minimal sub-history as JSON Lines (implies --minimize).",
)
@option("html report", help="Write a self-contained HTML timeline of the history and its verdict.")
@option("progress off", help="No progress bar, even on a terminal.")
@click.option(
    "--consistency",
    type=click.Choice(CONSISTENCY_CHOICES),
    default=None,
    help="Check this consistency model instead of linearizability; 'all' prints the map "
    "of every model (exit 0 unless the input is bad).",
)
@click.option(
    "--session-field",
    default="session",
    show_default=True,
    metavar="FIELD",
    help="With --consistency: the event field naming an op's session; ops without it "
    "form one session per process.",
)
@option(
    "quiet period",
    "quiet_period",
    type=click.FloatRange(min=0),
    default=None,
    metavar="TIME",
    help="With --consistency: how long after the last write to a key a read must start "
    "to count as final (convergence, durability), in the history's time unit. Default: "
    "the metadata's quiet_period, else 0.",
)
def check(
    files,
    spec,
    init_text,
    nil_read,
    fmt,
    independent,
    timeout,
    memory,
    jobs,
    as_json,
    out_dir,
    minimize,
    minimize_out,
    html_out,
    quiet,
    consistency,
    session_field,
    quiet_period,
    scheduler=None,
) -> None:
    """Check recorded histories for linearizability (or, with --consistency, weaker models).

    Exit codes: 0 valid, 1 invalid, 2 bad input or usage, 3 unknown (budget exhausted).
    With several files, one line each: PATH<TAB>VERDICT.
    """
    many = len(files) > 1 or ONE_OF_MANY.get()
    if many and (minimize_out or html_out):
        raise click.UsageError("--minimize-out and --html take one history at a time")
    if consistency and (minimize or minimize_out or html_out or out_dir):
        raise click.UsageError("--minimize, --html and --out-dir go with linearizability, not --consistency")
    if not consistency and (quiet_period is not None or session_field != "session"):
        raise click.UsageError("--session-field and --quiet-period apply to --consistency")
    if consistency and jobs is not None:
        raise click.UsageError(
            "--jobs applies to linearizability; the --consistency searches run in one process"
        )
    if len(files) > 1 and (scheduler or (jobs or 1) > 1):
        from replicheck.cli.fanout import check_batch, layout_of

        params = click.get_current_context().params
        sys.exit(check_batch(check_file_task, files, params, layout_of(jobs, scheduler), quiet))
    opts = Options(
        spec,
        parse_init(init_text),
        nil_read,
        timeout,
        memory,
        jobs,
        as_json,
        many,
        quiet or many,
        minimize or bool(minimize_out),
        minimize_out,
        html_out,
        consistency,
        session_field,
        quiet_period,
        out_dir=out_dir,
    )
    for out in (minimize_out, html_out):
        if out is not None:
            _check_writable(out)
    verdicts = []
    if scheduler and not consistency and not many:
        # one history's partitions (groups of keys) as tasks on the cluster
        from replicheck.cli.fanout import layout_of, partitions_on

        opts.partitions = partitions_on(layout_of(jobs, scheduler), opts.quiet)
    for path in files:
        try:
            reading = Progress("reading", opts.quiet)
            try:
                history = read_within_budget(path, fmt, independent, opts, reading)
            finally:
                reading.close()
            judge = judge_consistency if consistency else judge_linearizable
            verdicts.append(judge(path, history, opts))
        except HistoryError as e:
            verdicts.append("error")
            _bad_input(path, str(e), as_json, many)
        except ValueError as e:  # a spec or model that cannot be made
            if (opts.spec is not None or init_text is not None) and not isinstance(e, UnicodeError):
                raise click.UsageError(str(e)) from None  # the flags': usage, not input
            verdicts.append("error")  # the file's metadata named it: this file's fault
            _bad_input(path, f"{path}:1: {e}", as_json, many)
        except OSError as e:  # --html or --minimize-out could not be written
            verdicts.append("error")
            _bad_input(path, f"cannot write {e.filename}: {e.strerror}", as_json, many)
        except RecursionError:  # a value the readers let through, too deep for a report
            verdicts.append("error")
            _bad_input(path, f"{path}: a value nested too deeply to judge", as_json, many)
        except (BudgetExhausted, MemoryError) as e:  # only reading raises these
            verdicts.append("unknown")
            ran_out = e.args[0] if isinstance(e, BudgetExhausted) else "memory budget exhausted"
            why = f"{ran_out} while reading"
            if as_json:
                d = {"valid": "unknown", "reason": why}
                click.echo(json.dumps({"path": path, **d} if many else d))
            elif many:
                click.echo(f"{path}\tunknown")
            else:
                click.echo(f"{path}: unknown\n\nUnknown: {why}; no verdict is given rather than a guess.")
        except EngineError as e:  # the cluster, not the file: one line, exit 2 or 3
            fail(e)
        except Exception as e:  # one file's defect must not stop the run
            # A bug, but the exit code must not say "not linearizable" (1) nor the run
            # stop for one file: bad input, named, and the next file.
            verdicts.append("error")
            what = f"{type(e).__name__}: {e}".splitlines()[0][:200]
            _bad_input(path, f"{path}: cannot judge this history ({what}); please report it", as_json, many)
    sys.exit(worst_exit_code(EXIT_BAD_INPUT if v == "error" else exit_code(v) for v in verdicts))


def _bad_input(path: str, message: str, as_json: bool, many: bool) -> None:
    """One line for a file that could not be judged; the run goes on to the next file."""
    if as_json:
        click.echo(json.dumps({"path": path, "valid": None, "error": message}))
    elif many:
        click.echo(f"{path}\tbad input: {message}")
    else:
        click.echo(f"error: {message}", err=True)


def _check_writable(path: str) -> None:
    """Refuse an output path that cannot be written before spending a check on it."""
    folder = os.path.dirname(os.path.abspath(path))
    problem = None
    if not os.path.isdir(folder):
        problem = f"no such directory {folder}"
    elif os.path.exists(path) and not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
        problem = "permission denied"
    if problem:
        click.echo(f"error: cannot write {path}: {problem}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def dumps(d: Any) -> str:
    """JSON for --json: infinite values (JSON has none) as the strings "Infinity" and
    "-Infinity"; NaN never gets here (the readers refuse it)."""
    try:
        return json.dumps(d, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_finite(d), allow_nan=False, default=str)


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not v - v == 0:
        return "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def read_within_budget(
    path: str, fmt: str | None, independent: bool, opts: Options, progress: Any = None
) -> History:
    """Read a history, the time and memory it takes counted in the file's budgets."""
    opts.started = time.monotonic()
    with enforced(Budget(opts.timeout, opts.memory, opts.started)):
        return read_history(path, format=fmt, independent=independent, progress=progress)


def _artifacts(path: str, opts: Options) -> tuple[str | None, str | None]:
    """The HTML report and minimal history paths for ``path``: as given, else under
    --out-dir named after the file (two files of one name get -2, -3, ...)."""
    html_out, minimize_out = opts.html_out, opts.minimize_out
    if opts.out_dir:
        if path not in opts.stems:
            stem = os.path.splitext(os.path.basename(path))[0] or "history"
            taken, n, name = set(opts.stems.values()), 1, stem
            while name in taken:
                n += 1
                name = f"{stem}-{n}"
            opts.stems[path] = name
        stem = opts.stems[path]
        html_out = html_out or in_out_dir(opts.out_dir, f"{stem}.html")
        minimize_out = minimize_out or in_out_dir(opts.out_dir, f"{stem}.minimal.jsonl")
    return html_out, minimize_out


def judge_linearizable(path: str, history: History, opts: Options) -> Any:
    html_out, minimize_out = _artifacts(path, opts)
    progress = Progress("linearizing", opts.quiet)
    hooked = PARTITION_SEARCH.set(opts.partitions)
    try:
        analysis = analyse(
            history,
            opts.spec,
            init=opts.init,
            nil_read=opts.nil_read,
            minimize=opts.minimize or bool(html_out),
            timeout=opts.timeout,
            max_memory_mb=opts.memory,
            progress=progress,
            jobs=opts.jobs,
            started=opts.started,
        )
    finally:
        PARTITION_SEARCH.reset(hooked)
        progress.close()
    result, spec, minimal = analysis.result, analysis.spec, analysis.minimal
    if minimize_out and minimal is not None:
        write_minimized(minimize_out, minimal, history, spec, analysis.spec_name)
    if html_out:
        analysis.write_html(html_out, title=path)
    if opts.as_json:
        d = result.to_dict()
        if minimal is not None and opts.minimize:
            d["minimal"] = minimal.to_dict()
        click.echo(dumps({"path": path, **d} if opts.many else d))
    elif opts.many:
        click.echo(f"{path}\t{short_word(result.valid)}")
    else:
        click.echo(render_linearizability(result, spec, path))
        if minimal is not None and opts.minimize:
            click.echo("\n" + render_minimal(minimal, spec))
        if minimize_out and minimal is not None:
            click.echo(f"minimal history written to {minimize_out}")
        if html_out:
            click.echo(f"HTML report written to {html_out}")
    return result.valid


def judge_consistency(path: str, history: History, opts: Options) -> Any:
    """One model's verdict (exit code as for linearizability), or the map of all."""
    from replicheck.checker.consistency import SEARCH_TIMEOUT, check_consistency, render_consistency

    model = opts.consistency
    assert model is not None  # called only with --consistency
    timeout = SEARCH_TIMEOUT if opts.timeout is None else opts.timeout
    result = check_consistency(
        history,
        opts.spec,
        model,
        session_field=opts.session_field or None,
        quiet=opts.quiet_period,
        timeout=timeout,
        max_memory_mb=opts.memory,
        init=opts.init,
        nil_read=opts.nil_read,
        started=opts.started,
    )
    valid = True if model == "all" else result.models[model].valid
    if opts.as_json:
        d = result.to_dict()
        if model != "all":
            d = {"model": model, "valid": valid, **d}
        click.echo(dumps({"path": path, **d} if opts.many else d))
    elif opts.many:
        click.echo(f"{path}\t{short_word(valid) if model != 'all' else result.summary()}")
    else:
        click.echo(render_consistency(result, path))
    return valid


def check_file_task(params: dict) -> tuple[int | str, str]:
    """Judge one file of a batch as ``check`` would among many: (exit code, its report line),
    or ("usage", message) when the options themselves are wrong."""
    from replicheck.engine import capture_stdout

    token = ONE_OF_MANY.set(True)
    try:
        return capture_stdout(_invoke_check, params)
    finally:
        ONE_OF_MANY.reset(token)


def _invoke_check(params: dict) -> int | str:
    try:
        assert check.callback is not None
        check.callback(**params)
    except SystemExit as e:
        return int(e.code or 0)
    except click.UsageError as e:
        return f"usage: {e.message}"
    return 0
