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

from . import topology as registry
from .clients import (  # noqa: F401  (re-exported)
    FINAL_SESSION,
    WORKLOADS,
    Client,
    HistoryLog,
    ReadRouting,
    Workload,
    final_reads,
)
from .options import FLAG, MAX_MS, REPEATED, ConfigError, canonical_names, flag_text, num, prob
from .sim import LATENCY_SYNTAX, NetworkConfig, Simulator, ms_to_ns, parse_latency
from .topology import Topology


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


def _node_at(name: str, text: str) -> tuple[str, float]:
    node, sep, at = str(text).partition("@")
    if not sep or not node:
        raise ConfigError(f"--{name} {text!r}: write NODE@MS, e.g. n1@200 or leader@200")
    return node, num(name, at, maximum=MAX_MS)


def parse_faults(opts: dict) -> list[Fault]:
    faults: list[Fault] = []
    for text in opts.get("crash", ()):
        node, at = _node_at("crash", text)
        faults.append(Fault(at, "crash", node))
    for text in opts.get("restart", ()):
        node, at = _node_at("restart", text)
        faults.append(Fault(at, "restart", node))
    for text in opts.get("partition", ()):
        at_text, sep, spec = str(text).partition(":")
        groups = tuple(tuple(n for n in g.split(",") if n) for g in spec.split("|"))
        if not sep or len(groups) < 2 or any(not g for g in groups):
            raise ConfigError(f"--partition {text!r}: write MS:GROUP|GROUP, e.g. 300:n1|n2,n3")
        faults.append(Fault(num("partition", at_text, maximum=MAX_MS), "partition", groups=groups))
    for text in opts.get("heal", ()):
        faults.append(Fault(num("heal", text, maximum=MAX_MS), "heal"))
    for text in opts.get("skew", ()):
        node, sep, ms = str(text).partition("=")
        if not sep or not node:
            raise ConfigError(f"--skew {text!r}: write NODE=MS, e.g. n2=-50")
        skew = num("skew", ms, minimum=-MAX_MS, maximum=MAX_MS)
        faults.append(Fault(0.0, "skew", node, ms=skew))
    return sorted(faults, key=lambda f: f.at_ms)


def parse_network(opts: dict) -> NetworkConfig:
    try:
        latency = parse_latency(opts.get("latency", "exponential:1"))
        links = {}
        for text in opts.get("link", ()):
            pair, sep, lat = str(text).partition("=")
            a, dash, b = pair.partition("-")
            if not sep or not dash or not a or not b:
                raise ConfigError(
                    f"--link {text!r}: write SRC-DST=LATENCY, e.g. n1-n2=constant:50 ({LATENCY_SYNTAX})"
                )
            links[(a, b)] = parse_latency(lat)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return NetworkConfig(
        latency=latency,
        links=links,
        loss=prob("loss", opts.get("loss", 0)),
        duplicate=prob("duplicate", opts.get("duplicate", 0)),
        reorder=prob("reorder", opts.get("reorder", 0)),
    )


def _topology(name: str) -> Topology:
    topo = registry.get(name)
    if topo is None:
        raise ConfigError(f"unknown topology {name!r}; choose one of {', '.join(registry.names())}")
    return topo


def _check_options(topo: Topology, opts: dict) -> None:
    """Every option named must be one this topology reads: another topology's option
    would otherwise be ignored without a word."""
    own = {o.dest for o in topo.option_table()} | {"seed"}
    for name in opts:
        if name in own:
            continue
        owners = [t.name for t in registry.topologies() if any(o.dest == name for o in t.options)]
        if owners:
            raise ConfigError(f"{flag_text(name)} applies to {' and '.join(owners)}, not to {topo.name}")
        raise ConfigError(f"unknown option --{name}")


def make_config(topology: str, opts: dict, source: str = "") -> RunConfig:
    """Validate options (names without leading dashes) into a RunConfig."""
    topo = _topology(topology)
    # an old spelling (``timeout-ms``, ``n``) names the option it was renamed to
    renamed = canonical_names(o for o, _ in registry.all_options())
    opts = {renamed.get(k, k): v for k, v in opts.items()}
    _check_options(topo, opts)
    values = topo.values(opts)
    workload = str(values["workload"])
    if workload not in WORKLOADS:
        raise ConfigError(f"--workload {workload!r}: choose one of {', '.join(WORKLOADS)}")
    cfg = RunConfig(
        topology=topology,
        seed=num("seed", opts.get("seed", 0), int, None),
        ops=num("ops", values["ops"], int, 0),
        clients=num("clients", values["clients"], int, 1),
        workload=workload,
        read_ratio=prob("read-ratio", values["read-ratio"]),
        keys=num("keys", values["keys"], int, 1),
        timeout_ms=num("client-timeout-ms", values["client-timeout-ms"], minimum=0.001),
        think_ms=num("think-ms", values["think-ms"]),
        network=parse_network(values),
        faults=parse_faults(values),
        lose_unflushed=bool(values.get("lose-unflushed", False)),
        protocol=topo.build_config(values),
        source=source,
    )
    problem = topo.workload_problem(cfg.protocol, workload)
    if problem:
        raise ConfigError(problem)
    _check_nodes_named(topo, cfg)
    return cfg


