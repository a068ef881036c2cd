"""The protocol flags `simulate` and `explore` share, and their mapping to model config names."""

from __future__ import annotations

import shlex

import click

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


def protocol_options(f):
    """Add every protocol flag to a click command."""
    for flag, name, help_ in reversed(_FLAGS):
        f = click.option(flag, name.replace("-", "_"), is_flag=True, help=help_)(f)
    for flag, name, help_ in reversed(_REPEATED):
        f = click.option(flag, name.replace("-", "_"), multiple=True, metavar="SPEC", help=help_)(f)
    for flag, name, help_ in reversed(_VALUED):
        f = click.option(flag, name.replace("-", "_"), default=None, metavar="V", help=help_)(f)
    return f


def collect_protocol_options(params: dict) -> tuple[dict, str]:
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
