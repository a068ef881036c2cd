"""`replicheck simulate` and `replicheck compare`: run replication models on the simulator."""

from __future__ import annotations

import json

import click

from replicheck.checker import write_jsonl
from replicheck.model.config import ConfigError, make_config, run

from .artifacts import in_out_dir
from .protocol_options import TopologyCommand, collect_protocol_options
from .vocabulary import option


@click.command(cls=TopologyCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("topology", metavar="TOPOLOGY")
@option("seed")
@option(
    "history file",
    help="write the history here (JSON Lines) [DIR/simulate-TOPOLOGY-seedS.jsonl with --out-dir; else none]",
)
@option("artifact directory", help="where the history goes unless --out names it; nothing is written unasked")
@option("json output", help="print the summary as JSON")
def simulate(topology: str, seed: int, out: str | None, out_dir: str | None, as_json: bool, **params) -> None:
    """Simulate TOPOLOGY (see the list below) and record its history.

    \b
    replicheck simulate leader-follower --replication async --reads replica --seed 1 --out h.jsonl
    replicheck check h.jsonl
    """
    opts, words = collect_protocol_options(params)
    opts["seed"] = seed
    source = f"replicheck simulate {topology} {words} --seed {seed}".replace("  ", " ")
    try:
        cfg = make_config(topology, opts, source=source)
        result = run(cfg)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if out_dir and not out:
        out = in_out_dir(out_dir, f"simulate-{topology}-seed{seed}.jsonl")
    if out:
        try:
            write_jsonl(out, result.events, result.meta)
        except OSError as e:
            raise click.UsageError(f"--out {out}: cannot write it: {e.strerror or e}") from None
    summary = result.summary()
    if as_json:
        click.echo(json.dumps({"source": source, **summary, "out": out}, indent=2, sort_keys=True))
        return
    _print_summary(source, summary, out)


def _print_summary(source: str, s: dict, out: str | None) -> None:
    click.echo(f"{source}")
    click.echo(
        f"seed {s['seed']}; {s['operations']} operations in {s['virtual_time_ms']:g} ms of virtual time: "
        + ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
    )
    net = s["network"]
    click.echo(
        f"network: {net['sent']} messages sent, {net['delivered']} delivered, {net['lost']} lost, "
        f"{net['duplicated']} duplicated, {net['partitioned']} cut by partitions"
    )
    if s["faults"]:
        click.echo(f"faults injected ({len(s['faults'])}):")
        for f in s["faults"]:
            click.echo(f"  {f['time'] / 1e6:>9.3f} ms  {f['f']} {json.dumps(f['value'])}")
    else:
        click.echo("faults injected: none")
    click.echo("replicas at the end:")
    for node, st in s["final_states"].items():
        state = json.dumps(st.get("state"), sort_keys=True)
        if len(state) > 60:
            state = state[:57] + "..."
        rest = ", ".join(f"{k} {v}" for k, v in st.items() if k not in ("state", "up"))
        click.echo(f"  {node}: {'up' if st['up'] else 'DOWN'}{', ' + rest if rest else ''}, state {state}")
    m = s["measurements"]
    lag = m.get("replication_lag_ms", {})
    if lag.get("count"):
        click.echo(f"replication lag: median {lag['median']} ms, p99 {lag['p99']} ms, max {lag['max']} ms")
    for k, v in m.items():
        if k != "replication_lag_ms":
            click.echo(f"{k.replace('_', ' ')}: {json.dumps(v)}")
    if out:
        click.echo(f"history written to {out}; judge it with: replicheck check {out}")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@option("seed", help="seed for every run")
# per run of each replication mode, unlike record's --ops (in all); fewer than 20 measure nothing
@option("operations", type=click.IntRange(min=20), default=2000, help="operations per run")
@option("replica count", "nodes", type=click.IntRange(min=2), default=3, metavar="N", help="replicas")
@option(
    "latency", "latency", default="exponential:1", metavar="DIST", help="link latency distribution, in ms"
)
@option("json output", help="print the table as data")
def compare(seed: int, ops: int, nodes: int, latency: str, as_json: bool) -> None:
    """Measure sync vs semi-sync vs async leader-follower replication, side by side."""
    from replicheck.model.compare import compare_replication

    try:
        rows = compare_replication(seed=seed, ops=ops, nodes=nodes, latency=latency)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if as_json:
        click.echo(
            json.dumps({"seed": seed, "ops": ops, "nodes": nodes, "latency": latency, "rows": rows}, indent=2)
        )
        return
    headers = [
        ("replication", "replication"),
        ("write_latency_median_ms", "write p50 ms"),
        ("write_latency_p99_ms", "write p99 ms"),
        ("acked_writes_lost_on_leader_crash", "acked lost on crash"),
        ("replication_lag_median_ms", "lag p50 ms"),
        ("stale_read_rate", "stale reads"),
        ("write_availability_replica_down", "writes ok, replica down"),
    ]
    table = [[h for _, h in headers]]
    for row in rows:
        cells = []
        for k, _ in headers:
            v = row[k]
            cells.append(
                f"{v:.1%}" if k in ("stale_read_rate", "write_availability_replica_down") else str(v)
            )
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    click.echo(f"leader-follower, {nodes} nodes, {ops} ops per run, latency {latency}, seed {seed}")
    for i, r in enumerate(table):
        click.echo("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
