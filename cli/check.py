"""`replicheck check FILE...`: judge recorded histories."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from replicheck.checker import HistoryError, check as check_history, read_history, resolve_spec
from replicheck.checker.formats import FORMATS
from replicheck.checker.linearizable import Budget, check_ops
from replicheck.checker.formats import write_jsonl
from replicheck.checker.history import events_for
from replicheck.checker.html import render_html
from replicheck.checker.report import render_minimal, render_text
from replicheck.checker.specs import NIL_READS, NO_INIT
from replicheck.cli.progress import Progress

EXIT_VALID, EXIT_INVALID, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3


def parse_init(text: str | None) -> Any:
    """--init takes a JSON value; `nil` is Jepsen's word for null; anything else is a string."""
    if text is None:
        return NO_INIT
    if text == "nil":
        return None
    try:
        return _tuplify(json.loads(text))
    except ValueError:
        return text


def _tuplify(v: Any) -> Any:
    return tuple(_tuplify(x) for x in v) if isinstance(v, list) else v


def exit_code(verdicts: list[Any]) -> int:
    """Bad input outranks a violation, which outranks an unknown."""
    if "error" in verdicts:
        return EXIT_BAD_INPUT
    if False in verdicts:
        return EXIT_INVALID
    if "unknown" in verdicts:
        return EXIT_UNKNOWN
    return EXIT_VALID


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--spec", help="cas-register, register, kv, set, fifo-queue, mutex, or package.module:Class. "
              "Default: the history's metadata line.")
@click.option("--init", "init_text", metavar="VALUE", help="Initial value, as JSON (nil for null).")
@click.option("--nil-read", type=click.Choice(NIL_READS), default=None,
              help="What a read returning nil means: 'absent' (the object is empty) or 'unknown' "
              "(Knossos's rule: matches any state). Default: unknown for Jepsen EDN and logs, "
              "absent for JSON Lines, unless the metadata line says.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Input format. Default: chosen by content.")
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Time budget per file; past it the verdict is unknown (exit 3).")
@click.option("--memory", type=click.FloatRange(min=1), default=2048.0, show_default=True, metavar="MB",
              help="Memory budget for the search cache; past it the verdict is unknown (exit 3).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--minimize", is_flag=True,
              help="For an invalid history, shrink it to a minimal sub-history that is still invalid.")
@click.option("--minimize-out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the minimal sub-history as JSON Lines (implies --minimize).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write a self-contained HTML timeline of the history and its verdict.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, even on a terminal.")
def check(files, spec, init_text, nil_read, fmt, timeout, memory, as_json, minimize, minimize_out,
          html_out, quiet) -> None:
    """Check recorded histories for linearizability.

    Exit codes: 0 valid, 1 invalid, 2 bad input or usage, 3 unknown (budget exhausted).
    With several files, one line each: PATH<TAB>VERDICT.
    """
    init = parse_init(init_text)
    verdicts = []
    many = len(files) > 1
    if many and (minimize_out or html_out):
        raise click.UsageError("--minimize-out and --html take one history at a time")
    minimize = minimize or bool(minimize_out)
    for path in files:
        try:
            history = read_history(path, format=fmt)
            spec_obj = resolve_spec(history, spec, init=init, nil_read=nil_read)
            progress = Progress("linearizing", quiet or many)
            try:
                result = check_ops(history.ops, spec_obj, Budget(timeout, memory), history=history,
                                   progress=progress)
            finally:
                progress.close()
        except HistoryError as e:
            verdicts.append("error")
            if many and not as_json:
                click.echo(f"{path}\tbad input: {e}")
            elif as_json:
                click.echo(json.dumps({"path": path, "valid": None, "error": str(e)}))
            else:
                click.echo(f"error: {e}", err=True)
            continue
        except ValueError as e:  # a spec that cannot be made: usage, not input
            raise click.UsageError(str(e)) from None
        verdicts.append(result.valid)
        minimal = None
        if result.valid is False and (minimize or html_out):
            minimal = shrink(history, result, spec_obj, timeout)
        if minimize_out and minimal is not None:
            meta = {**history.meta, "spec": result.spec, "source": f"minimized from {path}"}
            if hasattr(spec_obj, "initial"):
                meta.setdefault("init", spec_obj.initial)
            write_jsonl(minimize_out, events_for(minimal.ops, history.timed), _plain_meta(meta, spec_obj))
        if html_out:
            page = render_html(history, result, spec_obj, minimal, title=path,
                               text_report=render_text(result, spec_obj, path))
            with open(html_out, "w", encoding="utf-8") as fh:
                fh.write(page)
        if as_json:
            d = result.to_dict()
            if many:
                d = {"path": path, **d}
            if minimal is not None and minimize:
                d["minimal"] = minimal.to_dict()
            click.echo(json.dumps(d))
        elif many:
            click.echo(f"{path}\t{_short(result.valid)}")
        else:
            click.echo(render_text(result, spec_obj, path))
            if minimal is not None and minimize:
                click.echo("\n" + render_minimal(minimal, spec_obj))
            if minimize_out and minimal is not None:
                click.echo(f"minimal history written to {minimize_out}")
            if html_out:
                click.echo(f"HTML report written to {html_out}")
    sys.exit(exit_code(verdicts))


def shrink(history, result, spec, timeout):
    from replicheck.checker.minimize import minimize as ddmin

    return ddmin(history.ops, spec, culprit=result.op, key=result.key,
                 budget_per_check=timeout if timeout is not None else 5.0)


def _plain_meta(meta: dict, spec: Any) -> dict:
    # the metadata line must say how to judge the file with no flags
    out = dict(meta)
    if getattr(spec, "nil_read", None):
        out["nil_read"] = spec.nil_read
    return out


def _short(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")
