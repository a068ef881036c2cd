"""`replicheck check FILE...`: judge recorded histories."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from replicheck.checker import HistoryError, check as check_history, read_history, resolve_spec
from replicheck.checker.formats import FORMATS
from replicheck.checker.linearizable import Budget, check_ops
from replicheck.checker.report import render_json, render_text
from replicheck.checker.specs import NIL_READS, NO_INIT

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
def check(files, spec, init_text, nil_read, fmt, timeout, memory, as_json) -> None:
    """Check recorded histories for linearizability.

    Exit codes: 0 valid, 1 invalid, 2 bad input or usage, 3 unknown (budget exhausted).
    With several files, one line each: PATH<TAB>VERDICT.
    """
    init = parse_init(init_text)
    verdicts = []
    many = len(files) > 1
    for path in files:
        try:
            history = read_history(path, format=fmt)
            spec_obj = resolve_spec(history, spec, init=init, nil_read=nil_read)
            result = check_ops(history.ops, spec_obj, Budget(timeout, memory), history=history)
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
        if as_json:
            click.echo(render_json(result, path if many else None))
        elif many:
            click.echo(f"{path}\t{_short(result.valid)}")
        else:
            click.echo(render_text(result, spec_obj, path))
    sys.exit(exit_code(verdicts))


def _short(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")
