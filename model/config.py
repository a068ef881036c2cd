"""A simulation run as data: parse the short configuration strings, run, report.

``parse_config("leader-follower --replication async --reads replica --ops 500")`` gives a
:class:`RunConfig`; :func:`run` executes it and returns a :class:`RunResult` (client
history, replicas' final states, measurements, faults). Every malformed option raises
:class:`ConfigError` with one line that says what to write instead.

Faults are a schedule: ``--crash n1@200`` (or ``leader@200``: whichever node leads
then), ``--restart n1@400``, ``--partition 300:n1|n2,n3``, ``--heal 600``,
``--skew n2=-50`` (milliseconds).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from .clients import WORKLOADS, Client, ReadRouting, Recorder, Workload  # noqa: F401  (re-exported)
from .sim import LATENCY_SYNTAX, NetworkConfig, Simulator, ms_to_ns, parse_latency

TOPOLOGIES = ("leader-follower", "multi-leader", "leaderless")


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line a user can act on."""


@dataclass(frozen=True)
class Fault:
    at_ms: float
    action: str  # crash | restart | partition | heal | skew
    node: str | None = None
    groups: tuple = ()
    ms: float = 0.0


@dataclass
class RunConfig:
    topology: str = "leader-follower"
    seed: int = 0
    ops: int = 200
    clients: int = 4
    workload: str = "register"
    read_ratio: float = 0.5
    keys: int = 3
    timeout_ms: float = 50.0
    think_ms: float = 1.0
    network: NetworkConfig = field(default_factory=NetworkConfig)
    faults: list[Fault] = field(default_factory=list)
    lose_unflushed: bool = False
    protocol: Any = None  # the topology's own config dataclass
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "topology": self.topology,
            "protocol": self.protocol.describe() if self.protocol is not None else None,
            "seed": self.seed,
            "ops": self.ops,
            "clients": self.clients,
            "workload": self.workload,
            "network": self.network.to_dict(),
            "faults": [f.__dict__ for f in self.faults],
        }


def _num(name: str, text: Any, kind: type = float, minimum: float | None = 0) -> Any:
    try:
        v = kind(text)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name} {text!r}: expected {'an integer' if kind is int else 'a number'}") from None
    if minimum is not None and v < minimum:
        raise ConfigError(f"--{name} {text!r}: must be at least {minimum:g}")
    return v


def _prob(name: str, text: Any) -> float:
    v = _num(name, text)
    if v > 1:
        raise ConfigError(f"--{name} {text!r}: a probability is between 0 and 1")
    return v


def _node_at(name: str, text: str) -> tuple[str, float]:
    node, sep, at = str(text).partition("@")
    if not sep or not node:
        raise ConfigError(f"--{name} {text!r}: write NODE@MS, e.g. n1@200 or leader@200")
    return node, _num(name, at)


def parse_faults(opts: dict) -> list[Fault]:
    faults: list[Fault] = []
    for text in opts.get("crash", ()):
        node, at = _node_at("crash", text)
        faults.append(Fault(at, "crash", node))
    for text in opts.get("restart", ()):
        node, at = _node_at("restart", text)
        faults.append(Fault(at, "restart", node))
    for text in opts.get("partition", ()):
        at, sep, spec = str(text).partition(":")
        groups = tuple(tuple(n for n in g.split(",") if n) for g in spec.split("|"))
        if not sep or len(groups) < 2 or any(not g for g in groups):
            raise ConfigError(f"--partition {text!r}: write MS:GROUP|GROUP, e.g. 300:n1|n2,n3")
        faults.append(Fault(_num("partition", at), "partition", groups=groups))
    for text in opts.get("heal", ()):
        faults.append(Fault(_num("heal", text), "heal"))
    for text in opts.get("skew", ()):
        node, sep, ms = str(text).partition("=")
        if not sep or not node:
            raise ConfigError(f"--skew {text!r}: write NODE=MS, e.g. n2=-50")
        faults.append(Fault(0.0, "skew", node, ms=_num("skew", ms, minimum=None)))
    return sorted(faults, key=lambda f: f.at_ms)


def parse_network(opts: dict) -> NetworkConfig:
    try:
        latency = parse_latency(opts.get("latency", "exponential:1"))
        links = {}
        for text in opts.get("link", ()):
            pair, sep, lat = str(text).partition("=")
            a, dash, b = pair.partition("-")
            if not sep or not dash or not a or not b:
                raise ConfigError(f"--link {text!r}: write SRC-DST=LATENCY, e.g. n1-n2=constant:50 ({LATENCY_SYNTAX})")
            links[(a, b)] = parse_latency(lat)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return NetworkConfig(
        latency=latency,
        links=links,
        loss=_prob("loss", opts.get("loss", 0)),
        duplicate=_prob("duplicate", opts.get("duplicate", 0)),
        reorder=_prob("reorder", opts.get("reorder", 0)),
    )


