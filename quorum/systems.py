"""Quorum systems and properties as values (no z3 here: ``prove.py`` decides them).

A quorum system is a set of named nodes plus, for each *kind* of quorum ("read",
"write", "phase1", ...), a monotone predicate saying which node sets are quorums of
that kind. Predicates are built from one atom, ``AtLeast`` (the weighted count of
member nodes reaches a threshold), combined with ``AllOf`` and ``AnyOf``. That is
enough for thresholds, Cassandra's consistency levels, weighted votes, Flexible Paxos
and grids, and it is what lets the encoder (``quorum/prove.py``) find groups of
interchangeable nodes and count them instead of naming them one by one.

Properties:

- ``Intersects(a, b)``: every quorum of kind ``a`` shares a node with every quorum of
  kind ``b``. Refuted by two disjoint quorums.
- ``Available(kind, f)``: whichever ``f`` nodes are down, a quorum of that kind is
  still made of live nodes. Refuted by a failure set.
- ``SurvivesDomainLoss(kind)``: the same with a whole failure domain (datacenter) down.
- ``FaultTolerance(kind)`` and ``Load(kind)`` are measurements (Naor & Wool 1998): the
  largest ``f`` for which ``Available`` holds, and the smallest, over all strategies
  for picking quorums, of the busiest node's access probability.

A claim is *proved* when Z3 finds its negation unsatisfiable, *refuted* with a
counterexample that names nodes, or *unknown* when the solver's time budget runs out;
nothing here guesses.

Partial quorums (W + R <= N) do not intersect, so the interesting question becomes how
often a read is stale: see ``quorum/staleness.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from replicheck.checker.verdict import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, UNKNOWN_VERDICT

__all__ = [
    "AtLeast",
    "AllOf",
    "AnyOf",
    "Predicate",
    "holds",
    "QuorumSystem",
    "QuorumSpecError",
    "threshold",
    "sloppy",
    "multi_dc",
    "weighted",
    "flexible_paxos",
    "grid",
    "LEVELS",
    "Intersects",
    "Available",
    "SurvivesDomainLoss",
    "FaultTolerance",
    "Load",
    "Property",
    "NodeSets",
    "PropertyResult",
    "CheckReport",
    "default_properties",
    "PROVED",
    "REFUTED",
    "UNKNOWN_VERDICT",
    "MEASURED",
]


class QuorumSpecError(ValueError):
    """A quorum system or property that cannot exist (W > N, unknown level, ...)."""


# ---------------------------------------------------------------------------
# Predicates


@dataclass(frozen=True)
class AtLeast:
    """Sum of the weights of the quorum's members listed here is at least ``k``."""

    weights: tuple[tuple[str, int], ...]
    k: int


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Predicate, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Predicate, ...]


Predicate = AtLeast | AllOf | AnyOf


def holds(predicate: Predicate, members: Iterable[str]) -> bool:
    """Evaluate a predicate on a concrete node set (the oracle Z3 is checked against)."""
    chosen = members if isinstance(members, (set, frozenset)) else set(members)
    if isinstance(predicate, AtLeast):
        return sum(w for node, w in predicate.weights if node in chosen) >= predicate.k
    if isinstance(predicate, AllOf):
        return all(holds(p, chosen) for p in predicate.parts)
    return any(holds(p, chosen) for p in predicate.parts)


def _count(nodes: Sequence[str], k: int) -> AtLeast:
    return AtLeast(tuple((n, 1) for n in nodes), k)


# ---------------------------------------------------------------------------
# Systems


@dataclass(frozen=True)
class QuorumSystem:
    """Nodes, one monotone predicate per quorum kind, and the intersections it claims.

    ``domains`` are failure domains (datacenters) that can be lost as a whole.
    ``fallbacks`` marks a sloppy system: a quorum may use k fallback nodes only while k
    preferred nodes are down, which counterexamples spell out.
    """

    description: str
    nodes: tuple[str, ...]
    quorums: tuple[tuple[str, Predicate], ...]
    claims: tuple[tuple[str, str], ...]
    domains: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fallbacks: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.quorums)

    def predicate(self, kind: str) -> Predicate:
        for name, predicate in self.quorums:
            if name == kind:
                return predicate
        raise QuorumSpecError(f"no {kind!r} quorums in {self.description}; kinds are {', '.join(self.kinds)}")

    def is_quorum(self, kind: str, members: Iterable[str]) -> bool:
        return holds(self.predicate(kind), members)

    @property
    def preferred(self) -> tuple[str, ...]:
        return tuple(n for n in self.nodes if n not in set(self.fallbacks))

    def to_dict(self) -> dict:
        return {
            "description": self.description,
            "nodes": list(self.nodes),
            "kinds": list(self.kinds),
            "claims": [list(c) for c in self.claims],
            "domains": {name: list(members) for name, members in self.domains},
            "fallbacks": list(self.fallbacks),
        }


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise QuorumSpecError(message)


