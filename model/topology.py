"""The topology registry: every replication design the simulator and explorer can run.

A protocol module describes itself with one :class:`Topology` and calls :func:`register`
when imported: its name, help, options table, a builder from options to its config, a
factory from (simulator, config) to the protocol, and capabilities the rest of the model
asks about instead of testing the topology's name. Adding a topology is one module::

    from replicheck.model.options import Option
    from replicheck.model.topology import Topology, register

    register(Topology(name="single-node", help="one replica, no replication",
                      options=(Option("--flush-ms", "disk flush period", 0),),
                      build_config=SingleConfig.from_options, build=SingleNode))

``simulate``, ``explore``, the configuration parser and the CLI's flags all read the
registry. The built-in topologies are imported by the package (``model/__init__.py``),
so they are registered, in the order users see them listed, before any other code can
reach this module; the registry itself imports no protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .options import COMMON_OPTIONS, Option, OptionValues

__all__ = ["Topology", "register", "get", "names", "topologies", "all_options"]


def _never(cfg: Any) -> bool:
    return False


def _numbered_replicas(cfg: Any) -> list[str]:
    return [f"n{i + 1}" for i in range(cfg.nodes)]


def _no_other_nodes(cfg: Any) -> list[str]:
    return []


def _any_workload(cfg: Any, workload: str) -> str | None:
    return None


def _always_applies(cfg: Any, prop: str) -> str | None:
    return None


@dataclass(frozen=True)
class Topology:
    """One replication design family and what the simulator and explorer may ask of it.

    Required: ``name``, ``help``, ``options`` (its own; :data:`COMMON_OPTIONS` come with
    every topology), ``build_config`` (an :class:`OptionValues` -> the protocol's config,
    which has ``describe()``; raises ConfigError) and ``build`` ((simulator, config) ->
    a :class:`~replicheck.model.clients.Protocol`).

    Capabilities (defaults suit a topology without a leader, failover or clocks):

    - ``leader_based``: one leader orders writes; the protocol has ``current_leader()``,
      replicas with ``role``/``epoch``/``fenced``, and replies carry the epoch. The
      single-leader property and its invariants apply.
    - ``has_failover(cfg)``: the explorer may time the leader out; the config has
      ``failover_ms`` and ``heartbeat_ms`` and the protocol an ``orch`` with an ``epoch``.
    - ``uses_clocks(cfg)``: some decision reads a node's wall clock (so skew matters).
    - ``client_picks_node``: any node coordinates an operation, so explorer steps name it.
    - ``replica_ids(cfg)``: every storage node; ``other_nodes(cfg)``: the rest a
      partition must place (an orchestrator).
    - ``workload_problem(cfg, workload)``: why the workload cannot run, or None.
    - ``not_applicable(cfg, property)``: why a property says nothing here, or None.
    - ``history_spec(cfg, workload)``: the spec its histories name (default: the workload).
    - ``lost_acknowledged_writes(cluster)``: the topology's own durability judgement
      as (holds, explanation), or None to judge durability on the history.
    """

    name: str
    help: str
    options: tuple[Option, ...]
    build_config: Callable[[OptionValues], Any]
    build: Callable[[Any, Any], Any]
    leader_based: bool = False
    has_failover: Callable[[Any], bool] = _never
    uses_clocks: Callable[[Any], bool] = _never
    client_picks_node: bool = False
    replica_ids: Callable[[Any], list[str]] = _numbered_replicas
    other_nodes: Callable[[Any], list[str]] = _no_other_nodes
    workload_problem: Callable[[Any, str], str | None] = _any_workload
    not_applicable: Callable[[Any, str], str | None] = _always_applies
    lost_acknowledged_writes: Callable[[Any], tuple[bool, str]] | None = None
    # The spec the recorded history is judged by, from the workload's (register reads
    # that return sibling sets are a multi-value register's).
    history_spec: Callable[[Any, str], str] = lambda cfg, workload: workload

    def option_table(self) -> tuple[Option, ...]:
        return COMMON_OPTIONS + self.options

    def values(self, opts: dict) -> OptionValues:
        return OptionValues(opts, self.option_table())


_REGISTRY: dict[str, Topology] = {}  # in registration order: the built-ins first


def register(topology: Topology) -> Topology:
    """Add (or replace, on re-import) a topology; returns it, so a module can keep it.

    Topologies may share an option (the CLI shows one flag for both) only when they
    agree on its spelling and kind: one flag cannot be a value for one and a switch for
    another.
    """
    clash = {o.dest for o in COMMON_OPTIONS} & {o.dest for o in topology.options}
    if clash:
        raise ValueError(
            f"topology {topology.name!r} redeclares common option(s): {', '.join(sorted(clash))}"
        )
    for other in _REGISTRY.values():
        if other.name == topology.name:
            continue
        theirs = {o.dest: o for o in other.options}
        for o in topology.options:
            t = theirs.get(o.dest)
            if t is not None and (t.flag, t.kind) != (o.flag, o.kind):
                raise ValueError(
                    f"topology {topology.name!r} declares {o.flag} ({o.kind}), but {other.name} "
                    f"declares it as {t.flag} ({t.kind})"
                )
    _REGISTRY[topology.name] = topology
    return topology


def topologies() -> Iterator[Topology]:
    return iter(list(_REGISTRY.values()))


def names() -> list[str]:
    return [t.name for t in topologies()]


def get(name: str) -> Topology | None:
    return _REGISTRY.get(name)


def all_options() -> list[tuple[Option, list[str]]]:
    """Every option any topology accepts, once, with the topologies that declare it
    (empty for common options): what the CLI turns into flags."""
    rows: dict[str, tuple[Option, list[str]]] = {o.dest: (o, []) for o in COMMON_OPTIONS}
    for t in topologies():
        for o in t.options:
            rows.setdefault(o.dest, (o, []))[1].append(t.name)
    return list(rows.values())
