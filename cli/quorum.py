"""`replicheck quorum`: prove or refute quorum claims, tabulate, solve, and estimate staleness.

Exit codes follow the checker: 0 every property asked for holds, 1 one is refuted (the
counterexample is printed), 2 bad input or usage, 3 unknown (solver budget exhausted).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from replicheck import quorum as q
from replicheck.checker.verdict import (
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_VALID,
    verdict_word,
    worst_exit_code,
)
from replicheck.quorum import staleness as pbs

from .artifacts import in_out_dir
from .fanout import scheduler_option
from .vocabulary import DEFAULT_SEED, option


def _fail(message: str) -> NoReturn:
    raise click.UsageError(message)


def _parse_pairs(text: str, option: str) -> dict[str, int]:
    """``"east=3,west=3"`` -> {"east": 3, "west": 3}; negative numbers are kept so the
    model can say what is wrong with them."""
    pairs: dict[str, int] = {}
    for item in text.split(","):
        name, eq, value = item.strip().partition("=")
        if not eq or not name.strip() or not re.fullmatch(r"-?\d+", value.strip()):
            _fail(f"{option} expects NAME=INTEGER,NAME=INTEGER,...; cannot read {item.strip()!r} in {text!r}")
        if name.strip() in pairs:
            _fail(f"{option} names {name.strip()!r} twice")
        pairs[name.strip()] = int(value)
    return pairs


def _parse_grid(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        _fail(f"--grid expects ROWSxCOLS such as 3x3, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _solver_budget(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The solver budget option as check, table and solve take it; ``what`` says what it bounds."""
    return option(
        "solver budget",
        "timeout_ms",
        old=["--timeout-ms"],
        type=click.IntRange(min=1),
        default=10_000,
        metavar="MS",
        help=f"{what}; running out gives 'unknown' (exit 3).",
    )


def _emit_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2))


# -- rendering --------------------------------------------------------------------------

_NAME = re.compile(r"^(.*?)(\d+)$")


def compact(nodes: list[str]) -> str:
    """n1 n2 n3 n4 n7 -> "n1..n4 n7": long failure sets stay readable at N = 1001."""
    parts: list[str] = []
    run: list[tuple[str, int, str]] = []

    def flush() -> None:
        if len(run) >= 3:
            parts.append(f"{run[0][2]}..{run[-1][2]}")
        else:
            parts.extend(r[2] for r in run)
        run.clear()

    for node in nodes:
        match = _NAME.match(node)
        if match and run and run[-1][0] == match.group(1) and run[-1][1] + 1 == int(match.group(2)):
            run.append((match.group(1), int(match.group(2)), node))
            continue
        flush()
        if match:
            run.append((match.group(1), int(match.group(2)), node))
        else:
            parts.append(node)
    flush()
    text = " ".join(parts) if parts else "(none)"
    return text + (f"  ({len(nodes)} nodes)" if len(nodes) > 3 else "")


def render_report(report: q.CheckReport) -> str:
    lines = [f"{report.system.description}   [encoding: {report.encoding}]"]
    for r in report.results:
        tag = {q.REFUTED: "REFUTED", q.UNKNOWN_VERDICT: "UNKNOWN"}.get(r.status, r.status)
        if r.status == q.MEASURED:
            lines.append(f"  {tag:<9} {r.property} = {r.value}" + (f"   ({r.note})" if r.note else ""))
            if r.counterexample and r.counterexample.failed and "fault tolerance" in r.property:
                lines.append(
                    f"            smallest failure set that stops it: {compact(r.counterexample.failed)}"
                )
            continue
        lines.append(f"  {tag:<9} {r.property}: {r.claim}" + (f"   ({r.note})" if r.note else ""))
        ce = r.counterexample
        if ce is None:
            continue
        width = max((len(k) for k in ce.quorums), default=0)
        for label, members in ce.quorums.items():
            line = f"            {label:<{width}} quorum: {compact(members)}"
            if label in ce.down_while:
                line += f"   (formed while {compact(ce.down_while[label])} down: fallbacks stood in)"
            lines.append(line)
        if ce.quorums:
            shared = set.intersection(*(set(m) for m in ce.quorums.values()))
            lines.append(
                f"            these quorums share only {compact(sorted(shared))}: fallbacks, whose hints "
                "no read sees"
                if shared
                else "            these quorums share no node"
            )
        if ce.failed:
            lines.append(
                f"            failed: {compact(ce.failed)}   leaves no {r.property.split()[0]} quorum alive"
            )
    verdict = {
        EXIT_VALID: "all claims hold",
        EXIT_INVALID: "a claim is refuted",
        EXIT_UNKNOWN: "some claims are unknown",
    }[report.exit_code]
    lines.append(f"=> {verdict}")
    return "\n".join(lines)


