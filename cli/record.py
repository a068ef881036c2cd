"""`replicheck record SYSTEM`: run a workload against a real system and record its history."""

from __future__ import annotations

import json
import sys

import click

from replicheck.checker.verdict import EXIT_BAD_INPUT
from replicheck.record.postgres import ROUTINGS, WORKLOADS, PostgresError, Routing, record_postgres

from .progress import Progress
from .vocabulary import DEFAULT_SEED, option


@click.group()
def record() -> None:
    """Run a workload against a real system and record its history (JSON Lines).

    \b
    replicheck record postgres --primary 'host=127.0.0.1 port=5432' \\
        --replica 'host=127.0.0.1 port=5433' --routing replica --out h.jsonl
    replicheck check h.jsonl --consistency read-your-writes
    """


def _routing(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return str(Routing.parse(value))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@record.command()
@click.option("--primary", required=True, metavar="DSN", help="libpq connection string of the primary")
@click.option(
    "--replica",
    "replicas",
    multiple=True,
    metavar="DSN",
    help="libpq connection string of a streaming replica; repeat for several, reads then "
    "pick one at random (needed unless --routing primary)",
)
@click.option(
    "--routing",
    default="replica",
    show_default=True,
    callback=_routing,
    metavar="|".join(ROUTINGS),
    help="where reads go",
)
@option(
    "workload",
    "workload",
    type=click.Choice(WORKLOADS),
    default="list-append",
    show_default=True,
    help="list-append: reads show every write they saw; register: the latest only",
)
@option(
    "clients",
    "clients",
    type=click.IntRange(min=1),
    default=8,
    metavar="N",
    help="concurrent clients (threads)",
)
@option("operations", "ops", type=click.IntRange(min=1), default=5000, metavar="N", help="operations in all")
@option(
    "keys",
    "keys",
    type=click.IntRange(min=1),
    default=8,
    metavar="N",
    help="user rows the clients share at a time",
)
@click.option(
    "--max-writes-per-key",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    metavar="N",
    help="writes after which a row retires for a fresh one, so reads stay short (as Elle does)",
)
@option(
    "read ratio",
    "read_ratio",
    type=click.FloatRange(0, 1),
    default=0.5,
    metavar="P",
    help="fraction of operations that read",
)
@option(
    "think time",
    "think_ms",
    old=["--think"],
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="MS",
    help="mean pause between a client's operations (exponential)",
)
@option(
    "statement timeout",
    "timeout",
    old=["--timeout"],
    type=click.FloatRange(min=0.001),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="statement timeout, and the longest a wait-for-lsn read waits",
)
@click.option(
    "--table",
    default="replicheck_rows",
    show_default=True,
    metavar="NAME",
    help="table the workload drops and recreates on the primary",
)
@option(
    "seed",
    "seed",
    type=int,
    default=DEFAULT_SEED,
    metavar="SEED",
    help="seed for every random choice; printed",
)
@click.option(
    "--failover-after",
    "failover_after_ms",
    type=click.FloatRange(min=0),
    default=None,
    metavar="MS",
    help="cut the replica off the primary's WAL stream at MS, promote it --failover-gap later, "
    "and send every client to it (leaves the cluster failed over)",
)
@click.option(
    "--failover-gap",
    "failover_gap_ms",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    metavar="MS",
    help="how long the primary takes writes alone before the promotion",
)
@click.option("--durable", is_flag=True, help="fsync the history after every event")
@option(
    "history file",
    "out",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    help="history file to write",
)
@option("json output", "as_json", is_flag=True, help="print the summary as JSON")
@option("progress off", "quiet", old=["--quiet"], is_flag=True, help="no progress bar")
def postgres(seed: int, out: str, as_json: bool, quiet: bool, **params) -> None:
    """Record clients writing to a PostgreSQL primary and reading through a routing.

    Reads go to the primary, the replica, the primary only for a window after the
    client's own write (pin-after-write:<ms>), or the replica once it has replayed the
    client's last commit (wait-for-lsn). Every written value is unique.
    """
    if params.get("failover_after_ms") is None and params.get("failover_gap_ms") != 200.0:
        raise click.UsageError("--failover-gap applies with --failover-after")
    progress = Progress("recording", quiet=quiet or as_json)
    try:
        summary = record_postgres(out, seed=seed, progress=progress, **params)
    except (PostgresError, ValueError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as e:
        click.echo(f"error: cannot write the history to {out}: {e.strerror}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    _print_summary(summary, out, seed)


def _per_node(counts: dict) -> str:
    return ", ".join(f"{n} on {node}" for node, n in counts.items())


def _print_summary(s: dict, out: str, seed: int) -> None:
    click.echo(
        f"recorded {s['operations']} operations from {s['clients']} clients in {s['seconds']:g} s "
        f"to {out} (routing {s['routing']}, seed {seed})"
    )
    click.echo(
        f"  ok {s['ok']}, fail {s['fail']}, info {s['info']}, never completed {s['never_completed']}; "
        f"reads: {_per_node(s['reads'])}; final reads of every row: {_per_node(s['final_reads'])}"
    )
    delays = ", ".join(f"{node} {d} ms" for node, d in s.get("replay_delay_ms", {}).items())
    click.echo(
        f"  PostgreSQL {s['server_version']}" + (f"; recovery_min_apply_delay: {delays}" if delays else "")
    )
    if "replay_wait_ms" in s:
        w = s["replay_wait_ms"]
        click.echo(
            f"  wait-for-lsn: {w['reads_waited']} reads waited, "
            f"median {w['median']:g} ms, max {w['max']:g} ms"
        )
    if "failover" in s:
        f = s["failover"]
        click.echo(
            f"  failover did not happen: {f['error']}"
            if "error" in f
            else f"  failover: replication cut at {f['cut_at_ms']:g} ms, "
            f"replica promoted at {f['promoted_at_ms']:g} ms"
        )
    if s["interrupted"]:
        click.echo("  interrupted: the clients stopped after the operations they had in hand")
    for why in s["clients_stopped"]:
        click.echo(f"  stopped early: {why}")
    model = "durability" if "failover" in s else "read-your-writes"
    click.echo(f"next: replicheck check {out} --consistency {model}")