def _check_size(name: str, value: int, n: int, what: str = "N") -> None:
    _require(isinstance(value, int) and 1 <= value <= n, f"{name}={value} must be between 1 and {what}={n}")


def threshold(n: int, w: int, r: int) -> QuorumSystem:
    """N replicas; a write needs W acknowledgements, a read R replies."""
    _require(isinstance(n, int) and n >= 1, f"N={n} must be at least 1")
    _check_size("W", w, n)
    _check_size("R", r, n)
    nodes = tuple(f"n{i}" for i in range(1, n + 1))
    return QuorumSystem(
        f"threshold N={n} W={w} R={r}",
        nodes,
        (("write", _count(nodes, w)), ("read", _count(nodes, r))),
        (("read", "write"), ("write", "write")),
    )


def sloppy(n: int, w: int, r: int, fallbacks: int) -> QuorumSystem:
    """Dynamo-style sloppy quorum: N preferred nodes, ``fallbacks`` stand-ins.

    An operation goes to the first N healthy nodes of the preference list extended by
    the fallbacks; a fallback holds a hinted write until it can hand it off. A set of W
    (or R) nodes is therefore a quorum as soon as it has at most as many fallbacks as
    there are preferred nodes outside it, which always holds when W <= N. The hint is
    not visible to reads before hand-off, so the prover counts only preferred nodes
    toward intersection: reads meet writes exactly when W + R > N + 2K.
    """
    _require(isinstance(n, int) and n >= 1, f"N={n} must be at least 1")
    _check_size("W", w, n)
    _check_size("R", r, n)
    _require(isinstance(fallbacks, int) and fallbacks >= 0, f"fallback count {fallbacks} must be >= 0")
    preferred = tuple(f"p{i}" for i in range(1, n + 1))
    extra = tuple(f"f{i}" for i in range(1, fallbacks + 1))
    nodes = preferred + extra
    return QuorumSystem(
        f"sloppy N={n} W={w} R={r} fallbacks={fallbacks}",
        nodes,
        (("write", _count(nodes, w)), ("read", _count(nodes, r))),
        (("read", "write"), ("write", "write")),
        fallbacks=extra,
    )


LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM", "ALL")