# -- commands ---------------------------------------------------------------------------


@click.group()
def quorum() -> None:
    """Quorum systems: prove claims with Z3 or show the node sets that break them."""


def _build_system(n, w, r, sloppy, fallback, dc, write, read, coordinator, weights, q1, q2, grid):
    modes = [
        name
        for name, used in (("--dc", dc), ("--weights", weights), ("--q1/--q2", q1 or q2), ("--grid", grid))
        if used
    ]
    if len(modes) > 1:
        _fail(f"choose one kind of system; got {' and '.join(modes)}")
    _check_node_count(n, sloppy, fallback, dc, weights, grid)
    if (write or read or coordinator) and not dc:
        _fail("--write, --read and --coordinator take consistency levels and need --dc")
    if (sloppy or fallback is not None) and modes:
        _fail("--sloppy applies to a plain N/W/R system")
    if dc:
        if n is not None or w is not None or r is not None:
            _fail("with --dc, give levels with --write/--read instead of --nodes/-w/-r")
        if not write or not read:
            _fail("--dc needs --write LEVEL and --read LEVEL, e.g. --write LOCAL_QUORUM@east")
        return q.multi_dc(_parse_pairs(dc, "--dc"), write, read, coordinator)
    if weights:
        if n is not None:
            _fail("with --weights the nodes are the named ones; drop --nodes")
        return q.weighted(_parse_pairs(weights, "--weights"), w, r)
    if q1 or q2:
        if n is None or q1 is None or q2 is None:
            _fail("Flexible Paxos needs --nodes, --q1 and --q2")
        if w is not None or r is not None:
            _fail("with --q1/--q2, drop -w/-r")
        return q.flexible_paxos(n, q1, q2)
    if grid:
        if n is not None or w is not None or r is not None:
            _fail("a grid's quorums follow from its shape; drop --nodes/-w/-r")
        return q.grid(*_parse_grid(grid))
    if n is None or w is None or r is None:
        _fail("give --nodes, -w and -r (or --dc, --weights, --q1/--q2 or --grid)")
    if sloppy or fallback is not None:
        return q.sloppy(n, w, r, 1 if fallback is None else fallback)
    return q.threshold(n, w, r)


def _check_node_count(n, sloppy, fallback, dc, weights, grid) -> None:
    """Refuse a system past the node limit before building it (building is the cost)."""
    from replicheck.quorum.prove import size_error

    if grid:
        rows, cols = _parse_grid(grid)
        nodes, what = rows * cols, f"--grid {rows}x{cols}"
    elif dc:
        nodes, what = sum(max(0, v) for v in _parse_pairs(dc, "--dc").values()), f"--dc {dc}"
    elif weights:
        return  # every node is named on the command line
    elif isinstance(n, int):
        extra = max(0, 1 if fallback is None else fallback) if sloppy or fallback is not None else 0
        nodes, what = n + extra, f"N={n}" + (f" with {extra} fallback(s)" if extra else "")
    else:
        return
    refused = size_error(nodes, what, threshold=not (grid or dc))
    if refused:
        _fail(refused)