def _protocol_config(topology: str, opts: dict) -> Any:
    if topology == "leader-follower":
        from .leader_follower import LeaderFollowerConfig

        rep = str(opts.get("replication", "async"))
        nodes = _num("nodes", opts.get("nodes", 3), int, 1)
        if rep.startswith("semi-sync"):
            _, sep, k = rep.partition(":")
            kk = int(k) if sep and k.isdigit() else None
            if kk is None or not 1 <= kk <= nodes - 1:
                raise ConfigError(f"--replication {rep!r}: write semi-sync:K with 1 <= K <= {nodes - 1} (followers)")
        elif rep not in ("sync", "async"):
            raise ConfigError(f"--replication {rep!r}: choose sync, async or semi-sync:K")
        failover = str(opts.get("failover", "none"))
        if failover not in ("none", "auto"):
            raise ConfigError(f"--failover {failover!r}: choose none or auto")
        try:
            reads = ReadRouting.parse(str(opts.get("reads", "leader")))
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return LeaderFollowerConfig(
            nodes=nodes,
            replication=rep,
            reads=reads,
            failover=failover,
            fencing=bool(opts.get("fencing", False)),
            heartbeat_ms=_num("heartbeat-ms", opts.get("heartbeat-ms", 10), minimum=0.001),
            failover_ms=_num("failover-ms", opts.get("failover-ms", 100), minimum=0.001),
            flush_ms=_num("flush-ms", opts.get("flush-ms", 0)),
            stale_clients=_num("stale-clients", opts.get("stale-clients", 0), int),
        )
    if topology == "leaderless":
        from .leaderless import LeaderlessConfig

        return LeaderlessConfig.from_options(opts, ConfigError, _num)
    if topology == "multi-leader":
        from .multi_leader import MultiLeaderConfig

        return MultiLeaderConfig.from_options(opts, ConfigError, _num)
    raise ConfigError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")


# Options a configuration string accepts; flags take no value.
SHORT = {"-w": "--w", "-r": "--r"}
FLAGS = {"fencing", "lose-unflushed", "sloppy"}
REPEATABLE = {"crash", "restart", "partition", "heal", "skew", "link"}


def make_config(topology: str, opts: dict, source: str = "") -> RunConfig:
    """Validate options (names without leading dashes) into a RunConfig."""
    if topology not in TOPOLOGIES:
        raise ConfigError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
    workload = str(opts.get("workload", "register"))
    if workload not in WORKLOADS:
        raise ConfigError(f"--workload {workload!r}: choose one of {', '.join(WORKLOADS)}")
    if workload == "cas-register" and topology != "leader-follower":
        why = {
            "leaderless": "leaderless replicas have no single place that orders a compare-and-set "
                          "(Cassandra needs Paxos for it)",
            "multi-leader": "each leader would decide a compare-and-set alone, so two could both succeed",
        }[topology]
        raise ConfigError(f"--workload cas-register is not supported on {topology}: {why}; use leader-follower, "
                          "or --workload register, kv or list-append")
    cfg = RunConfig(
        topology=topology,
        seed=_num("seed", opts.get("seed", 0), int, None),
        ops=_num("ops", opts.get("ops", 200), int, 0),
        clients=_num("clients", opts.get("clients", 4), int, 1),
        workload=workload,
        read_ratio=_prob("read-ratio", opts.get("read-ratio", 0.5)),
        keys=_num("keys", opts.get("keys", 3), int, 1),
        timeout_ms=_num("timeout-ms", opts.get("timeout-ms", 50), minimum=0.001),
        think_ms=_num("think-ms", opts.get("think-ms", 1)),
        network=parse_network(opts),
        faults=parse_faults(opts),
        lose_unflushed=bool(opts.get("lose-unflushed", False)),
        protocol=_protocol_config(topology, opts),
        source=source,
    )
    if topology == "multi-leader":
        from .multi_leader import check_workload

        try:
            check_workload(cfg.protocol, workload)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    return cfg