def _level_predicate(level: str, dcs: dict[str, tuple[str, ...]], coordinator: str | None) -> Predicate:
    everyone = tuple(n for members in dcs.values() for n in members)
    if level in ("ONE", "TWO", "THREE"):
        needed = ("ONE", "TWO", "THREE").index(level) + 1
        _require(needed <= len(everyone), f"{level} needs {needed} replicas but there are {len(everyone)}")
        return _count(everyone, needed)
    if level == "QUORUM":
        return _count(everyone, len(everyone) // 2 + 1)
    if level == "ALL":
        return _count(everyone, len(everyone))
    if level == "EACH_QUORUM":
        return AllOf(tuple(_count(m, len(m) // 2 + 1) for m in dcs.values()))
    _require(
        coordinator is not None, f"{level} needs a coordinator datacenter, e.g. {level}@{next(iter(dcs))}"
    )
    members = dcs[coordinator]  # type: ignore[index]
    return _count(members, 1 if level == "LOCAL_ONE" else len(members) // 2 + 1)


def parse_level(text: str, dcs: Iterable[str], coordinator: str | None = None) -> tuple[str, str | None]:
    """``"LOCAL_QUORUM@east"`` -> ("LOCAL_QUORUM", "east"), validated."""
    level, _, at = text.strip().partition("@")
    level = level.strip().upper()
    _require(level in LEVELS, f"unknown consistency level {level!r}; known: {', '.join(LEVELS)}")
    dc = at.strip() or coordinator
    names = list(dcs)
    _require(
        dc is None or dc in names, f"datacenter {dc!r} does not exist; datacenters are {', '.join(names)}"
    )
    return level, dc


def multi_dc(dcs: dict[str, int], write: str, read: str, coordinator: str | None = None) -> QuorumSystem:
    """Cassandra-style replication: ``dcs`` maps datacenter -> replication factor.

    ``write``/``read`` are levels such as ``"QUORUM"`` or ``"LOCAL_QUORUM@east"``; a
    LOCAL_* level counts only replicas in its coordinator's datacenter (``@dc`` or
    ``coordinator``). Node names are the datacenter name followed by an index.
    """
    _require(len(dcs) >= 1, "at least one datacenter is needed")
    for name, rf in dcs.items():
        _require(bool(name) and name.isidentifier(), f"datacenter name {name!r} must be a plain word")
        _require(
            isinstance(rf, int) and rf >= 1, f"datacenter {name} needs a replication factor >= 1, got {rf}"
        )
    members = {name: tuple(f"{name}{i}" for i in range(1, rf + 1)) for name, rf in dcs.items()}
    w_level, w_dc = parse_level(write, dcs, coordinator)
    r_level, r_dc = parse_level(read, dcs, coordinator)
    nodes = tuple(n for m in members.values() for n in m)
    label = lambda lvl, dc: lvl + (f"@{dc}" if lvl.startswith("LOCAL") else "")  # noqa: E731
    layout = ",".join(f"{k}={v}" for k, v in dcs.items())
    return QuorumSystem(
        f"multi-dc {layout} write={label(w_level, w_dc)} read={label(r_level, r_dc)}",
        nodes,
        (
            ("write", _level_predicate(w_level, members, w_dc)),
            ("read", _level_predicate(r_level, members, r_dc)),
        ),
        (("read", "write"), ("write", "write")),
        domains=tuple(members.items()),
    )


def weighted(weights: dict[str, int], w: int | None = None, r: int | None = None) -> QuorumSystem:
    """Gifford's weighted voting: a quorum gathers at least W (or R) votes.

    W and R default to a majority of all votes.
    """
    _require(len(weights) >= 1, "at least one node is needed")
    for node, votes in weights.items():
        _require(
            bool(node) and node.replace("-", "_").isidentifier(), f"node name {node!r} must be a plain word"
        )
        _require(isinstance(votes, int) and votes >= 0, f"node {node} has {votes} votes; votes must be >= 0")
    total = sum(weights.values())
    _require(total >= 1, "the total number of votes must be at least 1")
    w = total // 2 + 1 if w is None else w
    r = total // 2 + 1 if r is None else r
    _check_size("W", w, total, "total votes")
    _check_size("R", r, total, "total votes")
    atom = lambda k: AtLeast(tuple(weights.items()), k)  # noqa: E731
    layout = ",".join(f"{k}={v}" for k, v in weights.items())
    return QuorumSystem(
        f"weighted {layout} W={w} R={r}",
        tuple(weights),
        (("write", atom(w)), ("read", atom(r))),
        (("read", "write"), ("write", "write")),
    )


def flexible_paxos(n: int, q1: int, q2: int) -> QuorumSystem:
    """Flexible Paxos (Howard et al. 2016): only phase-1 and phase-2 quorums must meet."""
    _require(isinstance(n, int) and n >= 1, f"N={n} must be at least 1")
    _check_size("Q1", q1, n)
    _check_size("Q2", q2, n)
    nodes = tuple(f"n{i}" for i in range(1, n + 1))
    return QuorumSystem(
        f"flexible-paxos N={n} Q1={q1} Q2={q2}",
        nodes,
        (("phase1", _count(nodes, q1)), ("phase2", _count(nodes, q2))),
        (("phase1", "phase2"),),
    )


def grid(rows: int, cols: int) -> QuorumSystem:
    """Grid protocol (Cheung, Ammar & Ahamad 1990) on a rows x cols grid.

    A read quorum has one node from every column; a write quorum has a whole column
    plus one node from every column. Node ``r2c3`` is row 2, column 3.
    """
    _require(
        isinstance(rows, int) and rows >= 1 and isinstance(cols, int) and cols >= 1,
        f"grid {rows}x{cols} needs at least one row and one column",
    )
    column = [tuple(f"r{i}c{j}" for i in range(1, rows + 1)) for j in range(1, cols + 1)]
    nodes = tuple(f"r{i}c{j}" for i in range(1, rows + 1) for j in range(1, cols + 1))
    cover = tuple(_count(c, 1) for c in column)
    full = AnyOf(tuple(_count(c, rows) for c in column))
    return QuorumSystem(
        f"grid {rows}x{cols}",
        nodes,
        (("write", AllOf((full,) + cover)), ("read", AllOf(cover))),
        (("read", "write"), ("write", "write")),
    )


# ---------------------------------------------------------------------------
# Properties and results


@dataclass(frozen=True)
class Intersects:
    a: str
    b: str

    @property
    def name(self) -> str:
        return f"{self.a}-{self.b} intersection"

    def describe(self) -> str:
        return f"every {self.a} quorum meets every {self.b} quorum"


@dataclass(frozen=True)
class Available:
    kind: str
    f: int

    @property
    def name(self) -> str:
        return f"{self.kind} availability f={self.f}"

    def describe(self) -> str:
        return f"a {self.kind} quorum survives any {self.f} node failure(s)"


@dataclass(frozen=True)
class SurvivesDomainLoss:
    kind: str

    @property
    def name(self) -> str:
        return f"{self.kind} availability with a datacenter down"

    def describe(self) -> str:
        return f"a {self.kind} quorum survives the loss of any one datacenter"


@dataclass(frozen=True)
class FaultTolerance:
    kind: str

    @property
    def name(self) -> str:
        return f"{self.kind} fault tolerance"

    def describe(self) -> str:
        return f"the most node failures that always leave a {self.kind} quorum"


@dataclass(frozen=True)
class Load:
    kind: str

    @property
    def name(self) -> str:
        return f"{self.kind} load"

    def describe(self) -> str:
        return f"the busiest node's share of {self.kind} quorums under the best strategy"


Property = Intersects | Available | SurvivesDomainLoss | FaultTolerance | Load


@dataclass(frozen=True)
class NodeSets:
    """The nodes that refute a claim: quorums that share no node, or failed nodes that
    leave no quorum (also the smallest such set, for a measured fault tolerance).

    ``down_while`` is for sloppy systems: the preferred nodes that must have been down
    while each quorum formed, so that its fallbacks could stand in.
    """

    quorums: dict[str, list[str]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    down_while: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "quorums": {k: list(v) for k, v in self.quorums.items()},
            "failed": list(self.failed),
            "down_while": {k: list(v) for k, v in self.down_while.items()},
        }


# A property's status; one that could not be decided is UNKNOWN_VERDICT, as everywhere.
PROVED, REFUTED, MEASURED = "proved", "refuted", "measured"


@dataclass(frozen=True)
class PropertyResult:
    """One property's verdict. ``value`` carries a measurement (fault tolerance as an int,
    load as a fraction string); ``counterexample`` is set exactly when refuted, or for a
    measured fault tolerance, the smallest failure set that leaves no quorum."""

    property: str
    claim: str
    status: str
    counterexample: NodeSets | None = None
    value: int | str | None = None
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "property": self.property,
            "claim": self.claim,
            "status": self.status,
            "counterexample": self.counterexample.to_dict() if self.counterexample else None,
            "value": self.value,
            "note": self.note,
        }


@dataclass(frozen=True)
class CheckReport:
    system: QuorumSystem
    encoding: str
    results: list[PropertyResult]

    @property
    def exit_code(self) -> int:
        """0 every claim holds, 1 one is refuted, 3 none refuted but one is unknown."""
        statuses = {r.status for r in self.results}
        if REFUTED in statuses:
            return EXIT_INVALID
        return EXIT_UNKNOWN if UNKNOWN_VERDICT in statuses else EXIT_VALID

    def to_dict(self) -> dict:
        return {
            "system": self.system.to_dict(),
            "encoding": self.encoding,
            "results": [r.to_dict() for r in self.results],
            "exit_code": self.exit_code,
        }


def default_properties(
    system: QuorumSystem, f: int | None = None, domain_loss: bool = False, measure: bool = True
) -> list[Property]:
    """The system's own intersection claims, availability if asked, and measurements."""
    props: list[Property] = [Intersects(a, b) for a, b in system.claims]
    kinds = system.kinds
    if f is not None:
        props += [Available(k, f) for k in kinds]
    if domain_loss:
        props += [SurvivesDomainLoss(k) for k in kinds]
    if measure:
        props += [FaultTolerance(k) for k in kinds] + [Load(k) for k in kinds]
    return props
