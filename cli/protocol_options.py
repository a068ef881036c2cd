"""The protocol flags `simulate` and `explore` share, built from the model's option tables.

Each topology declares its options once (:mod:`replicheck.model.topology`); the commands
here read the registry when they run, not when they are imported, so a topology
registered later (a plugin, a test's toy topology) has its flags too.
"""

from __future__ import annotations

import shlex

import click

from replicheck.model.options import FLAG, REPEATED, VALUE, Option
from replicheck.model.topology import all_options, names, topologies

from .vocabulary import VocabOption


def _py_name(option: Option) -> str:
    return option.dest.replace("-", "_")


def _click_option(option: Option, owners: list[str]) -> click.Option:
    help_ = option.describe_help(" and ".join(owners) or None)
    decls = [option.flag, *option.also, _py_name(option)]
    old = option.old
    if option.kind == FLAG:
        return VocabOption(decls, hidden_aliases=old, is_flag=True, help=help_)
    if option.kind == REPEATED:
        return VocabOption(decls, hidden_aliases=old, multiple=True, metavar=option.shown_metavar, help=help_)
    return VocabOption(decls, hidden_aliases=old, default=None, metavar=option.shown_metavar, help=help_)


class TopologyCommand(click.Command):
    """A command whose protocol flags are every registered topology's, read at run time."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        taken = {p.name for p in params}
        extra = [_click_option(o, owners) for o, owners in all_options() if _py_name(o) not in taken]
        help_option = self.get_help_option(ctx)
        if help_option is not None and params and params[-1] is help_option:
            return params[:-1] + extra + [help_option]
        return params + extra

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Topologies"):
            formatter.write_dl([(t.name, t.help) for t in topologies()])
        super().format_epilog(ctx, formatter)


def topology_list() -> str:
    return ", ".join(names())


def collect_protocol_options(params: dict) -> tuple[dict, str]:
    """Options as the model's config names, and the canonical command line that made them.

    The command line lists valued options in table order (the common ones first), then
    repeated ones, then flags by name, so the order does not depend on which topology
    registered first: the same options always print, and seed, the same way.
    """
    table = [o for o, _ in all_options()]
    opts: dict = {}
    words: list[str] = []
    for o in (o for o in table if o.kind == VALUE):
        v = params.get(_py_name(o))
        if v is not None:
            opts[o.dest] = v
            words += [o.flag, str(v)]
    for o in (o for o in table if o.kind == REPEATED):
        vs = params.get(_py_name(o)) or ()
        if vs:
            opts[o.dest] = list(vs)
            for v in vs:
                words += [o.flag, str(v)]
    for o in sorted((o for o in table if o.kind == FLAG), key=lambda o: o.dest):
        if params.get(_py_name(o)):
            opts[o.dest] = True
            words.append(o.flag)
    return opts, " ".join(shlex.quote(w) for w in words)
