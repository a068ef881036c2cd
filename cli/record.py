"""`replicheck record SYSTEM`: run a workload against a real system and record its history."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from replicheck.checker.verdict import EXIT_BAD_INPUT
from replicheck.record.driver import ROUTINGS, WORKLOADS, RecordError, Routing
from replicheck.record.secrets import Redactor

from .progress import Progress
from .vocabulary import option


@click.group()
def record() -> None:
    """Run a workload against a real system and record its history (JSON Lines).

    \b
    replicheck record postgres --primary 'host=127.0.0.1 port=5432' \\
        --replica 'host=127.0.0.1 port=5433' --routing replica --out h.jsonl
    replicheck check h.jsonl --consistency read-your-writes
    """


# What --statement-timeout bounds where the system has no statement timeout of its own.
CLIENT_TIMEOUT = "client-side timeout of each operation"


def _routing(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return str(Routing.parse(value))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _run(recorder: Callable[..., dict], params: dict[str, Any], dsns: list[str]) -> None:
    """Run a recorder on a command's ``params`` (those of :func:`_workload_options` and its
    own), print its summary; every error is one line with every password in ``dsns``
    masked, whoever wrote the message (a client library may quote the DSN)."""
    seed, out, as_json, quiet = (params.pop(k) for k in ("seed", "out", "as_json", "quiet"))
    params["timeout"] = params.pop("statement_timeout")
    redact = Redactor(dsns)
    progress = Progress("recording", quiet=quiet or as_json)
    try:
        summary = recorder(out, seed=seed, progress=progress, **params)
    except (RecordError, ValueError) as e:
        click.echo(redact(f"error: {e}"), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as e:
        click.echo(redact(f"error: cannot write the history to {out}: {e.strerror or e}"), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as e:  # a client library's own error: one line, still without secrets
        click.echo(redact(f"error: {type(e).__name__}: {e}".splitlines()[0]), err=True)
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
    label = {"postgres": "PostgreSQL", "mariadb": "MariaDB", "redis": "Redis"}.get(s["system"], s["system"])
    click.echo(
        f"  {label} {s.get('server_version', '')}".rstrip()
        + (f"; recovery_min_apply_delay: {delays}" if delays else "")
        + (f"; replication {s['replication']}" if "replication" in s else "")
    )
    if "write_ms" in s:
        w = s["write_ms"]
        click.echo(f"  write latency: p50 {w['p50']:g} ms, p99 {w['p99']:g} ms, max {w['max']:g} ms")
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
            else f"  failover: partition at {f['partitioned_at_ms']:g} ms, {f['promoted']} promoted (seen at "
            f"{f['promoted_at_ms']:g} ms), healed at {f.get('healed_at_ms', 0):g} ms"
            if "partitioned_at_ms" in f
            else f"  failover: {f.get('killed', 'primary')} killed at {f['killed_at_ms']:g} ms"
            + (f", {f['promoted']} promoted at {f['promoted_at_ms']:g} ms" if "promoted" in f else "")
            if "killed_at_ms" in f
            else f"  failover: replication cut at {f['cut_at_ms']:g} ms, "
            f"replica promoted at {f['promoted_at_ms']:g} ms"
        )
    if s["interrupted"]:
        click.echo("  interrupted: the clients stopped after the operations they had in hand")
    for why in s["clients_stopped"]:
        click.echo(f"  stopped early: {why}")
    if "pause" in s:
        p = s["pause"]
        changes = ", ".join(f"{c['status']} at {c['at_ms']:g} ms" for c in p.get("semi_sync_changes", []))
        click.echo(
            f"  pause did not happen: {p['error']}"
            if "error" in p
            else f"  paused at {p.get('paused_at_ms', 0):g} ms, resumed at {p.get('resumed_at_ms', 0):g} ms"
            + (f"; semi-sync: {changes or 'no change seen'}" if "semi_sync_changes" in p else "")
        )
    model = "durability" if "failover" in s or "pause" in s else "read-your-writes"
    click.echo(f"next: replicheck check {out} --consistency {model}")


def _workload_options(routing: str, timeout_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every recorder shares, declared once (spelled as cli/vocabulary.py
    says): the workload, its clients, their timeout, the seed and the output. What differs
    by system is where reads go by default (``routing``) and what the operation timeout
    bounds there (``timeout_help``); it reaches the recorder as ``timeout``."""
    opts: list[Callable[[Any], Any]] = [
        click.option(
            "--routing",
            default=routing,
            show_default=True,
            callback=_routing,
            metavar="|".join(ROUTINGS),
            help="where reads go",
        ),
        option(
            "workload",
            "workload",
            type=click.Choice(WORKLOADS),
            default="list-append",
            help="list-append: reads show every write they saw; register: the latest only",
        ),
        option(
            "clients",
            "clients",
            type=click.IntRange(min=1),
            default=8,
            metavar="N",
            help="concurrent clients (threads)",
        ),
        # in all, unlike compare's --ops (per run)
        option("operations", type=click.IntRange(min=1), default=5000, help="operations in all"),
        option(
            "keys",
            "keys",
            type=click.IntRange(min=1),
            default=8,
            metavar="N",
            help="rows (or keys) the clients share at a time",
        ),
        click.option(
            "--max-writes-per-key",
            type=click.IntRange(min=1),
            default=128,
            show_default=True,
            metavar="N",
            help="writes after which a row retires for a fresh one, so reads stay short (as Elle does)",
        ),
        option(
            "read ratio",
            "read_ratio",
            type=click.FloatRange(0, 1),
            default=0.5,
            metavar="P",
            help="fraction of operations that read",
        ),
        option(
            "think time",
            "think_ms",
            old=["--think"],
            type=click.FloatRange(min=0),
            default=0.0,
            metavar="MS",
            help="mean pause between a client's operations (exponential)",
        ),
        option(
            "statement timeout",
            "statement_timeout",
            old=["--timeout"],
            type=click.FloatRange(min=0.001),
            default=5.0,
            metavar="SECONDS",
            help=timeout_help,
        ),
        click.option(
            "--table",
            default="replicheck_rows",
            show_default=True,
            metavar="NAME",
            help="table (or key prefix) the workload drops and recreates",
        ),
        option("seed"),
        click.option("--durable", is_flag=True, help="fsync the history after every event"),
        option("history file", required=True),
        option("json output", help="print the summary as JSON"),
        # no -q here: record never took it
        option("progress off", old=["--quiet"], help="no progress bar"),
    ]
    return _together(*opts)