def parse_config(text: str) -> RunConfig:
    """``"leader-follower --replication async --reads replica --seed 3"`` -> RunConfig."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ConfigError(f"cannot split {text!r}: {e}") from None
    if not words:
        raise ConfigError(f"empty configuration; start with a topology: {', '.join(TOPOLOGIES)}")
    topology, rest = words[0], words[1:]
    opts: dict = {}
    i = 0
    while i < len(rest):
        w = rest[i]
        if w in SHORT:  # the command line's -w/-r, so a printed command line parses back
            w = SHORT[w]
        if not w.startswith("--") or len(w) == 2:
            raise ConfigError(f"expected an option like --replication, got {w!r}")
        name, eq, val = w[2:].partition("=")
        if name in FLAGS:
            opts[name] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(rest):
                raise ConfigError(f"--{name} needs a value")
            val = rest[i + 1]
            i += 1
        i += 1
        if name in REPEATABLE:
            opts.setdefault(name, []).append(val)
        else:
            opts[name] = val
    known = FLAGS | REPEATABLE | KNOWN_OPTIONS
    for name in opts:
        if name not in known:
            raise ConfigError(f"unknown option --{name}")
    return make_config(topology, opts, source=text)


KNOWN_OPTIONS = {
    "seed", "ops", "clients", "workload", "read-ratio", "keys", "timeout-ms", "think-ms",
    "latency", "loss", "duplicate", "reorder", "nodes",
    "replication", "reads", "failover", "heartbeat-ms", "failover-ms", "flush-ms", "stale-clients",
    "w", "r", "read-repair", "anti-entropy-ms", "fallback", "sloppy-wait-ms", "handoff-ms", "graph", "conflict",
}


# ---------------------------------------------------------------- running


@dataclass
class RunResult:
    config: RunConfig
    events: list[dict]
    meta: dict
    final_states: dict
    measurements: dict
    faults: list[dict]
    network: dict
    end_ms: float

    def summary(self) -> dict:
        ops = [e for e in self.events if e["type"] != "invoke" and e["process"] != "nemesis"]
        counts: dict[str, int] = {}
        for e in ops:
            counts[e["type"]] = counts.get(e["type"], 0) + 1
        return {
            "seed": self.config.seed,
            "operations": len(ops),
            "outcomes": counts,
            "faults": [f for f in self.faults],
            "network": self.network,
            "final_states": self.final_states,
            "measurements": self.measurements,
            "virtual_time_ms": round(self.end_ms, 3),
        }

    def to_dict(self) -> dict:
        return {"meta": self.meta, **self.summary()}


def build_protocol(sim: Simulator, cfg: RunConfig) -> Any:
    if cfg.topology == "leader-follower":
        from .leader_follower import LeaderFollower

        return LeaderFollower(sim, cfg.protocol)
    if cfg.topology == "leaderless":
        from .leaderless import Leaderless

        return Leaderless(sim, cfg.protocol)
    from .multi_leader import MultiLeader

    return MultiLeader(sim, cfg.protocol)


def _apply_fault(sim: Simulator, proto: Any, cfg: RunConfig, fault: Fault, recorder: Recorder) -> None:
    def node_id(name: str) -> str:
        n = proto.current_leader() if name == "leader" else name
        if n not in sim.nodes:
            raise ConfigError(f"fault names node {name!r}, which does not exist (nodes: {', '.join(proto.node_ids)})")
        return n

    before = len(sim.faults)
    try:
        _do_fault(sim, fault, cfg, node_id)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    record_faults(recorder, sim.faults[before:])


def record_faults(recorder: Recorder, faults: list[dict]) -> None:
    """The simulator's fault records, as nemesis events in the client history."""
    recorder.events.extend(
        {"process": "nemesis", "type": "info", "f": f["f"], "value": f["value"], "time": f["time"]} for f in faults)


def _do_fault(sim: Simulator, fault: Fault, cfg: RunConfig, node_id: Any) -> None:
    if fault.action == "crash":
        sim.crash(node_id(fault.node), lose_unflushed=cfg.lose_unflushed)
    elif fault.action == "restart":
        sim.restart(node_id(fault.node))
    elif fault.action == "partition":
        sim.partition([[node_id(n) for n in g] for g in fault.groups])
    elif fault.action == "heal":
        sim.heal()
    elif fault.action == "skew":
        sim.set_skew(node_id(fault.node), fault.ms)


def run(cfg: RunConfig, *, settle_ms: float = 500.0) -> RunResult:
    """Run the configuration to the end of its operations, then let replication settle."""
    sim = Simulator(cfg.seed, cfg.network)
    proto = build_protocol(sim, cfg)
    recorder = Recorder()
    workload = Workload(cfg.workload, sim.rng, read_ratio=cfg.read_ratio, keys=cfg.keys)
    budget = [cfg.ops]
    clients = []
    for i in range(cfg.clients):
        c = sim.add(Client(f"c{i}", proto, workload, recorder, budget, timeout_ms=cfg.timeout_ms, think_ms=cfg.think_ms))
        proto.init_client(c, i)
        clients.append(c)
    for fault in cfg.faults:
        if fault.action == "skew":
            _apply_fault(sim, proto, cfg, fault, recorder)
        else:
            sim.at(ms_to_ns(fault.at_ms), _apply_fault, sim, proto, cfg, fault, recorder)
    for c in clients:
        c.start()
    last_fault = ms_to_ns(max((f.at_ms for f in cfg.faults), default=0))

    def done() -> bool:
        return budget[0] <= 0 and all(c.current is None for c in clients) and sim.now >= last_fault

    sim.run(stop=done)
    sim.run(until_ns=sim.now + ms_to_ns(settle_ms))
    meta = {
        "spec": cfg.workload,
        "init": None,
        "nil_read": "absent",
        "source": cfg.source or f"replicheck simulate {cfg.topology}",
        "seed": cfg.seed,
        "topology": cfg.topology,
        "protocol": cfg.protocol.describe(),
    }
    if cfg.workload == "kv":
        meta["init"] = ""
    return RunResult(
        config=cfg,
        events=recorder.events,
        meta=meta,
        final_states=proto.final_states(),
        measurements=proto.measurements(recorder),
        faults=list(sim.faults),
        network=dict(sim.stats),
        end_ms=sim.now / 1e6,
    )
