"""Quorum claims: every Z3 verdict is compared with brute force over node subsets, and
every counterexample is re-checked with plain set arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replicheck import quorum as q
from replicheck.quorum import staleness as pbs

QUORUM_SETTINGS = settings(max_examples=60)  # the profile: tests/conftest.py


# -- brute-force oracle -----------------------------------------------------------------


def all_quorums(system: q.QuorumSystem, kind: str) -> list[frozenset]:
    nodes = system.nodes
    return [
        frozenset(s)
        for size in range(len(nodes) + 1)
        for s in combinations(nodes, size)
        if system.is_quorum(kind, s)
    ]


def brute_intersects(system, a, b) -> bool:
    qa, qb = all_quorums(system, a), all_quorums(system, b)
    # only home nodes count: a fallback's hint is invisible to reads
    return all((x & y) - set(system.fallbacks) for x in qa for y in qb)


def brute_available(system, kind, f) -> bool:
    nodes = set(system.nodes)
    return all(
        system.is_quorum(kind, nodes - set(down))
        for size in range(min(f, len(nodes)) + 1)
        for down in combinations(system.nodes, size)
    )


def brute_fault_tolerance(system, kind) -> int:
    for size in range(len(system.nodes) + 1):
        if not brute_available(system, kind, size):
            return size - 1
    return len(system.nodes)


def brute_domain_loss(system, kind) -> bool:
    return all(system.is_quorum(kind, set(system.nodes) - set(members)) for _, members in system.domains)


def assert_valid_counterexample(system: q.QuorumSystem, prop, result: q.PropertyResult) -> None:
    """A refutation must stand on its own: check it without trusting Z3."""
    assert result.status == q.REFUTED
    ce = result.counterexample
    assert ce is not None
    known = set(system.nodes)
    if isinstance(prop, q.Intersects):
        (la, qa), (lb, qb) = ce.quorums.items()
        qa, qb = set(qa), set(qb)
        assert qa <= known and qb <= known
        assert system.is_quorum(prop.a, qa) and system.is_quorum(prop.b, qb)
        # Fallbacks hold hints no read sees: sloppy quorums may share them and still miss.
        assert not (qa & qb) - set(system.fallbacks), "the two quorums must share no home node"
        for label, members in ((la, qa), (lb, qb)):  # minimal: no node can be dropped
            kind = prop.a if label == la else prop.b
            assert all(not system.is_quorum(kind, members - {n}) for n in members)
            used = members & set(system.fallbacks)
            down = set(ce.down_while.get(label, []))
            assert len(down) == len(used), "each fallback stands in for one preferred node"
            assert down <= set(system.preferred) and not down & members
    else:
        failed = set(ce.failed)
        assert failed <= known
        kind = prop.kind
        if isinstance(prop, q.Available):
            assert len(failed) <= prop.f
        if isinstance(prop, q.SurvivesDomainLoss):
            assert any(failed == set(m) for _, m in system.domains)
        assert not system.is_quorum(kind, known - failed), "no quorum may survive the failures"


def compare_with_brute_force(system: q.QuorumSystem, f: int, encoding: str = "auto") -> None:
    props = q.default_properties(system, f=f, domain_loss=bool(system.domains), measure=False)
    props += [q.FaultTolerance(k) for k in system.kinds]
    props += [q.Intersects(a, b) for a in system.kinds for b in system.kinds if (a, b) not in system.claims]
    report = q.check(system, props, encoding=encoding)
    for prop, result in zip(props, report.results):
        assert result.status != q.UNKNOWN_VERDICT, (system.description, prop)
        if isinstance(prop, q.FaultTolerance):
            assert result.value == brute_fault_tolerance(system, prop.kind), (system.description, prop)
            if result.counterexample:  # the smallest failure set that stops it, checked by hand
                failed = set(result.counterexample.failed)
                assert len(failed) == result.value + 1
                assert not system.is_quorum(prop.kind, set(system.nodes) - failed)
            continue
        if isinstance(prop, q.Intersects):
            expected = brute_intersects(system, prop.a, prop.b)
        elif isinstance(prop, q.Available):
            expected = brute_available(system, prop.kind, prop.f)
        else:
            expected = brute_domain_loss(system, prop.kind)
        assert (result.status == q.PROVED) == expected, (system.description, prop, result)
        if not expected:
            assert_valid_counterexample(system, prop, result)


# -- the cases the issue names ------------------------------------------------------------


def test_n3_w2_r2_intersects():
    report = q.check(q.threshold(3, 2, 2), [q.Intersects("read", "write"), q.Intersects("write", "write")])
    assert [r.status for r in report.results] == [q.PROVED, q.PROVED]
    assert report.exit_code == 0


def test_n3_w1_r2_exhibits_a_disjoint_pair():
    system = q.threshold(3, 1, 2)
    prop = q.Intersects("read", "write")
    result = q.check(system, [prop]).results[0]
    assert_valid_counterexample(system, prop, result)
    assert len(result.counterexample.quorums["write"]) == 1
    assert len(result.counterexample.quorums["read"]) == 2


@pytest.mark.parametrize("n", [101, 1001])
def test_majorities_intersect_at_scale(n):
    majority = n // 2 + 1
    report = q.check(
        q.threshold(n, majority, majority),
        [
            q.Intersects("read", "write"),
            q.Intersects("write", "write"),
            q.Available("write", n - majority),
            q.FaultTolerance("write"),
        ],
    )
    assert [r.status for r in report.results[:3]] == [q.PROVED] * 3
    assert report.results[3].value == n - majority
    # One fewer node in the read quorum and the pair can miss: refuted with named nodes.
    system = q.threshold(n, majority, n - majority)
    prop = q.Intersects("read", "write")
    assert_valid_counterexample(system, prop, q.check(system, [prop]).results[0])
    prop = q.Available("write", n - majority + 1)
    assert_valid_counterexample(system, prop, q.check(system, [prop]).results[0])


def test_local_quorum_in_two_datacenters_is_disjoint():
    system = q.multi_dc({"east": 3, "west": 3}, "LOCAL_QUORUM@east", "LOCAL_QUORUM@west")
    prop = q.Intersects("read", "write")
    result = q.check(system, [prop]).results[0]
    assert_valid_counterexample(system, prop, result)
    assert all(n.startswith("east") for n in result.counterexample.quorums["write"])
    assert all(n.startswith("west") for n in result.counterexample.quorums["read"])


def test_each_quorum_meets_local_quorum():
    for read in ("LOCAL_QUORUM@east", "LOCAL_QUORUM@west"):
        system = q.multi_dc({"east": 3, "west": 5}, "EACH_QUORUM", read)
        assert q.check(system, [q.Intersects("read", "write")]).results[0].status == q.PROVED


def test_whole_datacenter_loss():
    system = q.multi_dc({"east": 3, "west": 3, "south": 3}, "QUORUM", "LOCAL_QUORUM@west")
    report = q.check(system, [q.SurvivesDomainLoss("write"), q.SurvivesDomainLoss("read")])
    assert report.results[0].status == q.PROVED  # 6 of 9 left, quorum is 5
    assert_valid_counterexample(system, q.SurvivesDomainLoss("read"), report.results[1])
    assert report.results[1].counterexample.failed == ["west1", "west2", "west3"]


@pytest.mark.parametrize("n,q1,q2", [(5, 4, 2), (5, 3, 3), (7, 6, 2), (10, 8, 3)])
def test_flexible_paxos_needs_only_q1_q2_overlap(n, q1, q2):
    system = q.flexible_paxos(n, q1, q2)
    report = q.check(system, [q.Intersects("phase1", "phase2"), q.Intersects("phase2", "phase2")])
    assert report.results[0].status == q.PROVED  # |Q1| + |Q2| > N
    if 2 * q2 <= n:  # phase-2 quorums need not meet each other, and here they do not
        assert_valid_counterexample(system, q.Intersects("phase2", "phase2"), report.results[1])
    smaller = q.flexible_paxos(n, q1 - 1, q2)  # |Q1| + |Q2| = N: a leader can miss a decision
    assert_valid_counterexample(
        smaller,
        q.Intersects("phase1", "phase2"),
        q.check(smaller, [q.Intersects("phase1", "phase2")]).results[0],
    )


def test_sloppy_quorums_can_be_disjoint_even_with_w_plus_r_above_n():
    system = q.sloppy(3, 2, 2, fallbacks=2)
    prop = q.Intersects("read", "write")
    result = q.check(system, [prop]).results[0]
    assert_valid_counterexample(system, prop, result)
    ce = result.counterexample
    # The refutation uses fallbacks: the write landed on stand-ins while preferred nodes were down.
    assert any(set(members) & set(system.fallbacks) for members in ce.quorums.values())
    assert ce.down_while
    # Without fallbacks it is the strict quorum again.
    assert q.check(q.sloppy(3, 2, 2, 0), [prop]).results[0].status == q.PROVED
    # A read cannot see a fallback's hint, so both quorums may lose K home nodes to
    # fallbacks: they meet on a home node only when W + R > N + 2K.
    refuted = q.check(q.sloppy(3, 3, 2, 1), [prop]).results[0]
    assert_valid_counterexample(q.sloppy(3, 3, 2, 1), prop, refuted)
    assert "hint" in refuted.note
    assert q.check(q.sloppy(3, 3, 3, 1), [prop]).results[0].status == q.PROVED


def test_grid_quorums():
    system = q.grid(3, 4)
    report = q.check(
        system,
        [
            q.Intersects("read", "write"),
            q.Intersects("write", "write"),
            q.Intersects("read", "read"),
            q.Load("read"),
            q.Load("write"),
        ],
    )
    assert [r.status for r in report.results[:2]] == [q.PROVED, q.PROVED]
    assert_valid_counterexample(system, q.Intersects("read", "read"), report.results[2])
    assert report.results[3].value == "1/3"  # one node per column, spread over 3 rows
    assert report.results[4].value == "1/2"  # (3 + 3) nodes of 12


def test_load_matches_known_values():
    assert q.check(q.threshold(7, 4, 2), [q.Load("write")]).results[0].value == "4/7"
    # Weighted a=2,b=1,c=1,d=1, 3 of 5 votes: quorums {a, x} and {b, c, d}. Using {a, x}
    # with probability p (x uniform) loads a with p and each other node with p/3 + 1 - p;
    # these meet at p = 3/5, so the load is 3/5, above the Naor-Wool bound of 1/2.
    system = q.weighted({"a": 2, "b": 1, "c": 1, "d": 1}, 3, 3)
    load = Fraction(q.check(system, [q.Load("write")]).results[0].value)
    smallest = min(len(s) for s in all_quorums(system, "write"))
    assert max(Fraction(1, smallest), Fraction(smallest, 4)) <= load  # Naor-Wool lower bound
    assert load == Fraction(3, 5)


# -- brute force against Z3 on small systems ----------------------------------------------


@pytest.mark.parametrize("n", range(1, 6))
def test_every_small_threshold_system_matches_brute_force(n):
    for w in range(1, n + 1):
        for r in range(1, n + 1):
            compare_with_brute_force(q.threshold(n, w, r), f=n // 2)


LEVEL_CHOICES = ["ONE", "TWO", "THREE", "QUORUM", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"]


@st.composite
def systems(draw):
    kind = draw(st.sampled_from(["threshold", "sloppy", "multi_dc", "weighted", "paxos", "grid"]))
    if kind == "threshold":
        n = draw(st.integers(1, 7))
        return q.threshold(n, draw(st.integers(1, n)), draw(st.integers(1, n)))
    if kind == "sloppy":
        n = draw(st.integers(1, 5))
        return q.sloppy(n, draw(st.integers(1, n)), draw(st.integers(1, n)), draw(st.integers(0, 3)))
    if kind == "paxos":
        n = draw(st.integers(1, 7))
        return q.flexible_paxos(n, draw(st.integers(1, n)), draw(st.integers(1, n)))
    if kind == "grid":
        return q.grid(draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if kind == "weighted":
        weights = draw(st.lists(st.integers(0, 3), min_size=1, max_size=7).filter(lambda ws: sum(ws) > 0))
        total = sum(weights)
        return q.weighted(
            {f"v{i}": w for i, w in enumerate(weights)},
            draw(st.integers(1, total)),
            draw(st.integers(1, total)),
        )
    names = ["east", "west", "south"][: draw(st.integers(1, 3))]
    rfs = {name: draw(st.integers(1, 3)) for name in names}
    total = sum(rfs.values())

    def level():
        choice = draw(
            st.sampled_from([lv for lv in LEVEL_CHOICES if {"TWO": 2, "THREE": 3}.get(lv, 1) <= total])
        )
        return f"{choice}@{draw(st.sampled_from(names))}" if choice.startswith("LOCAL") else choice

    return q.multi_dc(rfs, level(), level())


@QUORUM_SETTINGS
@given(systems(), st.integers(0, 3))
def test_z3_agrees_with_brute_force_on_random_systems(system, f):
    compare_with_brute_force(system, f)


@settings(max_examples=25)
@given(systems(), st.integers(0, 2))
def test_per_node_encoding_agrees_with_brute_force(system, f):
    compare_with_brute_force(system, f, encoding="per-node")


def test_counting_groups_are_interchangeable_nodes():
    from replicheck.quorum.prove import partition

    assert partition(q.threshold(1001, 501, 501)) == [tuple(f"n{i}" for i in range(1, 1002))]
    assert len(partition(q.multi_dc({"a": 3, "b": 3, "c": 3}, "QUORUM", "ONE"))) == 3  # datacenters
    assert len(partition(q.weighted({"a": 2, "b": 1, "c": 1, "d": 2}))) == 2
    assert len(partition(q.weighted({"a": 1, "b": 2, "c": 3}))) == 3
    assert len(partition(q.grid(3, 4))) == 4  # columns


# -- solve ------------------------------------------------------------------------------


def brute_smallest(fw, fr, rw, ww, max_n=12):
    for n in range(1, max_n + 1):
        best = None
        for w in range(1, n + 1):
            for r in range(1, n + 1):
                ok = n - fw >= w and n - fr >= r and (not rw or w + r > n) and (not ww or 2 * w > n)
                if ok and (best is None or (w + r, r) < (best[0] + best[1], best[1])):
                    best = (w, r)
        if best:
            return n, *best
    return None


@pytest.mark.parametrize(
    "fw,fr,rw,ww",
    [
        (0, 0, True, False),
        (2, 1, True, False),
        (1, 1, True, True),
        (3, 0, True, True),
        (2, 2, False, False),
        (0, 4, True, False),
    ],
)
def test_solve_finds_the_smallest_configuration(fw, fr, rw, ww):
    solution = q.solve_threshold(fw, fr, rw, ww)
    assert (solution.n, solution.w, solution.r) == brute_smallest(fw, fr, rw, ww)
    assert solution.verified.exit_code == 0
    # Whatever the optimiser says must survive brute force too.
    system = q.threshold(solution.n, solution.w, solution.r)
    assert brute_available(system, "write", fw) and brute_available(system, "read", fr)
    assert not rw or brute_intersects(system, "read", "write")


def test_solve_reports_impossible_requirements():
    solution = q.solve_threshold(write_failures=3, read_failures=0, n=3)
    assert solution.status == "unsatisfiable" and solution.n is None


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: q.threshold(3, 4, 1),
        lambda: q.threshold(3, 0, 1),
        lambda: q.threshold(0, 1, 1),
        lambda: q.sloppy(3, 2, 2, -1),
        lambda: q.multi_dc({"east": 3}, "SOMETIMES", "ONE"),
        lambda: q.multi_dc({"east": 3}, "LOCAL_QUORUM@mars", "ONE"),
        lambda: q.multi_dc({"east": 3}, "LOCAL_QUORUM", "ONE"),
        lambda: q.multi_dc({"east": 1}, "THREE", "ONE"),
        lambda: q.multi_dc({"east": 0}, "ONE", "ONE"),
        lambda: q.weighted({"a": -1, "b": 2}),
        lambda: q.weighted({"a": 1, "b": 1}, 3, 1),
        lambda: q.flexible_paxos(5, 6, 1),
        lambda: q.grid(0, 3),
        lambda: q.check(q.threshold(3, 2, 2), [q.Intersects("read", "phase1")]),
        lambda: q.check(q.threshold(3, 2, 2), [q.SurvivesDomainLoss("read")]),
        lambda: pbs.parse_latency("exp:-1"),
        lambda: pbs.parse_latency("0.5*exp:1+0.4*exp:2"),
        lambda: pbs.parse_latency("gauss:1"),
    ],
)
def test_bad_specs_raise_one_clear_error(build):
    with pytest.raises(q.QuorumSpecError) as info:
        build()
    assert "\n" not in str(info.value) and str(info.value)


def test_results_are_json_serialisable():
    import json

    system = q.sloppy(3, 2, 2, 1)
    report = q.check(system, q.default_properties(system, f=1))
    assert json.loads(json.dumps(report.to_dict()))["exit_code"] == 1


def test_importing_the_quorum_module_does_not_import_z3():
    import subprocess
    import sys

    code = "import sys, replicheck.quorum; print('z3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- staleness --------------------------------------------------------------------------


@pytest.mark.parametrize("n,w,r", [(3, 1, 1), (5, 2, 2), (5, 1, 3), (6, 3, 3), (4, 3, 2)])
def test_closed_form_staleness_matches_exhaustive_count(n, w, r):
    report = pbs.staleness(n, w, r, trials=20_000, seed=7)
    assert Fraction(report.closed_form) == Fraction(math.comb(n - w, r), math.comb(n, r))
    assert report.exhaustive == report.closed_form
    # Enumerate every (write quorum, read quorum) pair too, without the symmetry argument.
    pairs = [(set(a), set(b)) for a in combinations(range(n), w) for b in combinations(range(n), r)]
    assert Fraction(sum(1 for a, b in pairs if not a & b), len(pairs)) == Fraction(report.closed_form)
    sigma = math.sqrt(report.closed_form_float * (1 - report.closed_form_float) / report.trials)
    assert abs(report.monte_carlo - report.closed_form_float) <= 5 * sigma + 1e-12


def test_k_staleness_is_the_kth_power_and_matches_sampling():
    report = pbs.staleness(5, 1, 2, k=3, trials=40_000, seed=11)
    p = report.closed_form_float
    assert report.k_stale == pytest.approx(p**3)
    sigma = math.sqrt(p**3 * (1 - p**3) / report.trials)
    assert abs(report.monte_carlo - p**3) <= 5 * sigma


def _preset(name):
    return [pbs.parse_latency(text) for text in pbs.LATENCY_PRESETS[name]]


def test_wars_monotone_and_bounded_by_the_closed_form():
    report = pbs.wars(3, 1, 1, [0, 0.5, 1, 5, 1000], *_preset("lnkd-disk"), trials=20_000, seed=3)
    assert report.consistent == sorted(report.consistent)
    assert report.consistent[-1] == 1.0
    # Propagation only helps: never worse than reading a random replica set.
    closed = pbs.staleness(3, 1, 1, trials=1).closed_form_float
    assert report.consistent[0] >= 1 - closed - 4 * report.ci95[0]


def test_wars_with_w_equal_n_is_always_consistent():
    report = pbs.wars(3, 3, 1, [0], *_preset("ymmr"), trials=2_000, seed=5)
    assert report.consistent == [1.0]


def test_wars_is_reproducible_from_its_seed():
    dist = [pbs.parse_latency("0.7*exp:1+0.3*pareto:0.5:2")] * 4
    a = pbs.wars(5, 1, 2, [0, 2], *dist, trials=3_000, seed=42)
    b = pbs.wars(5, 1, 2, [0, 2], *dist, trials=3_000, seed=42)
    assert a == b


def test_wars_reproduces_published_pbs_figure_for_lnkd_ssd():
    # Bailis et al. report that with LinkedIn's SSD latencies and N=3, R=W=1, about 97.4%
    # of reads issued right after a write commits return it.
    report = pbs.wars(3, 1, 1, [0], *_preset("lnkd-ssd"), trials=40_000, seed=1)
    assert abs(report.consistent[0] - 0.974) <= 3 * report.ci95[0] + 0.002


@pytest.mark.parametrize("k, published", [(3, 0.703), (5, 0.868), (10, 0.983)])
def test_k_staleness_reproduces_published_figures(k, published):
    # PBS (Bailis et al. 2012), N=3, R=W=1: the probability of reading one of the last k
    # versions is 1 - (2/3)^k, published as 0.703 (k=3), 0.868 (k=5), > 0.98 (k=10).
    report = pbs.staleness(3, 1, 1, k=k, trials=40_000, seed=k)
    assert 1 - report.k_stale == pytest.approx(published, abs=0.001)  # published to 3 places
    sigma = math.sqrt(report.k_stale * (1 - report.k_stale) / report.trials)
    assert abs(1 - report.monte_carlo - published) <= 5 * sigma + 0.001
