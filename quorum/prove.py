"""Quorum properties proved or refuted with Z3: the encodings and the two entry points,
``check`` and ``solve_threshold``. The only module that imports z3.

Counting encoding: two nodes are interchangeable when every atom of every predicate
gives them the same weight and they sit in the same failure domain and role; swapping
them maps quorums to quorums. So a quorum is described, up to symmetry, by how many
nodes it takes from each group: one integer per group, and two quorums can be disjoint
iff their counts fit side by side (c1 + c2 <= size) in every group. A threshold system
is one group, so N = 1001 is as cheap as N = 3.

Per-node encoding: one Boolean per node per quorum, with sums of If(b, weight, 0).
Deciding "two disjoint majorities exist" this way is a pigeonhole problem, which is
hard for the solver's Boolean search; it is kept to make that point measurable, and it
is what the counting encoding degenerates to when no two nodes are interchangeable.

Either way a refutation comes back as counts, is shrunk to a minimal one in plain
Python, and is turned into named nodes that the caller (and the tests) can check with
set arithmetic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import z3

from .systems import (
    MEASURED,
    PROVED,
    REFUTED,
    UNKNOWN_VERDICT,
    AllOf,
    AtLeast,
    Available,
    CheckReport,
    FaultTolerance,
    Intersects,
    Load,
    NodeSets,
    Predicate,
    Property,
    PropertyResult,
    QuorumSpecError,
    QuorumSystem,
    SurvivesDomainLoss,
    _require,
    default_properties,
    threshold,
)

# Count vectors enumerated for the load linear programme; beyond this, load is unknown.
LOAD_ENUMERATION_LIMIT = 200_000

# The one statement of sloppy-quorum semantics the prover, the simulator (model/leaderless.py)
# and the docs share: a read never sees a fallback's hint.
SLOPPY_NOTE = "sloppy: only home nodes count; a read cannot see a fallback's hint"


def _with_note(result: PropertyResult, note: str) -> PropertyResult:
    return dataclasses.replace(result, note=f"{result.note}; {note}" if result.note else note)


# A system is built node by node: a name per node, a weight per node in every quorum
# rule, counterexamples that list nodes. Past this many nodes that alone takes minutes
# and gigabytes (N = 10**6 took 50 s; 10**9 never ends), so larger systems are refused.
# A threshold system needs no enumeration at any size: see Encoder.arithmetic.
MAX_NODES = 100_000
# The per-node encoding is a Boolean search over every node (pigeonhole-hard); past this
# many nodes even building its formulas costs more than the solver budget it is given.
MAX_PER_NODE = 10_000


def size_error(nodes: int, what: str, threshold: bool = False) -> str | None:
    """Why a system of ``nodes`` nodes is refused, or None if it is within the limit."""
    if nodes <= MAX_NODES:
        return None
    why = (
        f"{what} has {nodes:,} nodes, past the limit of {MAX_NODES:,}: each node is built, "
        "encoded and listed in counterexamples, which past the limit takes minutes and gigabytes"
    )
    if threshold:
        why += (
            ". A threshold system needs no check at any size: a read quorum of R and a write "
            "quorum of W nodes always meet iff W + R > N, two write quorums iff 2W > N, and a "
            "quorum of K nodes survives F failures iff N - F >= K"
        )
    return why


def _atoms(predicate: Predicate):
    if isinstance(predicate, AtLeast):
        yield predicate
    else:
        for part in predicate.parts:
            yield from _atoms(part)


def partition(system: QuorumSystem) -> list[tuple[str, ...]]:
    """Groups of interchangeable nodes, in node order."""
    # A node's signature lists only the atoms that weigh it: the cost is the atoms' total
    # size, not nodes times atoms (a 1000x1000 grid has 3,000 atoms).
    weighs: dict[str, list[tuple[int, int]]] = {}
    for i, atom in enumerate(a for _, p in system.quorums for a in _atoms(p)):
        for node, weight in atom.weights:
            if weight:
                weighs.setdefault(node, []).append((i, weight))
    domain_of = {n: name for name, members in system.domains for n in members}
    fallbacks = set(system.fallbacks)
    groups: dict[tuple, list[str]] = {}
    for node in system.nodes:
        signature = (tuple(weighs.get(node, ())), domain_of.get(node), node in fallbacks)
        groups.setdefault(signature, []).append(node)
    return [tuple(g) for g in groups.values()]


class Encoder:
    def __init__(
        self, system: QuorumSystem, per_node: bool = False, timeout_ms: int = 10_000, arithmetic: bool = True
    ):
        self.system = system
        self.per_node = per_node
        self.timeout_ms = timeout_ms
        self.groups = [(n,) for n in system.nodes] if per_node else partition(system)
        # One group and plain "at least k" rules (threshold, Flexible Paxos): every answer
        # is arithmetic on the quorum sizes, so no solver is asked.
        self.arithmetic = (
            arithmetic
            and not per_node
            and len(self.groups) == 1
            and all(isinstance(p, AtLeast) for _, p in system.quorums)
        )
        self.size = [len(g) for g in self.groups]
        self.group_of = {n: i for i, g in enumerate(self.groups) for n in g}
        if per_node:
            self.encoding = "per-node"
        elif all(s == 1 for s in self.size) and len(self.size) > 1:
            self.encoding = f"counting ({len(self.groups)} singleton groups: no interchangeable nodes)"
        else:
            self.encoding = f"counting ({len(self.groups)} group{'s' if len(self.groups) != 1 else ''})"

    # -- predicates over count vectors -------------------------------------------------

    def _coefficients(self, atom: AtLeast) -> list[int]:
        coef = [0] * len(self.groups)
        for node, weight in atom.weights:
            coef[self.group_of[node]] = weight  # uniform within a group by construction
        return coef

    def formula(self, predicate: Predicate, counts: list) -> z3.BoolRef:
        """``counts[g]`` is an Int (counting) or a Bool (per-node)."""
        if isinstance(predicate, AtLeast):
            coef = self._coefficients(predicate)
            if self.per_node:
                terms = [z3.If(counts[g], c, 0) for g, c in enumerate(coef) if c]
            else:
                terms = [c * counts[g] for g, c in enumerate(coef) if c]
            return (z3.Sum(terms) if terms else z3.IntVal(0)) >= predicate.k
        parts = [self.formula(p, counts) for p in predicate.parts]
        return z3.And(parts) if isinstance(predicate, AllOf) else z3.Or(parts)

    def evaluate(self, predicate: Predicate, counts: list[int]) -> bool:
        if isinstance(predicate, AtLeast):
            return sum(c * x for c, x in zip(self._coefficients(predicate), counts)) >= predicate.k
        results = (self.evaluate(p, counts) for p in predicate.parts)
        return all(results) if isinstance(predicate, AllOf) else any(results)

    def _quorum_vars(self, tag: str, solver) -> list:
        if self.per_node:
            return [z3.Bool(f"{tag}_{g}") for g in range(len(self.groups))]
        xs = [z3.Int(f"{tag}_{g}") for g in range(len(self.groups))]
        for x, s in zip(xs, self.size):
            solver.add(x >= 0, x <= s)
        return xs

    def _value(self, model: z3.ModelRef, var) -> int:
        v = model.eval(var, model_completion=True)
        return (1 if z3.is_true(v) else 0) if self.per_node else v.as_long()

    def _solver(self, kind=z3.Solver):
        solver = kind()
        solver.set("timeout", self.timeout_ms)
        return solver

    def _nodes(self, counts: list[int], from_end: bool = False) -> list[str]:
        chosen = []
        for group, c in zip(self.groups, counts):
            chosen += list(group[len(group) - c :] if from_end else group[:c])
        order = {n: i for i, n in enumerate(self.system.nodes)}
        return sorted(chosen, key=order.__getitem__)

    def _shrink(self, predicate: Predicate, counts: list[int]) -> list[int]:
        """Drop nodes while the counts still form a quorum, so examples are minimal."""
        counts = list(counts)
        for g in range(len(counts)):
            while counts[g] > 0:
                counts[g] -= 1
                if not self.evaluate(predicate, counts):
                    counts[g] += 1
                    break
        return counts

    # -- properties --------------------------------------------------------------------

    def decide(self, prop) -> PropertyResult:
        if self.arithmetic and not isinstance(prop, SurvivesDomainLoss):
            return self._arithmetic(prop)
        if isinstance(prop, Intersects):
            return self._intersects(prop)
        if isinstance(prop, Available):
            return self._available(prop)
        if isinstance(prop, SurvivesDomainLoss):
            return self._domain_loss(prop)
        if isinstance(prop, FaultTolerance):
            return self._fault_tolerance(prop)
        if isinstance(prop, Load):
            return self._load(prop)
        raise TypeError(f"not a quorum property: {prop!r}")

    def _smallest(self, kind: str) -> int | None:
        """The fewest nodes of the one group that form a ``kind`` quorum (None: none do)."""
        atom = self.system.predicate(kind)
        assert isinstance(atom, AtLeast)
        weight = self._coefficients(atom)[0]
        if atom.k <= 0:
            return 0
        smallest = -(-atom.k // weight) if weight > 0 else None
        return smallest if smallest is not None and smallest <= self.size[0] else None

    def _arithmetic(self, prop) -> PropertyResult:
        """What the solver would answer, for a one-group system of "at least k" rules."""
        size = self.size[0]
        if isinstance(prop, Intersects):
            a, b = self._smallest(prop.a), self._smallest(prop.b)
            if a is None or b is None or a + b > size:
                return PropertyResult(prop.name, prop.describe(), PROVED)
            qa, qb = self._nodes([a]), self._nodes([b], from_end=True)
            label_a, label_b = (prop.a, prop.b) if prop.a != prop.b else (f"{prop.a} 1", f"{prop.b} 2")
            return PropertyResult(
                prop.name, prop.describe(), REFUTED, NodeSets(quorums={label_a: qa, label_b: qb})
            )
        smallest = self._smallest(prop.kind)
        # the fewest failures that leave fewer live nodes than the smallest quorum
        stop = 0 if smallest is None else size - smallest + 1
        if isinstance(prop, Available):
            if stop > min(prop.f, size):
                return PropertyResult(prop.name, prop.describe(), PROVED)
            return PropertyResult(prop.name, prop.describe(), REFUTED, NodeSets(failed=self._nodes([stop])))
        if isinstance(prop, FaultTolerance):
            if stop > size:
                return PropertyResult(
                    prop.name, prop.describe(), MEASURED, value=size, note="the empty set is a quorum"
                )
            return PropertyResult(
                prop.name,
                prop.describe(),
                MEASURED,
                NodeSets(failed=self._nodes([stop])),
                value=stop - 1,
                note=f"{stop} failure(s) can leave no {prop.kind} quorum",
            )
        if isinstance(prop, Load):
            if smallest is None:
                return PropertyResult(
                    prop.name, prop.describe(), MEASURED, value="0", note="no quorum exists"
                )
            # every minimal quorum has the same size; spread evenly, each node is in a share of them
            load = Fraction(smallest, size)
            return PropertyResult(
                prop.name,
                prop.describe(),
                MEASURED,
                value=str(load),
                note=f"{float(load):.4g} over 1 minimal quorum shape(s)",
            )
        raise TypeError(f"not a quorum property: {prop!r}")

    def _unknown(self, prop, solver) -> PropertyResult:
        return PropertyResult(
            prop.name,
            prop.describe(),
            UNKNOWN_VERDICT,
            note=f"solver gave up ({solver.reason_unknown()}) within {self.timeout_ms} ms",
        )

    def _proved_or_unknown(self, prop, solver) -> PropertyResult | None:
        """Check the claim's negation: proved if unsatisfiable, unknown if the solver gave
        up, None if satisfiable (the caller reads its counterexample from the model)."""
        verdict = solver.check()
        if verdict == z3.unsat:
            return PropertyResult(prop.name, prop.describe(), PROVED)
        if verdict == z3.unknown:
            return self._unknown(prop, solver)
        return None

    def _intersects(self, prop: Intersects) -> PropertyResult:
        pa, pb = self.system.predicate(prop.a), self.system.predicate(prop.b)
        solver = self._solver()
        xa, xb = self._quorum_vars("a", solver), self._quorum_vars("b", solver)
        solver.add(self.formula(pa, xa), self.formula(pb, xb))
        # A fallback keeps a write as a hint for the home node it stands in for and serves
        # no reads from it (Dynamo's hinted handoff): quorums that meet only at fallbacks
        # do not make a read see a write. Only home nodes count toward intersection.
        fallbacks = set(self.system.fallbacks)
        for g, s in enumerate(self.size):
            if self.groups[g][0] in fallbacks:
                continue
            solver.add(z3.Not(z3.And(xa[g], xb[g])) if self.per_node else xa[g] + xb[g] <= s)
        if (decided := self._proved_or_unknown(prop, solver)) is not None:
            return decided if not fallbacks else _with_note(decided, SLOPPY_NOTE)
        model = solver.model()
        ca = self._shrink(pa, [self._value(model, x) for x in xa])
        cb = self._shrink(pb, [self._value(model, x) for x in xb])
        qa, qb = self._nodes(ca), self._nodes(cb, from_end=True)
        label_a, label_b = (prop.a, prop.b) if prop.a != prop.b else (f"{prop.a} 1", f"{prop.b} 2")
        example = NodeSets(
            quorums={label_a: qa, label_b: qb}, down_while=self._stand_ins({label_a: qa, label_b: qb})
        )
        return PropertyResult(
            prop.name, prop.describe(), REFUTED, example, note=SLOPPY_NOTE if fallbacks else ""
        )

    def _stand_ins(self, quorums: dict[str, list[str]]) -> dict[str, list[str]]:
        """Preferred nodes that were down while a sloppy quorum used fallbacks."""
        if not self.system.fallbacks:
            return {}
        fallbacks = set(self.system.fallbacks)
        result = {}
        for label, members in quorums.items():
            used = sum(1 for n in members if n in fallbacks)
            if used:
                absent = [n for n in self.system.preferred if n not in set(members)]
                result[label] = absent[:used]
        return result

    def _failure_vars(self, solver) -> list:
        # a failure set is shaped like a quorum: a count (or a Boolean) per group
        return self._quorum_vars("down", solver)

    def _failed_total(self, ds):
        return z3.Sum([z3.If(d, 1, 0) for d in ds]) if self.per_node else z3.Sum(ds)

    def _no_quorum_alive(self, predicate: Predicate, ds):
        # Predicates are monotone: some quorum survives iff the live set itself is one.
        alive = [z3.Not(d) for d in ds] if self.per_node else [s - d for s, d in zip(self.size, ds)]
        return z3.Not(self.formula(predicate, alive))

    def _available(self, prop: Available) -> PropertyResult:
        predicate = self.system.predicate(prop.kind)
        solver = self._solver()
        ds = self._failure_vars(solver)
        solver.add(self._failed_total(ds) <= prop.f, self._no_quorum_alive(predicate, ds))
        if (decided := self._proved_or_unknown(prop, solver)) is not None:
            return decided
        failed = [self._value(solver.model(), d) for d in ds]
        return PropertyResult(prop.name, prop.describe(), REFUTED, NodeSets(failed=self._nodes(failed)))

    def _domain_loss(self, prop: SurvivesDomainLoss) -> PropertyResult:
        predicate = self.system.predicate(prop.kind)
        solver = self._solver()
        ds = self._failure_vars(solver)
        lost = z3.Int("lost_domain")
        options = []
        for index, (_, members) in enumerate(self.system.domains):
            inside = set(members)
            # Domains are unions of groups, so each group is wholly in or out.
            pattern = [
                d == (z3.BoolVal(True) if self.per_node else s)
                if group[0] in inside
                else d == (z3.BoolVal(False) if self.per_node else 0)
                for d, s, group in zip(ds, self.size, self.groups)
            ]
            options.append(z3.And([lost == index] + pattern))
        solver.add(z3.Or(options), self._no_quorum_alive(predicate, ds))
        if (decided := self._proved_or_unknown(prop, solver)) is not None:
            return decided
        model = solver.model()
        name = self.system.domains[model.eval(lost).as_long()][0]
        failed = [self._value(model, d) for d in ds]
        return PropertyResult(
            prop.name,
            prop.describe(),
            REFUTED,
            NodeSets(failed=self._nodes(failed)),
            note=f"datacenter {name} down",
        )

    def _fault_tolerance(self, prop: FaultTolerance) -> PropertyResult:
        predicate = self.system.predicate(prop.kind)
        opt = self._solver(z3.Optimize)
        ds = self._failure_vars(opt)
        total = self._failed_total(ds)
        opt.add(self._no_quorum_alive(predicate, ds))
        opt.minimize(total)
        verdict = opt.check()
        if verdict == z3.unsat:
            # No failure set can stop it (an empty set is a quorum): tolerates everything.
            return PropertyResult(
                prop.name,
                prop.describe(),
                MEASURED,
                value=len(self.system.nodes),
                note="the empty set is a quorum",
            )
        if verdict == z3.unknown:
            return self._unknown(prop, opt)
        failed = [self._value(opt.model(), d) for d in ds]
        smallest = sum(failed)
        return PropertyResult(
            prop.name,
            prop.describe(),
            MEASURED,
            NodeSets(failed=self._nodes(failed)),
            value=smallest - 1,
            note=f"{smallest} failure(s) can leave no {prop.kind} quorum",
        )

    def _minimal_shapes(self, predicate: Predicate) -> list[list[int]] | None:
        """Count vectors of the minimal quorums (None past the enumeration limit).

        Predicates are monotone, so along the largest group's axis the only minimal
        candidate for a given count of the other groups is the smallest count that makes
        a quorum: found by bisection, which takes the enumeration from the product of all
        group sizes to the product of the others times a logarithm.
        """
        groups = len(self.size)
        axis = max(range(groups), key=lambda g: self.size[g])
        others = [g for g in range(groups) if g != axis]
        space = 1
        for g in others:
            space *= self.size[g] + 1
        if space > LOAD_ENUMERATION_LIMIT:
            return None

        def place(counts: tuple, k: int) -> list[int]:
            c = [0] * groups
            for g, v in zip(others, counts):
                c[g] = v
            c[axis] = k
            return c

        def holds(counts: tuple, k: int) -> bool:
            return self.evaluate(predicate, place(counts, k))

        minimal = []
        for counts in product(*(range(self.size[g] + 1) for g in others)):
            lo, hi = 0, self.size[axis]
            if not holds(counts, hi):
                continue
            while lo < hi:
                mid = (lo + hi) // 2
                if holds(counts, mid):
                    hi = mid
                else:
                    lo = mid + 1
            c = place(counts, lo)
            if all(
                c[g] == 0 or not self.evaluate(predicate, c[:g] + [c[g] - 1] + c[g + 1 :]) for g in others
            ):
                minimal.append(c)
        return minimal

    def _load(self, prop: Load) -> PropertyResult:
        """Naor-Wool load as a linear programme over minimal quorum count vectors.

        Averaging any strategy over permutations inside each group keeps it a strategy
        and cannot raise the busiest node's load, so a node's load can be taken uniform
        within its group: sum over quorum types of p(type) * count_g / size_g.
        """
        predicate = self.system.predicate(prop.kind)
        minimal = self._minimal_shapes(predicate)
        if minimal is None:
            return PropertyResult(
                prop.name,
                prop.describe(),
                UNKNOWN_VERDICT,
                note=f"the quorum shapes exceed the enumeration limit {LOAD_ENUMERATION_LIMIT}",
            )
        if not minimal:
            return PropertyResult(prop.name, prop.describe(), MEASURED, value="0", note="no quorum exists")
        opt = self._solver(z3.Optimize)
        ps = [z3.Real(f"p_{i}") for i in range(len(minimal))]
        load = z3.Real("load")
        opt.add(*[p >= 0 for p in ps], z3.Sum(ps) == 1)
        for g, s in enumerate(self.size):
            opt.add(
                z3.Sum(
                    [p * z3.RealVal(Fraction(c[g], s)) for p, c in zip(ps, minimal) if c[g]]
                    or [z3.RealVal(0)]
                )
                <= load
            )
        opt.minimize(load)
        if opt.check() != z3.sat:
            return self._unknown(prop, opt)
        value = opt.model().eval(load)
        exact = Fraction(value.numerator_as_long(), value.denominator_as_long())
        return PropertyResult(
            prop.name,
            prop.describe(),
            MEASURED,
            value=str(exact),
            note=f"{float(exact):.4g} over {len(minimal)} minimal quorum shape(s)",
        )


# ---------------------------------------------------------------------------
# Optimisation over symbolic threshold systems


def optimise_threshold(
    write_failures: int,
    read_failures: int,
    read_write: bool,
    write_write: bool,
    n: int | None,
    max_n: int,
    timeout_ms: int,
):
    """Smallest (N, W + R, R) satisfying the requirements; None if impossible, "unknown"
    if the solver ran out of time."""
    N, W, R = z3.Ints("N W R")
    a, b, d = z3.Ints("a b d")
    requirements = [
        # Whichever f nodes fail, N - f live nodes still hold a quorum.
        z3.ForAll([d], z3.Implies(z3.And(d >= 0, d <= write_failures, d <= N), N - d >= W)),
        z3.ForAll([d], z3.Implies(z3.And(d >= 0, d <= read_failures, d <= N), N - d >= R)),
    ]
    if read_write:  # no a-node write quorum and b-node read quorum fit side by side
        requirements.append(z3.ForAll([a, b], z3.Implies(z3.And(a >= W, b >= R, a >= 0, b >= 0), a + b > N)))
    if write_write:
        requirements.append(z3.ForAll([a, b], z3.Implies(z3.And(a >= W, b >= W, a >= 0, b >= 0), a + b > N)))
    goal = z3.Tactic("qe")(z3.And(requirements))
    linear = z3.And([z3.And(list(g)) for g in goal])
    opt = z3.Optimize()
    opt.set("timeout", timeout_ms)
    opt.add(linear, W >= 1, R >= 1, W <= N, R <= N, N >= 1, N <= max_n)
    if n is not None:
        opt.add(N == n)
    opt.minimize(N)
    opt.minimize(W + R)
    opt.minimize(R)
    verdict = opt.check()
    if verdict == z3.unsat:
        return None
    if verdict == z3.unknown:
        return UNKNOWN_VERDICT
    m = opt.model()
    return m.eval(N).as_long(), m.eval(W).as_long(), m.eval(R).as_long()


# ---------------------------------------------------------------------------
# Entry points


def check(
    system: QuorumSystem,
    properties: Sequence[Property] | None = None,
    *,
    encoding: str = "auto",
    timeout_ms: int = 10_000,
) -> CheckReport:
    """Prove or refute each property with Z3.

    ``encoding``: "auto" counts nodes per group of interchangeable nodes (singleton
    groups only when nothing is interchangeable); "per-node" forces one Boolean per node
    per quorum, which is exponentially slower on threshold systems and exists to show it.
    ``timeout_ms`` bounds each solver call; running out gives status "unknown".
    """
    if properties is None:
        properties = default_properties(system)
    if encoding not in ("auto", "per-node"):
        raise QuorumSpecError(f"unknown encoding {encoding!r}; use auto or per-node")
    for prop in properties:
        kinds = (prop.a, prop.b) if isinstance(prop, Intersects) else (prop.kind,)
        for kind in kinds:
            system.predicate(kind)
        if isinstance(prop, Available):
            _require(isinstance(prop.f, int) and prop.f >= 0, f"f={prop.f} must be >= 0")
        if isinstance(prop, SurvivesDomainLoss):
            _require(bool(system.domains), f"{system.description} has no datacenters to lose")
    refused = size_error(len(system.nodes), system.description)
    _require(refused is None, refused or "")
    _require(
        encoding != "per-node" or len(system.nodes) <= MAX_PER_NODE,
        f"the per-node encoding is limited to {MAX_PER_NODE:,} nodes ({system.description} has "
        f"{len(system.nodes):,}): its Boolean search is pigeonhole-hard, and past the limit even "
        "building its formulas outlasts the solver's budget; use --encoding auto",
    )
    encoder = Encoder(system, per_node=encoding == "per-node", timeout_ms=timeout_ms)
    return CheckReport(system, encoder.encoding, [encoder.decide(p) for p in properties])


# ---------------------------------------------------------------------------
# The smallest threshold configuration meeting requirements


@dataclass(frozen=True)
class ThresholdSolution:
    """Smallest (N, then W + R, then R) meeting the requirements, or ``None`` values if
    none exists up to ``max_n``. ``verified`` is the independent ``check`` of the answer."""

    requirements: dict
    n: int | None
    w: int | None
    r: int | None
    status: str
    verified: CheckReport | None = None

    def to_dict(self) -> dict:
        return {
            "requirements": dict(self.requirements),
            "n": self.n,
            "w": self.w,
            "r": self.r,
            "status": self.status,
            "verified": self.verified.to_dict() if self.verified else None,
        }


def solve_threshold(
    write_failures: int = 0,
    read_failures: int = 0,
    read_write: bool = True,
    write_write: bool = False,
    n: int | None = None,
    max_n: int = 1001,
    timeout_ms: int = 10_000,
) -> ThresholdSolution:
    """Find the smallest threshold system (N, W, R) with Z3's optimiser.

    The requirements are written over symbolic N, W, R as universally quantified
    counting statements (e.g. "no two disjoint groups of W and R nodes fit in N") and
    Z3's quantifier elimination turns them into linear constraints before optimising;
    the answer is then re-proved by ``check`` on the concrete system.
    """
    for name, value in (("write failures", write_failures), ("read failures", read_failures)):
        _require(isinstance(value, int) and value >= 0, f"{name} must be >= 0, got {value}")
    _require(n is None or (isinstance(n, int) and n >= 1), f"N={n} must be at least 1")
    _require(isinstance(max_n, int) and max_n >= 1, f"max N={max_n} must be at least 1")
    requirements = {
        "write_failures": write_failures,
        "read_failures": read_failures,
        "read_write_intersection": read_write,
        "write_write_intersection": write_write,
        "n": n,
        "max_n": max_n,
    }
    found = optimise_threshold(write_failures, read_failures, read_write, write_write, n, max_n, timeout_ms)
    if found is None or isinstance(found, str):
        status = UNKNOWN_VERDICT if found == UNKNOWN_VERDICT else "unsatisfiable"
        return ThresholdSolution(requirements, None, None, None, status)
    sn, sw, sr = found
    refused = size_error(sn, f"the smallest system meeting these requirements (N={sn} W={sw} R={sr})")
    _require(refused is None, f"{refused}; it is not verified")
    props: list[Property] = [Available("write", write_failures), Available("read", read_failures)]
    if read_write:
        props.append(Intersects("read", "write"))
    if write_write:
        props.append(Intersects("write", "write"))
    report = check(threshold(sn, sw, sr), props, timeout_ms=timeout_ms)
    return ThresholdSolution(requirements, sn, sw, sr, "found", report)
