"""`replicheck simulate` and `replicheck compare`: run replication models on the simulator."""

from __future__ import annotations

import json
import random
import shlex

import click

from replicheck.checker import write_jsonl
from replicheck.model.config import ConfigError, make_config, run

# (click option name, config option name, help)
_VALUED = [
    ("--nodes", "nodes", "replicas (leader-follower, leaderless) or leaders (multi-leader)"),
    ("--ops", "ops", "client operations in all [200]"),
    ("--clients", "clients", "concurrent client sessions [4]"),
    ("--workload", "workload", "register, cas-register (leader-follower only), kv or list-append [register]"),
    ("--read-ratio", "read-ratio", "fraction of operations that read [0.5]"),
    ("--keys", "keys", "keys for kv and list-append [3]"),
    ("--timeout-ms", "timeout-ms", "client timeout [50]"),
    ("--think-ms", "think-ms", "mean pause between a client's operations [1]"),
    ("--latency", "latency", "link latency: constant:MS, uniform:LO,HI, exponential:MEAN, pareto-exp:MEAN,P,SCALE,ALPHA"),
    ("--loss", "loss", "message loss probability"),
    ("--duplicate", "duplicate", "message duplication probability"),
    ("--reorder", "reorder", "probability a message is held back (reordering)"),
    ("--replication", "replication", "leader-follower: sync, async or semi-sync:K [async]"),
    ("--reads", "reads", "leader-follower: leader, replica, pin-after-write:MS, wait-for-position [leader]"),
    ("--failover", "failover", "leader-follower: none or auto [none]"),
    ("--heartbeat-ms", "heartbeat-ms", "heartbeat period [10]"),
    ("--failover-ms", "failover-ms", "leader silence before promotion [100]"),
    ("--flush-ms", "flush-ms", "disk flush period; 0 = every write durable [0]"),
    ("--stale-clients", "stale-clients", "leader-follower: clients that never re-discover the leader [0]"),
    ("-w", "w", "leaderless: write quorum"),
    ("-r", "r", "leaderless: read quorum"),
    ("--read-repair", "read-repair", "leaderless: none, async or blocking (ABD) [none]"),
    ("--anti-entropy-ms", "anti-entropy-ms", "leaderless: anti-entropy period, 0 = off [0]"),
    ("--fallback", "fallback", "leaderless --sloppy: fallback nodes f1..fK that stand in for silent replicas [1]"),
    ("--sloppy-wait-ms", "sloppy-wait-ms", "leaderless --sloppy: wait for preferred replicas before asking fallbacks [10]"),
    ("--handoff-ms", "handoff-ms", "leaderless --sloppy: period of hinted hand-off attempts [20]"),
    ("--graph", "graph", "multi-leader: all-to-all, ring or star [all-to-all]"),
    ("--conflict", "conflict", "multi-leader: lww, version-vectors or merge [lww]"),
]
_REPEATED = [
    ("--link", "link", "per-link latency SRC-DST=LATENCY (repeatable)"),
    ("--crash", "crash", "crash NODE@MS, NODE may be 'leader' (repeatable)"),
    ("--restart", "restart", "restart NODE@MS (repeatable)"),
    ("--partition", "partition", "partition MS:GROUP|GROUP, e.g. 300:n1|n2,n3 (repeatable)"),
    ("--heal", "heal", "heal all partitions at MS (repeatable)"),
    ("--skew", "skew", "clock skew NODE=MS (repeatable)"),
]
_FLAGS = [
    ("--fencing", "fencing", "leader-follower: epochs checked, a revived leader is fenced"),
    ("--lose-unflushed", "lose-unflushed", "crashes lose writes not yet flushed"),
    ("--sloppy", "sloppy", "leaderless: sloppy quorums with hinted handoff to --fallback nodes"),
]