@quorum.command()
@option("replica count", "n", old=["--n"], type=int, metavar="N", help="Number of replicas.")
@option(
    "write quorum", "w", old=["--w"], type=int, metavar="N", help="Write quorum size (votes with --weights)."
)
@option(
    "read quorum", "r", old=["--r"], type=int, metavar="N", help="Read quorum size (votes with --weights)."
)
@click.option("--sloppy", is_flag=True, help="Sloppy quorum with hinted handoff.")
@option("fallback nodes", "fallback", type=int, metavar="K", help="Fallback nodes for --sloppy [1].")
@click.option("--dc", metavar="DC=RF,...", help="Datacenters and replication factors, e.g. east=3,west=3.")
@click.option("--write", metavar="LEVEL", help="Write consistency level, e.g. QUORUM or LOCAL_QUORUM@east.")
@click.option("--read", metavar="LEVEL", help="Read consistency level.")
@click.option("--coordinator", metavar="DC", help="Coordinator datacenter for LOCAL_* levels without @dc.")
@click.option(
    "--weights",
    metavar="NODE=VOTES,...",
    help="Votes per node, e.g. a=2,b=1,c=1 (W and R default to a majority).",
)
@click.option("--q1", type=int, metavar="N", help="Flexible Paxos phase-1 quorum size (with --nodes).")
@click.option("--q2", type=int, metavar="N", help="Flexible Paxos phase-2 quorum size (with --nodes).")
@click.option("--grid", metavar="ROWSxCOLS", help="Grid protocol on ROWSxCOLS nodes, e.g. 3x3.")
@click.option("--f", "f", type=int, metavar="F", help="Also check availability with any F nodes down.")
@click.option("--dc-down", is_flag=True, help="Also check availability with any one datacenter down.")
@click.option("--no-measure", is_flag=True, help="Skip fault tolerance and load.")
@click.option(
    "--encoding",
    type=click.Choice(["auto", "per-node"]),
    default="auto",
    show_default=True,
    help="How Z3 sees the nodes: counted when they are interchangeable (auto), or one variable each.",
)
@_solver_budget("Budget per solver call")
@option("json output", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--simulate",
    is_flag=True,
    help="Also run the leaderless model with these N/W/R (and fallbacks) under faults and "
    "check every history for linearizability.",
)
@option(
    "read repair",
    "read_repair",
    type=click.Choice(["none", "async", "blocking"]),
    default=None,
    help="With --simulate: read repair of the model; blocking is ABD write-back [none].",
)
@click.option(
    "--runs", type=click.IntRange(min=1), default=None, metavar="N", help="With --simulate: seeds to run [8]."
)
@option(
    "seed",
    "seed",
    type=int,
    default=None,
    metavar="SEED",
    help="With --simulate: the first seed; runs use seed, seed+1, ... [0].",
)
@option(
    "operations",
    "ops",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="With --simulate: operations per run [1000].",
)
@option(
    "artifact directory",
    "out_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    default=None,
    help="With --simulate: where histories that are not linearizable are saved [not saved].",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="With --simulate: a local Dask cluster of N processes runs the seeds [this process].",
)
@scheduler_option
def check(
    n,
    w,
    r,
    sloppy,
    fallback,
    dc,
    write,
    read,
    coordinator,
    weights,
    q1,
    q2,
    grid,
    f,
    dc_down,
    no_measure,
    encoding,
    timeout_ms,
    as_json,
    simulate=False,
    read_repair=None,
    runs=None,
    seed=None,
    ops=None,
    out_dir=None,
    jobs=None,
    scheduler=None,
) -> None:
    """Prove each claim of a quorum system, or print the nodes that break it.

    With --simulate, also run the leaderless protocol with the same N/W/R and report
    whether its histories stay linearizable (a non-linearizable run counts as a refuted
    claim for the exit code).
    """
    sim_only = [
        name
        for name, v in (
            ("--read-repair", read_repair),
            ("--runs", runs),
            ("--seed", seed),
            ("--ops", ops),
            ("--out-dir", out_dir),
            ("--jobs", jobs),
        )
        if v is not None
    ]
    if sim_only and not simulate:
        _fail(f"{sim_only[0]} applies to --simulate")
    try:
        system = _build_system(n, w, r, sloppy, fallback, dc, write, read, coordinator, weights, q1, q2, grid)
        if dc_down and not system.domains:
            _fail("--dc-down needs datacenters (--dc)")
        if simulate and (dc or weights or q1 is not None or q2 is not None or grid):
            _fail(
                "--simulate runs the leaderless model, which takes a plain --nodes/-w/-r "
                "(optionally --sloppy --fallback K)"
            )
        props = q.default_properties(system, f=f, domain_loss=dc_down, measure=not no_measure)
        report = q.check(system, props, encoding=encoding, timeout_ms=timeout_ms)
    except q.QuorumSpecError as error:
        raise click.UsageError(str(error)) from None
    simulation = None
    if simulate:
        from replicheck.engine import EngineError
        from replicheck.model.campaign import simulate_quorum_on
        from replicheck.model.quorum_run import ConfigError

        from .fanout import fail, layout_of

        first = DEFAULT_SEED if seed is None else seed
        fallbacks = (1 if fallback is None else fallback) if (sloppy or fallback is not None) else None
        try:
            if out_dir is not None:
                in_out_dir(out_dir, "")
            simulation = simulate_quorum_on(
                layout_of(jobs, scheduler),
                n,
                w,
                r,
                fallbacks=fallbacks,
                read_repair=read_repair or "none",
                seeds=range(first, first + (runs or 8)),
                ops=ops or 1000,
                out_dir=out_dir,
            )
        except (ConfigError, OSError) as error:
            raise click.UsageError(str(error)) from None
        except EngineError as error:
            fail(error)
    if as_json:
        data = report.to_dict()
        if simulation is not None:
            data["simulation"] = simulation.to_dict()
        _emit_json(data)
    else:
        click.echo(render_report(report))
        if simulation is not None:
            click.echo(render_simulation(simulation))
    # a refutation (by Z3 or by a history) wins over unknown, unknown over holding
    codes = [report.exit_code] + ([simulation.exit_code] if simulation else [])
    sys.exit(worst_exit_code(codes))


