"""One vocabulary for every command: which flag names which concept.

A user who learnt ``--nodes`` in ``simulate`` must not meet ``--n`` in ``quorum``, nor
``--timeout`` meaning a search budget in one command and a client timeout in another.
:data:`FLAGS` is the single table of concept -> the spellings every command shows;
``tests/test_vocabulary.py`` walks every command's parameters and checks them against it.
Old spellings users may have in scripts stay accepted, hidden from ``--help``
(:data:`DEPRECATED`).

Units: a duration in milliseconds says so in its name (``--think-ms``); the one in
seconds (``--timeout``, the run's time budget, and ``record --statement-timeout``) says
so in its metavar ``SECONDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

# concept -> the spellings shown, long name first. An option for a concept shows exactly
# these; a spelling here is never used for another concept.
FLAGS: dict[str, tuple[str, ...]] = {
    "replica count": ("--nodes", "-n"),
    "write quorum": ("-w",),
    "read quorum": ("-r",),
    "spec": ("--spec", "--model"),
    "seed": ("--seed",),
    "operations": ("--ops",),
    "clients": ("--clients",),
    "keys": ("--keys",),
    "read ratio": ("--read-ratio",),
    "workload": ("--workload",),
    "latency": ("--latency",),
    "think time": ("--think-ms",),
    "client timeout": ("--client-timeout-ms",),
    "time budget": ("--timeout",),
    "solver budget": ("--solver-timeout-ms",),
    "statement timeout": ("--statement-timeout",),
    "memory budget": ("--memory",),
    "initial value": ("--init",),
    "artifact directory": ("--out-dir",),
    "history file": ("--out",),
    "html report": ("--html",),
    "json output": ("--json",),
    "progress off": ("--no-progress",),
    "quiet period": ("--quiet-period",),
    "read repair": ("--read-repair",),
    "fallback nodes": ("--fallback",),
    "scheduler": ("--scheduler",),
}

# python parameter name (as commands receive it) -> concept, so the test can tell which
# concept an option stands for whatever its spelling.
PARAM_CONCEPT: dict[str, str] = {
    "n": "replica count",
    "nodes": "replica count",
    "w": "write quorum",
    "r": "read quorum",
    "spec": "spec",
    "seed": "seed",
    "ops": "operations",
    "clients": "clients",
    "keys": "keys",
    "read_ratio": "read ratio",
    "workload": "workload",
    "latency": "latency",
    "think_ms": "think time",
    "client_timeout_ms": "client timeout",
    "timeout": "time budget",
    "timeout_ms": "solver budget",
    "statement_timeout": "statement timeout",
    "memory": "memory budget",
    "init_text": "initial value",
    "out_dir": "artifact directory",
    "out": "history file",
    "html_out": "html report",
    "as_json": "json output",
    "quiet": "progress off",
    "quiet_period": "quiet period",
    "read_repair": "read repair",
    "fallback": "fallback nodes",
    "scheduler": "scheduler",
}

# Where a command's python name for a concept differs from the table's: (command path,
# python name) -> concept. None now: record postgres declares its statement timeout with
# the other recorders' (cli/record.py, _workload_options).
PARAM_CONCEPT_IN: dict[tuple[str, str], str] = {}

# old spelling -> the one to use; accepted where it was, hidden from --help.
DEPRECATED: dict[str, str] = {
    "--n": "--nodes",
    "--w": "-w",
    "--r": "-r",
    "--timeout-ms": "--client-timeout-ms (simulate, explore) or --solver-timeout-ms (quorum)",
    "--think": "--think-ms",
    "--quiet": "--no-progress",
    "-q": "--no-progress",
    "--timeout (record)": "--statement-timeout",
}

SECONDS = "SECONDS"

# One seed policy: every command that draws at random starts from seed 0 unless told,
# and prints the seed it used, so any run is repeated by running it again.
DEFAULT_SEED = 0

# concept -> what every command declaring it shares: the python name the command receives
# it as, and click's keywords (type, metavar, default, help, ``old`` hidden spellings), so
# that a command declares it in one line, ``@option("seed")``, and passes only what it
# says differently (its own help, mostly). Where a command's option means something else
# under the same concept (another range, another unit of work), it passes that and says why.
# No default=None here: click (>= 8.3) takes an explicit None as given, so a required
# option with it would no longer be asked for; left out, a missing value is None anyway.
SHARED: dict[str, dict[str, Any]] = {
    "seed": dict(
        name="seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="SEED",
        help="seed for every random choice; printed",
    ),
    "operations": dict(name="ops", metavar="N"),
    "history file": dict(
        name="out",
        type=click.Path(dir_okay=False, writable=True),
        metavar="FILE",
        help="history file to write",
    ),
    "artifact directory": dict(name="out_dir", type=click.Path(file_okay=False), metavar="DIR"),
    "html report": dict(name="html_out", type=click.Path(dir_okay=False, writable=True), metavar="FILE"),
    "json output": dict(name="as_json", is_flag=True),
    "progress off": dict(name="quiet", old=("--quiet", "-q"), is_flag=True),
    "time budget": dict(name="timeout", metavar=SECONDS),
}


class VocabOption(click.Option):
    """A click option that also accepts ``hidden_aliases``, spellings kept for old
    scripts but not shown by ``--help``."""

    def __init__(self, param_decls: Sequence[str], hidden_aliases: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(list(param_decls) + list(hidden_aliases), **kw)
        self.hidden_aliases = tuple(hidden_aliases)

    def _shown(self, opts: list[str]) -> list[str]:
        return [o for o in opts if o not in self.hidden_aliases]

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        opts, secondary = self.opts, self.secondary_opts
        self.opts, self.secondary_opts = self._shown(opts), self._shown(secondary)
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts, self.secondary_opts = opts, secondary

    def shown_opts(self) -> list[str]:
        return self._shown(self.opts) + self._shown(self.secondary_opts)


def option(
    concept: str, name: str | None = None, *, old: Sequence[str] | None = None, **kw: Any
) -> Callable[[Callable], Callable]:
    """``@option("seed")``: a click option spelled as :data:`FLAGS` says, declared as
    :data:`SHARED` says for the concept; ``name`` (the python name), ``old`` (hidden old
    spellings) and any click keyword given here override it:
    ``@option("replica count", "n", old=["--n"], type=int, help=...)``."""
    shared = dict(SHARED.get(concept, {}))
    shared_name, shared_old = shared.pop("name", None), shared.pop("old", ())
    name = name or shared_name
    kw = {**shared, **kw}
    decls = list(FLAGS[concept]) + ([name] if name else [])
    if "default" in kw and kw["default"] is not None and not kw.get("is_flag"):
        kw.setdefault("show_default", True)
    hidden = shared_old if old is None else old
    return click.option(*decls, cls=VocabOption, hidden_aliases=tuple(hidden), **kw)


def shown_opts(param: click.Parameter) -> list[str]:
    """The spellings ``--help`` shows for a parameter."""
    if isinstance(param, VocabOption):
        return param.shown_opts()
    return list(param.opts) + list(param.secondary_opts)