def _options(f):
    for flag, name, help_ in reversed(_FLAGS):
        f = click.option(flag, name.replace("-", "_"), is_flag=True, help=help_)(f)
    for flag, name, help_ in reversed(_REPEATED):
        f = click.option(flag, name.replace("-", "_"), multiple=True, metavar="SPEC", help=help_)(f)
    for flag, name, help_ in reversed(_VALUED):
        f = click.option(flag, name.replace("-", "_"), default=None, metavar="V", help=help_)(f)
    return f


def _collect(params: dict) -> tuple[dict, str]:
    """Options as the model's config names, and the canonical command line that made them."""
    opts: dict = {}
    words: list[str] = []
    for flag, name, _ in _VALUED:
        v = params.get(name.replace("-", "_"))
        if v is not None:
            opts[name] = v
            words += [flag, str(v)]
    for flag, name, _ in _REPEATED:
        vs = params.get(name.replace("-", "_")) or ()
        if vs:
            opts[name] = list(vs)
            for v in vs:
                words += [flag, str(v)]
    for flag, name, _ in _FLAGS:
        if params.get(name.replace("-", "_")):
            opts[name] = True
            words.append(flag)
    return opts, " ".join(shlex.quote(w) for w in words)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("topology", metavar="TOPOLOGY")
@click.option("--seed", type=int, default=None, help="seed for every random choice; printed when left out")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), default=None, help="write the history here (JSON Lines)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@_options
def simulate(topology: str, seed: int | None, out: str | None, as_json: bool, **params) -> None:
    """Simulate TOPOLOGY (leader-follower, multi-leader, leaderless) and record its history.

    \b
    replicheck simulate leader-follower --replication async --reads replica --seed 1 --out h.jsonl
    replicheck check h.jsonl
    """
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    opts, words = _collect(params)
    opts["seed"] = seed
    source = f"replicheck simulate {topology} {words} --seed {seed}".replace("  ", " ")
    try:
        cfg = make_config(topology, opts, source=source)
        result = run(cfg)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if out:
        write_jsonl(out, result.events, result.meta)
    summary = result.summary()
    if as_json:
        click.echo(json.dumps({"source": source, **summary, "out": out}, indent=2, sort_keys=True))
        return
    _print_summary(source, summary, out)


def _print_summary(source: str, s: dict, out: str | None) -> None:
    click.echo(f"{source}")
    click.echo(f"seed {s['seed']}; {s['operations']} operations in {s['virtual_time_ms']:g} ms of virtual time: "
               + ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items())))
    net = s["network"]
    click.echo(f"network: {net['sent']} messages sent, {net['delivered']} delivered, {net['lost']} lost, "
               f"{net['duplicated']} duplicated, {net['partitioned']} cut by partitions")
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
@click.option("--seed", type=int, default=1, show_default=True, help="seed for every run")
@click.option("--ops", type=click.IntRange(min=20), default=2000, show_default=True, help="operations per run")
@click.option("--nodes", type=click.IntRange(min=2), default=3, show_default=True, help="replicas")
@click.option("--latency", default="exponential:1", show_default=True, help="link latency distribution")
@click.option("--json", "as_json", is_flag=True, help="print the table as data")
def compare(seed: int, ops: int, nodes: int, latency: str, as_json: bool) -> None:
    """Measure sync vs semi-sync vs async leader-follower replication, side by side."""
    from replicheck.model.leader_follower import compare_replication

    try:
        rows = compare_replication(seed=seed, ops=ops, nodes=nodes, latency=latency)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if as_json:
        click.echo(json.dumps({"seed": seed, "ops": ops, "nodes": nodes, "latency": latency, "rows": rows}, indent=2))
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
            cells.append(f"{v:.1%}" if k in ("stale_read_rate", "write_availability_replica_down") else str(v))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    click.echo(f"leader-follower, {nodes} nodes, {ops} ops per run, latency {latency}, seed {seed}")
    for i, r in enumerate(table):
        click.echo("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