def _anomaly_line(a: dict) -> str:
    def read(d: dict) -> str:
        return (
            f"read {json.dumps(d['value'])} via {d['node']} ({d['invoke_ms']:.3f}-{d['complete_ms']:.3f} ms)"
        )

    if a["kind"] == "new-then-old":
        return f"new value, then old: {read(a['first_read'])}, then {read(a['later_read'])}"
    nw = a["newer_write"]
    return (
        f"stale read: {read(a['read'])}, although write {json.dumps(nw['value'])} was acknowledged "
        f"at {nw['acked_ms']:.3f} ms"
    )


def render_simulation(sim: Any) -> str:
    """The per-seed verdicts of ``quorum check --simulate``, with what to run to replay a violation."""
    seeds = [r.seed for r in sim.runs]
    kind = f"sloppy, {sim.fallbacks} fallback(s)" if sim.fallbacks is not None else "strict"
    lines = [
        "",
        f"simulated: leaderless N={sim.n} W={sim.w} R={sim.r} ({kind}), read repair {sim.read_repair}; "
        f"{len(seeds)} run(s), seeds {seeds[0]}..{seeds[-1]}",
        f"  replicheck simulate {sim.config} --seed S",
    ]
    for run in sim.runs:
        word = verdict_word(run.valid)
        extra = f"   ({run.sloppy_operations} ops used fallbacks)" if sim.fallbacks is not None else ""
        lines.append(f"  seed {run.seed:<4} {word:<17} {run.operations} ops, {run.reads_ok} reads ok{extra}")
        if run.valid is not True:
            if run.anomaly:
                lines.append(f"            {_anomaly_line(run.anomaly)}")
            if run.explanation:
                lines.append(f"            checker: {run.explanation}")
        if run.saved:
            lines.append(f"            saved {run.saved}; replay:")
            lines.extend(f"              {cmd}" for cmd in run.replay)
    bad = sum(1 for r in sim.runs if r.valid is False)
    if sim.verdict is True:
        lines.append(
            f"=> every history was linearizable ({len(seeds)} runs; a simulation finds violations, "
            "it cannot prove their absence)"
        )
    elif sim.verdict is False:
        lines.append(f"=> {bad} of {len(seeds)} histories are NOT linearizable")
        if not any(r.saved for r in sim.runs):
            lines.append("   (not saved: --out-dir DIR saves them, with the commands that replay them)")
    else:
        lines.append("=> no violation found, but some runs could not be decided (unknown)")
    return "\n".join(lines)