def _check_nodes_named(topo: Topology, cfg: RunConfig) -> None:
    """A link or skew naming a node the design does not have would be ignored: say so."""
    nodes = list(topo.replica_ids(cfg.protocol)) + list(topo.other_nodes(cfg.protocol))
    named: list[tuple[str, str | None]] = [
        (f"--link {a}-{b}", n) for a, b in cfg.network.links for n in (a, b)
    ]
    named += [(f"--skew {f.node}", f.node) for f in cfg.faults if f.action == "skew"]
    for flag, node in named:
        if node not in nodes:
            raise ConfigError(f"{flag}: no node {node!r} in this design (nodes: {', '.join(nodes)})")


def parse_config(text: str) -> RunConfig:
    """``"leader-follower --replication async --reads replica --seed 3"`` -> RunConfig."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ConfigError(f"cannot split {text!r}: {e}") from None
    if not words:
        raise ConfigError(f"empty configuration; start with a topology: {', '.join(registry.names())}")
    topology, rest = words[0], words[1:]
    table = [o for o, _ in registry.all_options()]
    # every spelling, shown or old (-n, -w, --timeout-ms), as the --dest the loop reads
    short = {s: "--" + o.dest for o in table for s in o.spellings if s != "--" + o.dest}
    flags = {o.dest for o in table if o.kind == FLAG}
    repeatable = {o.dest for o in table if o.kind == REPEATED}
    opts: dict = {}
    i = 0
    while i < len(rest):
        w = rest[i]
        head, eq_, tail = w.partition("=")
        if head in short:  # the command line's -w/-r, so a printed command line parses back
            w = short[head] + eq_ + tail
        if not w.startswith("--") or len(w) == 2:
            raise ConfigError(f"expected an option like --replication, got {w!r}")
        name, eq, val = w[2:].partition("=")
        if name in flags:
            opts[name] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(rest):
                raise ConfigError(f"--{name} needs a value")
            val = rest[i + 1]
            i += 1
        i += 1
        if name in repeatable:
            opts.setdefault(name, []).append(val)
        else:
            opts[name] = val
    return make_config(topology, opts, source=text)


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
        ops = [
            e
            for e in self.events
            if e["type"] != "invoke" and e["process"] != "nemesis" and e.get("session") != FINAL_SESSION
        ]
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
    return _topology(cfg.topology).build(sim, cfg.protocol)


def _apply_fault(sim: Simulator, proto: Any, cfg: RunConfig, fault: Fault, history: HistoryLog) -> None:
    def node_id(name: str) -> str:
        n = proto.current_leader() if name == "leader" else name
        if n not in sim.nodes:
            raise ConfigError(
                f"fault names node {name!r}, which does not exist (nodes: {', '.join(proto.node_ids)})"
            )
        return n

    before = len(sim.faults)
    try:
        _do_fault(sim, fault, cfg, node_id)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    record_faults(history, sim.faults[before:])


def record_faults(history: HistoryLog, faults: list[dict]) -> None:
    """The simulator's fault records, as nemesis events in the client history."""
    history.events.extend(
        {"process": "nemesis", "type": "info", "f": f["f"], "value": f["value"], "time": f["time"]}
        for f in faults
    )


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
    history = HistoryLog()
    workload = Workload(cfg.workload, sim.rng, read_ratio=cfg.read_ratio, keys=cfg.keys)
    budget = [cfg.ops]
    clients = []
    for i in range(cfg.clients):
        c = sim.add(
            Client(
                f"c{i}", proto, workload, history, budget, timeout_ms=cfg.timeout_ms, think_ms=cfg.think_ms
            )
        )
        proto.init_client(c, i)
        clients.append(c)
    for fault in cfg.faults:
        if fault.action == "skew":
            _apply_fault(sim, proto, cfg, fault, history)
        else:
            sim.at(ms_to_ns(fault.at_ms), _apply_fault, sim, proto, cfg, fault, history)
    for c in clients:
        c.start()
    last_fault = ms_to_ns(max((f.at_ms for f in cfg.faults), default=0))

    def done() -> bool:
        return budget[0] <= 0 and all(c.current is None for c in clients) and sim.now >= last_fault

    sim.run(stop=done)
    sim.run(until_ns=sim.now + ms_to_ns(settle_ms))
    # Faults are over and replication has had settle_ms: from here reads are final.
    quiet_from = sim.now
    keys = [None] if cfg.workload in ("register", "cas-register") else [f"k{i}" for i in range(cfg.keys)]
    final_reads(sim, proto, history, cfg.workload, keys, cfg.timeout_ms)
    meta = {
        "spec": _topology(cfg.topology).history_spec(cfg.protocol, cfg.workload),
        "init": None,
        "nil_read": "absent",
        "source": cfg.source or f"replicheck simulate {cfg.topology}",
        "seed": cfg.seed,
        "topology": cfg.topology,
        "protocol": cfg.protocol.describe(),
        "quiet_from": quiet_from,
    }
    if cfg.workload == "kv":
        meta["init"] = ""
    return RunResult(
        config=cfg,
        events=history.events,
        meta=meta,
        final_states=proto.final_states(),
        measurements=proto.measurements(history),
        faults=list(sim.faults),
        network=dict(sim.stats),
        end_ms=sim.now / 1e6,
    )
