"""Where a run's files go: under ``--out-dir`` when given, and never the current directory
unasked (as Elle's and Maelstrom's store directories). Also the check that a flag typed
for a mode it does not apply to is a usage error, not ignored."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator

import click


def in_out_dir(out_dir: str, name: str) -> str:
    """``out_dir/name``, the directory made if missing; an unusable directory is a usage
    error naming it (exit 2), not a traceback."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise click.UsageError(f"--out-dir {out_dir}: cannot create it: {e.strerror or e}") from None
    return os.path.join(out_dir, name)


@contextlib.contextmanager
def hypothesis_home(out_dir: str | None) -> Iterator[None]:
    """Hypothesis keeps caches (and would keep its example database) in ``./.hypothesis``.
    The searches here run with no database; what Hypothesis still stores goes under
    ``out_dir/.hypothesis`` when one is given, else in a temporary directory removed
    afterwards."""
    from hypothesis import configuration

    before = getattr(configuration, "__hypothesis_home_directory", None)
    with contextlib.ExitStack() as stack:
        if out_dir is None:
            home = stack.enter_context(tempfile.TemporaryDirectory(prefix="replicheck-hypothesis-"))
        else:
            home = in_out_dir(out_dir, ".hypothesis")
        configuration.set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(before)


def typed(ctx: click.Context, names: Iterable[str]) -> list[str]:
    """The flags among the parameters ``names`` that the user typed (not defaults), as
    spelled in --help (``--out``), in declaration order."""
    wanted = set(names)
    out = []
    for p in ctx.command.get_params(ctx):
        if p.name in wanted and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE:
            out.append(p.human_readable_name if isinstance(p, click.Argument) else p.opts[0])
    return out


def refuse(ctx: click.Context, names: Iterable[str], mode: str) -> None:
    """A usage error if any of ``names`` was typed: ``mode`` says what they don't apply to."""
    wrong = typed(ctx, names)
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} does not apply to {mode}")