@quorum.command()
@click.option(
    "--max-n",
    type=click.IntRange(1, 50),
    default=7,
    show_default=True,
    metavar="N",
    help="Largest N tabulated.",
)
@click.option(
    "--min-n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Smallest N tabulated.",
)
@_solver_budget("Budget per solver call")
@option("json output", "as_json", is_flag=True, help="Print the table as JSON.")
def table(max_n, min_n, timeout_ms, as_json) -> None:
    """Every N, W, R up to --max-n with each property, each proved or refuted by Z3."""
    if min_n > max_n:
        raise click.UsageError(f"--min-n {min_n} is larger than --max-n {max_n}")
    rows = []
    props = [
        q.Intersects("read", "write"),
        q.Intersects("write", "write"),
        q.FaultTolerance("write"),
        q.FaultTolerance("read"),
    ]
    for n in range(min_n, max_n + 1):
        for w in range(1, n + 1):
            for r in range(1, n + 1):
                results = q.check(q.threshold(n, w, r), props, timeout_ms=timeout_ms).results
                rows.append(
                    {
                        "n": n,
                        "w": w,
                        "r": r,
                        "read_write": results[0].status,
                        "write_write": results[1].status,
                        "write_fault_tolerance": results[2].value,
                        "read_fault_tolerance": results[3].value,
                    }
                )
    unknown = any(row[k] == q.UNKNOWN_VERDICT for row in rows for k in ("read_write", "write_write"))
    if as_json:
        _emit_json({"rows": rows})
    else:
        header = (
            f"{'N':>3} {'W':>3} {'R':>3}  {'read-write':<10}  {'write-write':<11}  "
            f"{'write ft':>8}  {'read ft':>7}"
        )
        click.echo(header)
        click.echo("-" * len(header))
        mark = {q.PROVED: "proved", q.REFUTED: "REFUTED", q.UNKNOWN_VERDICT: "unknown"}
        for row in rows:
            click.echo(
                f"{row['n']:>3} {row['w']:>3} {row['r']:>3}  {mark[row['read_write']]:<10}  "
                f"{mark[row['write_write']]:<11}  {row['write_fault_tolerance']!s:>8}  "
                f"{row['read_fault_tolerance']!s:>7}"
            )
    sys.exit(EXIT_UNKNOWN if unknown else EXIT_VALID)


@quorum.command()
@click.option(
    "--write-failures",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="F",
    help="Writes must stay available with this many nodes down.",
)
@click.option(
    "--read-failures",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="F",
    help="Reads must stay available with this many nodes down.",
)
@click.option(
    "--read-write/--no-read-write",
    default=True,
    show_default=True,
    help="Every read quorum must meet every write quorum.",
)
@click.option("--write-write", is_flag=True, help="Every two write quorums must meet.")
@option(
    "replica count",
    "n",
    old=["--n"],
    type=click.IntRange(min=1),
    metavar="N",
    help="Fix the number of replicas.",
)
@click.option(
    "--max-n",
    type=click.IntRange(min=1),
    default=1001,
    show_default=True,
    metavar="N",
    help="Largest N tried.",
)
@_solver_budget("Budget of the optimiser and of each proof")
@option("json output", "as_json", is_flag=True, help="Print the solution as JSON.")
def solve(write_failures, read_failures, read_write, write_write, n, max_n, timeout_ms, as_json) -> None:
    """The smallest N (then W + R, then R) meeting the requirements, via Z3's optimiser."""
    try:
        solution = q.solve_threshold(
            write_failures, read_failures, read_write, write_write, n, max_n, timeout_ms
        )
    except q.QuorumSpecError as error:
        raise click.UsageError(str(error)) from None
    codes = {"found": EXIT_VALID, "unsatisfiable": EXIT_INVALID, q.UNKNOWN_VERDICT: EXIT_UNKNOWN}
    code = codes[solution.status]
    if solution.verified is not None and solution.verified.exit_code != EXIT_VALID:
        code = solution.verified.exit_code
    if as_json:
        _emit_json(solution.to_dict())
    elif solution.status == "found":
        click.echo(f"smallest: N={solution.n} W={solution.w} R={solution.r}")
        click.echo(render_report(solution.verified))
    elif solution.status == "unsatisfiable":
        click.echo(f"no threshold system with N <= {n or max_n} meets these requirements")
    else:
        click.echo("unknown: the optimiser ran out of time")
    sys.exit(code)


def _parse_times(text: str) -> list[float]:
    try:
        times = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise click.UsageError(
            f"--t expects comma-separated milliseconds such as 0,1,5,10, got {text!r}"
        ) from None
    if not times or any(t < 0 for t in times):
        raise click.UsageError(f"--t expects non-negative milliseconds, got {text!r}")
    return times


