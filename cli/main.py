"""Entry point: `replicheck COMMAND ...`.

Subcommands are loaded lazily so that `replicheck check` never pays for importing z3,
networkx or hypothesis; each lives in its own module under cli/.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command; imported only when invoked or listed.
COMMANDS = {
    "check": "replicheck.cli.check:check",
    "quorum": "replicheck.cli.quorum:quorum",
    "simulate": "replicheck.cli.simulate:simulate",
    "compare": "replicheck.cli.simulate:compare",
    "explore": "replicheck.cli.explore:explore",
    "record": "replicheck.cli.record:record",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="replicheck")
def cli() -> None:
    """Model database replication and check what it promises."""


def main() -> None:
    cli(prog_name="replicheck")


if __name__ == "__main__":
    main()