def _together(*opts: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One decorator applying ``opts`` so that --help lists them in the order given."""

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return apply


def _ms_dest(flag: str) -> str:
    name = flag.lstrip("-").replace("-", "_")
    return name if name.endswith("_ms") else f"{name}_ms"


def _ms_option(
    flag: str, help: str, default: float | None = None, type: click.ParamType | None = None
) -> Callable[[Any], Any]:
    """A time in milliseconds (metavar MS, at least 0; off unless given, or ``default``),
    reaching the recorder as the flag's name ending in _ms."""
    return click.option(
        flag,
        _ms_dest(flag),
        type=type or click.FloatRange(min=0),
        default=default,
        show_default=True,
        metavar="MS",
        help=help,
    )


def _fault_options(
    after: str,
    after_help: str,
    duration: str,
    default_ms: float,
    duration_help: str,
    node: tuple[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A fault's options: when it strikes (``after``, off unless given), how long it lasts
    (``duration``) and, with ``node`` (default, help), which node it strikes as --pause-node.
    Every value is in milliseconds and reaches the recorder as the option's name with _ms."""
    opts = [_ms_option(after, after_help), _ms_option(duration, duration_help, default_ms)]
    if node is not None:
        opts.append(
            click.option("--pause-node", default=node[0], show_default=True, metavar="NODE", help=node[1])
        )
    return _together(*opts)


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
@_workload_options("replica", "statement timeout, and the longest a wait-for-lsn read waits")
@_fault_options(
    "--failover-after",
    "cut the replica off the primary's WAL stream at MS, promote it --failover-gap later, "
    "and send every client to it (leaves the cluster failed over)",
    "--failover-gap",
    200.0,
    "how long the primary takes writes alone before the promotion",
)
@click.option(
    "--synchronous-commit",
    type=click.Choice(["off", "local", "remote_write", "on", "remote_apply"]),
    default=None,
    help="the clients' synchronous_commit (the server's when left out); with synchronous_standby_names "
    "set on the primary, how far a commit waits for a standby",
)
def postgres(**params) -> None:
    """Record clients writing to a PostgreSQL primary and reading through a routing.

    Reads go to the primary, the replica, the primary only for a window after the
    client's own write (pin-after-write:<ms>), or the replica once it has replayed the
    client's last commit (wait-for-lsn). Every written value is unique.
    """
    from replicheck.record.postgres import record_postgres

    if params.get("failover_after_ms") is None and params.get("failover_gap_ms") != 200.0:
        raise click.UsageError("--failover-gap applies with --failover-after")
    _run(record_postgres, params, [params["primary"], *params["replicas"]])


@record.command()
@click.option(
    "--primary", required=True, metavar="DSN", help="mariadb://USER[:PASSWORD]@HOST:PORT/DB of the primary"
)
@click.option(
    "--replica",
    "replicas",
    multiple=True,
    metavar="DSN",
    help="a GTID replica of the primary; repeat for several",
)
@_workload_options("primary", CLIENT_TIMEOUT)
@_ms_option(
    "--kill-primary-after",
    "kill -9 the primary at MS, promote the most advanced replica and point the others at it",
)
@_ms_option(
    "--cut-replication",
    "before the kill, stop the replicas' IO threads for MS (the primary goes on alone)",
    0.0,
)
@_fault_options(
    "--pause-replica-after",
    "SIGSTOP --pause-node at MS for --pause-ms, recording semi-sync's fallback when it happens",
    "--pause-ms",
    3000.0,
    "how long the replica stays stopped",
    node=("replica", "the replica to pause"),
)
def mariadb(**params) -> None:
    """Record clients writing to a MariaDB primary and reading through a routing.

    \b
    eval "$(scripts/mariadb-cluster.sh start DIR --semi-sync after_sync)"
    replicheck record mariadb --primary "$PRIMARY_DSN" --replica "$REPLICA_DSN" \\
        --replica "$REPLICA2_DSN" --kill-primary-after 500 --out h.jsonl
    replicheck check h.jsonl --consistency durability
    """
    from replicheck.record.mariadb import record_mariadb

    _run(record_mariadb, params, [params["primary"], *params["replicas"]])


@record.command()
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    required=True,
    metavar="URL",
    help="a member's client URL (http://HOST:PORT); repeat for each; the first takes the writes",
)
@_workload_options("primary", CLIENT_TIMEOUT)
@click.option(
    "--serializable",
    is_flag=True,
    help="serializable reads: the member answers from its own state (default: linearizable, via the leader)",
)
@_ms_option("--kill-leader-after", "kill -9 the Raft leader at MS; the clients move to the members left")
@_fault_options(
    "--pause-member-after",
    "SIGSTOP --pause-node at MS for --pause-ms",
    "--pause-ms",
    1000.0,
    "how long the member stays stopped",
    node=("n3", "the member to pause (n1, n2...)"),
)
def etcd(**params) -> None:
    """Record clients on an etcd cluster, through its v3 HTTP/JSON gateway.

    \b
    eval "$(scripts/etcd-cluster.sh start DIR)"
    replicheck record etcd --endpoint "$N1_DSN" --endpoint "$N2_DSN" --endpoint "$N3_DSN" \\
        --routing replica --serializable --out h.jsonl
    replicheck check h.jsonl
    """
    from replicheck.record.etcd import record_etcd

    _run(record_etcd, params, list(params["endpoints"]))


@record.command()
@click.option("--primary", required=True, metavar="DSN", help="redis://HOST:PORT of the primary")
@click.option("--replica", "replicas", multiple=True, metavar="DSN", help="a replica; repeat for several")
@click.option("--sentinel", "sentinels", multiple=True, metavar="DSN", help="a Sentinel; repeat for each")
@click.option(
    "--master-name",
    default="replicheck",
    show_default=True,
    metavar="NAME",
    help="the name the Sentinels monitor",
)
@_workload_options("primary", CLIENT_TIMEOUT)
@click.option(
    "--wait",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="WAIT N after every write; fewer acknowledgements in time record the write as info",
)
@_ms_option("--wait-timeout", "how long each WAIT waits for the replicas", 1000, click.IntRange(min=0))
@_fault_options(
    "--partition-after",
    "cut the primary off its replicas and Sentinels (not the clients) at MS; Sentinel fails over",
    "--partition-ms",
    3000.0,
    "how long the partition lasts (it lasts at least until a Sentinel has promoted a replica)",
)
def redis(**params) -> None:
    """Record clients on a Redis primary with replicas and Sentinels.

    \b
    eval "$(scripts/redis-cluster.sh start DIR)"
    replicheck record redis --primary "$PRIMARY_DSN" --replica "$REPLICA_DSN" \\
        --replica "$REPLICA2_DSN" --sentinel "$SENTINEL_DSN" --sentinel "$SENTINEL2_DSN" \\
        --sentinel "$SENTINEL3_DSN" --partition-after 500 --out h.jsonl
    replicheck check h.jsonl --consistency durability
    """
    from replicheck.record.redis import record_redis

    _run(record_redis, params, [params["primary"], *params["replicas"], *params["sentinels"]])