def _latency(text: str | None, default: str | None) -> pbs.Latency | None:
    chosen = text or default
    return None if chosen is None else pbs.parse_latency(chosen)


@quorum.command()
@option("replica count", "n", old=["--n"], type=int, required=True, metavar="N", help="Number of replicas.")
@option("write quorum", "w", old=["--w"], type=int, required=True, metavar="N", help="Write quorum size.")
@option("read quorum", "r", old=["--r"], type=int, required=True, metavar="N", help="Read quorum size.")
@click.option(
    "--k", type=int, default=1, show_default=True, metavar="K", help="Staleness in versions (k-staleness)."
)
@option(
    "latency",
    "latency",
    metavar="DIST",
    help="WARS delays for all four channels, in ms, in simulate's grammar "
    "(exponential:MEAN, constant:MS, uniform:LOW,HIGH, pareto:XM,ALPHA, P*dist+P*dist) or a preset: "
    + ", ".join(pbs.LATENCY_PRESETS)
    + ".",
)
@click.option("--w-latency", metavar="DIST", help="Override the write-propagation delay W.")
@click.option("--a-latency", metavar="DIST", help="Override the write-ack delay A.")
@click.option("--r-latency", metavar="DIST", help="Override the read-request delay R.")
@click.option("--s-latency", metavar="DIST", help="Override the read-response delay S.")
@click.option(
    "--t",
    "times",
    default="0,1,5,10",
    show_default=True,
    metavar="MS,MS,...",
    help="Milliseconds after commit.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    metavar="N",
    help="Monte Carlo trials.",
)
@option("seed", "seed", type=int, default=DEFAULT_SEED, metavar="SEED", help="Seed of the Monte Carlo draws.")
@option("json output", "as_json", is_flag=True, help="Print the estimates as JSON.")
def staleness(
    n, w, r, k, latency, w_latency, a_latency, r_latency, s_latency, times, trials, seed, as_json
) -> None:
    """How often a partial quorum (W + R <= N) reads a stale value."""
    from replicheck.quorum.prove import size_error

    refused = size_error(n, f"N={n}") if isinstance(n, int) else None
    if refused:
        _fail(refused)
    try:
        report = pbs.staleness(n, w, r, k, trials, seed)
        wars_report = None
        channels = (w_latency, a_latency, r_latency, s_latency)
        if latency or any(channels):
            preset = pbs.LATENCY_PRESETS.get((latency or "").lower())
            base = preset if preset else (latency,) * 4
            w_lat, a_lat, r_lat, s_lat = (_latency(own, default) for own, default in zip(channels, base))
            if w_lat is None or a_lat is None or r_lat is None or s_lat is None:
                raise click.UsageError("give --latency, or all four of --w/--a/--r/--s-latency")
            wars_report = pbs.wars(
                n, w, r, _parse_times(times), w_lat, a_lat, r_lat, s_lat, trials=trials, seed=seed
            )
    except q.QuorumSpecError as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        _emit_json({"staleness": report.to_dict(), "wars": wars_report.to_dict() if wars_report else None})
        return
    click.echo(f"N={n} W={w} R={r}" + ("   (W + R > N: quorums always meet)" if w + r > n else ""))
    click.echo(
        f"  P(read misses the latest write) = C(N-W,R)/C(N,R) = {report.closed_form}"
        f" = {report.closed_form_float:.6g}"
    )
    if report.exhaustive is not None:
        click.echo(f"  by counting every read quorum:    {report.exhaustive}")
    click.echo(f"  P(read older than the last {k} version(s)) = {report.k_stale:.6g}")
    click.echo(
        f"  Monte Carlo ({trials} trials, seed {seed}): {report.monte_carlo:.6g}"
        f" +/- {report.monte_carlo_ci95:.2g} (95%)"
    )
    if wars_report:
        click.echo(f"  WARS Monte Carlo ({trials} trials, seed {seed}); delays in ms:")
        for channel, text in wars_report.latencies.items():
            click.echo(f"    {channel}: {text}")
        click.echo(f"  {'t (ms)':>10}  P(consistent read)")
        for t, p, ci in zip(wars_report.times, wars_report.consistent, wars_report.ci95):
            click.echo(f"  {t:>10g}  {p:.5f} +/- {ci:.1g}")
