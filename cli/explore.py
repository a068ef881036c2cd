"""`replicheck explore`: search a replication design for the schedule that breaks a guarantee."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
import tempfile

import click

from replicheck.checker import write_jsonl
from replicheck.checker.verdict import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, exit_code
from replicheck.engine import Layout

from .artifacts import hypothesis_home, in_out_dir, refuse
from .fanout import engine_options, fail, layout_of, pop_engine_params, refuse_unused_engine_options
from .protocol_options import TopologyCommand, collect_protocol_options, topology_list
from .vocabulary import option

PROPERTY_CHOICES = ("linearizable", "read-your-writes", "durability", "single-leader", "convergence")


class _Counter:
    """Examples tried, on one stderr line, only on a terminal and never with --quiet."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label = label
        self.enabled = not quiet and sys.stderr.isatty()
        self.shown = False

    def __call__(self, n: int) -> None:
        if self.enabled and (n % 10 == 0 or n == 1):
            click.echo(f"\r{self.label}: {n} examples tried", err=True, nl=False)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def _save(cx, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_jsonl(path, cx.events, cx.meta())


def _print_counterexample(cx, path: str | None, replay_cmd: str | None) -> None:
    click.echo(f"\n{cx.property} BROKEN by {cx.design}")
    click.echo(f"counterexample in {cx.steps} step{'s' if cx.steps != 1 else ''} (simulator seed {cx.seed}):")
    for i, said in enumerate(cx.narration, 1):
        click.echo(f"  {i:>2}. {said}")
    if cx.settled:
        click.echo(
            "  then: heal, restart every node, let replication settle"
            + (", and read every replica once" if cx.audit else "")
        )
    click.echo("\nthe history:")
    for e in cx.events:
        click.echo("  " + json.dumps(e))
    click.echo("\nwhy:")
    for line in cx.explanation.splitlines():
        click.echo("  " + line)
    if path:
        click.echo(f"\ncounterexample saved to {path}")
        click.echo(f"replay it:  {replay_cmd}")
        click.echo(f"judge it:   {_check_cmd(cx.property, path)}")


def _write_html(cx, saved: str, html_out: str) -> None:
    """The counterexample's history as a timeline, judged for linearizability (the
    explorer's own verdict and schedule go in the page's report)."""
    from replicheck.checker import analyse

    story = [f"{cx.property} BROKEN by {cx.design} in {cx.steps} steps (simulator seed {cx.seed}):"]
    story += [f"  {i:>2}. {said}" for i, said in enumerate(cx.narration, 1)]
    story += ["", cx.explanation]
    analyse(saved, minimize=True).write_html(
        html_out, title=f"explore: {cx.design} / {cx.property}", text_report="\n".join(story)
    )
    click.echo(f"HTML timeline written to {html_out}", err=True)


def _check_cmd(prop: str, path: str) -> str:
    q = shlex.quote(path)
    if prop == "linearizable":
        return f"replicheck check {q}"
    if prop == "read-your-writes":
        return f"replicheck check --consistency read-your-writes --session-field process {q}"
    if prop in ("durability", "convergence"):
        return (
            f"replicheck check --consistency {prop} {q}  "
            "(the property was judged on the model's state; the history may say unknown)"
        )
    return (
        f"replicheck explore --replay {q}  "
        "(split brain is judged on acknowledgements' epochs, not on the history)"
    )


@click.command(cls=TopologyCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("topology", metavar="TOPOLOGY", required=False)
@click.option(
    "--property",
    "prop",
    type=click.Choice(PROPERTY_CHOICES),
    default=None,
    help="the guarantee to try to break",
)
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    metavar="N",
    help="random search: schedules to try before saying no counterexample was found",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    metavar="N",
    help="steps per schedule, at most",
)
@option("seed", help="seed of the search: same seed, same counterexample")
@option(
    "history file",
    type=click.Path(dir_okay=False),  # as before: not checked for writing before the search
    help="save a counterexample here [DIR/explore-...jsonl with --out-dir; else not saved]",
)
@option(
    "artifact directory",
    help="where counterexamples, the HTML timeline and Hypothesis's files go; nothing is written "
    "to the current directory unless asked",
)
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="rerun a saved counterexample exactly",
)
@click.option("--matrix", is_flag=True, help="every known design against every property, as a table")
@click.option(
    "--exhaustive",
    is_flag=True,
    help="judge every schedule up to --depth steps, breadth first (a bounded model check)",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    metavar="N",
    help="with --exhaustive: the longest schedule judged",
)
@option(
    "time budget",
    type=click.FloatRange(min=0, min_open=True),  # a search of 0 s would say nothing (check allows 0)
    help="with --exhaustive: stop after this long and say unknown (and how deep it got)",
)
@click.option(
    "--max-states",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    metavar="N",
    help="with --exhaustive: stop after this many distinct states and say unknown",
)
@click.option(
    "--no-symmetry",
    is_flag=True,
    help="with --exhaustive: offer every fresh client a first step, not only one of each kind",
)
@click.option(
    "--cell-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    metavar="SECONDS",
    help="with --matrix: the exhaustive search's time per cell, before the random search",
)
@option(
    "html report",
    type=click.Path(dir_okay=False),  # as before: not checked for writing before the search
    help="write the counterexample as a self-contained HTML timeline",
)
@option("json output", help="print the result as data")
@option("progress off", help="no progress, even on a terminal")
@engine_options
@click.pass_context
def explore(
    ctx,
    topology,
    prop,
    max_examples,
    steps,
    seed,
    out,
    out_dir,
    replay_file,
    matrix,
    exhaustive,
    depth,
    timeout,
    max_states,
    no_symmetry,
    cell_seconds,
    html_out,
    as_json,
    quiet,
    **params,
) -> None:
    """Search TOPOLOGY (options as for simulate) for a schedule that breaks --property.

    \b
    replicheck explore leader-follower --replication async --failover auto --property durability
    replicheck explore --replay DIR/explore-....jsonl
    replicheck explore leader-follower --replication async --failover auto \\
        --stale-clients 1 --property read-your-writes --exhaustive --depth 3
    replicheck explore --matrix --out-dir DIR

    Exit codes: 0 no counterexample within the bounds (--exhaustive: every schedule of
    <= --depth steps holds), 1 counterexample found (--matrix: a cell disagrees with the
    field's known result), 2 bad input or usage, 3 unknown (the checker could not decide
    some runs, or --exhaustive ran out of --timeout / --max-states).
    """
    from replicheck.model.config import ConfigError

    fan = pop_engine_params(params)
    layout = layout_of(fan["jobs"], fan["scheduler"])
    refuse_unused_engine_options(fan, matrix, replay_file, out, html_out, exhaustive)
    protocol = list(params)
    try:
        if fan["campaign"]:
            with hypothesis_home(out_dir):
                code = _campaign(
                    topology,
                    prop,
                    matrix,
                    params,
                    fan,
                    layout,
                    max_examples,
                    steps,
                    seed,
                    as_json,
                    quiet,
                    out_dir,
                )
            sys.exit(code)
        if replay_file:
            refuse(
                ctx,
                ["topology", "prop", "max_examples", "steps", "seed", "out", "out_dir", "matrix", "html_out"]
                + protocol,
                "--replay (it reruns the file's own design, seed and schedule)",
            )
            sys.exit(_replay(replay_file, as_json))
        if matrix:
            refuse(
                ctx,
                ["topology", "prop", "out", "html_out"] + protocol,
                "--matrix (every design against every property; --out-dir DIR keeps the counterexamples)",
            )
            with hypothesis_home(out_dir):
                sys.exit(_matrix(max_examples, steps, seed, as_json, quiet, out_dir, cell_seconds, layout))
        if not topology:
            raise click.UsageError(f"name a TOPOLOGY ({topology_list()}), or use --matrix or --replay FILE")
        if prop is None:
            raise click.UsageError(
                f"say which guarantee to try to break: --property {'|'.join(PROPERTY_CHOICES)}"
            )
        opts, words = collect_protocol_options(params)
        design = f"{topology} {words}".strip()
        if exhaustive:
            search = dict(depth=depth, timeout=timeout, max_states=max_states, symmetry=not no_symmetry)
            sys.exit(_exhaustive(design, prop, search, out, as_json, quiet, html_out, out_dir, layout))
        with hypothesis_home(out_dir):
            code = _search(design, prop, max_examples, steps, seed, out, as_json, quiet, html_out, out_dir)
        sys.exit(code)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None


def _search(
    design: str,
    prop: str,
    max_examples: int,
    steps: int,
    seed: int,
    out: str | None,
    as_json: bool,
    quiet: bool,
    html_out: str | None = None,
    out_dir: str | None = None,
) -> int:
    from replicheck.model.explore import explore as search

    counter = _Counter(f"exploring {prop}", quiet)
    try:
        result = search(design, prop, max_examples=max_examples, steps=steps, seed=seed, on_example=counter)
    finally:
        counter.close()
    path = None
    if result.counterexample is not None:
        if out:
            path = out
        elif out_dir:
            path = in_out_dir(out_dir, f"explore-{_slug(design)}-{prop}-seed{seed}.jsonl")
        if path:
            _save(result.counterexample, path)
        if html_out or out_dir:
            html = html_out or in_out_dir(out_dir or ".", f"explore-{_slug(design)}-{prop}-seed{seed}.html")
            with tempfile.TemporaryDirectory(prefix="replicheck-") as tmp:
                saved = path or os.path.join(tmp, "counterexample.jsonl")
                if not path:
                    _save(result.counterexample, saved)
                _write_html(result.counterexample, saved, html)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "out": path}, indent=2))
    elif result.counterexample is not None:
        replay = f"replicheck explore --replay {shlex.quote(path)}" if path else None
        _print_counterexample(result.counterexample, path, replay)
        if not path:
            click.echo("\n(not saved: --out-dir DIR or --out FILE saves it, to replay and judge)")
        click.echo(f"\nsearch: seed {seed}, {result.examples} examples, {result.elapsed:.1f} s")
    else:
        click.echo(
            f"{prop}: {result.cell()} ({design}; seed {seed}, {result.elapsed:.1f} s)"
            + (f": {result.reason}" if result.reason else "")
        )
        if result.outcome == "no counterexample":
            click.echo("a random search proves nothing holds; --exhaustive --depth D judges every schedule")
    return {"broken": EXIT_INVALID, "unknown": EXIT_UNKNOWN}.get(result.outcome, EXIT_VALID)


def _exhaustive(
    design: str,
    prop: str,
    search: dict,
    out: str | None,
    as_json: bool,
    quiet: bool,
    html_out: str | None,
    out_dir: str | None,
    layout: Layout | None = None,
) -> int:
    from replicheck.engine import EngineError
    from replicheck.model.exhaustive import ExhaustiveResult, exhaustive

    show = not quiet and sys.stderr.isatty()
    where = "" if layout is None or layout.inline else f" on {layout.describe()}"

    def progress(d: int, states: int) -> None:
        if show:
            click.echo(f"\rexhaustive {prop}{where}: depth {d} done, {states:,} states", err=True, nl=False)

    try:
        r: ExhaustiveResult = exhaustive(design, prop, on_depth=progress, layout=layout, **search)
    except EngineError as e:
        fail(e)
    finally:
        if show:
            click.echo("", err=True)
    path = None
    cx = r.counterexample
    if cx is not None:
        name = f"explore-{_slug(design)}-{prop}-exhaustive"
        path = out or (in_out_dir(out_dir, name + ".jsonl") if out_dir else None)
        if path:
            _save(cx, path)
        if html_out or out_dir:
            html = html_out or in_out_dir(out_dir or ".", name + ".html")
            with tempfile.TemporaryDirectory(prefix="replicheck-") as tmp:
                saved = path or os.path.join(tmp, "counterexample.jsonl")
                if not path:
                    _save(cx, saved)
                _write_html(cx, saved, html)
    if as_json:
        click.echo(json.dumps({**r.to_dict(), "out": path}, indent=2))
    else:
        if cx is not None:
            replay = f"replicheck explore --replay {shlex.quote(path)}" if path else None
            _print_counterexample(cx, path, replay)
            if not path:
                click.echo("\n(not saved: --out-dir DIR or --out FILE saves it, to replay and judge)")
            click.echo("")
        click.echo(f"{prop}: {r.sentence()} ({design})")
    return {"broken": EXIT_INVALID, "unknown": EXIT_UNKNOWN}.get(r.outcome, EXIT_VALID)


def _replay(path: str, as_json: bool) -> int:
    from replicheck.checker import HistoryError, read_history
    from replicheck.model.explore import replay_counterexample

    try:
        meta = read_history(path).meta
    except HistoryError as e:  # names the file and line itself
        raise click.UsageError(str(e)) from None
    except OSError as e:
        raise click.UsageError(f"cannot read {path}: {e.strerror or e}") from None
    explore_meta = meta.get("explore")
    if not isinstance(explore_meta, dict):
        raise click.UsageError(
            f"{path} has no explore metadata: only files saved by replicheck explore replay"
        )
    problem = _replay_problem(explore_meta)
    if problem:
        raise click.UsageError(f"{path}: explore metadata: {problem}")
    try:
        r = replay_counterexample(explore_meta)
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        # a hand-edited schedule step: say so rather than show the traceback
        raise click.UsageError(
            f"{path}: explore metadata: a schedule step cannot be replayed ({e!r})"
        ) from None
    buf = io.StringIO()
    write_jsonl(buf, r.events, meta)
    with open(path, encoding="utf-8") as fh:
        same = fh.read() == buf.getvalue()
    j = r.judgement
    if as_json:
        click.echo(
            json.dumps(
                {"path": path, "same_history": same, "judgement": j.to_dict() if j else None}, indent=2
            )
        )
    else:
        click.echo(f"replayed {len(explore_meta['schedule'])} steps of {explore_meta['design']}")
        for i, said in enumerate(r.cluster.narration, 1):
            click.echo(f"  {i:>2}. {said}")
        verdict = "identical to the saved one, byte for byte" if same else "DIFFERS from the saved one"
        click.echo(f"history: {verdict}")
        if j is not None:
            click.echo(
                f"{j.property}: {'holds' if j.holds is True else 'BROKEN' if j.holds is False else j.holds}"
            )
            for line in j.explanation.splitlines()[:12]:
                click.echo("  " + line)
    return exit_code(None if j is None else j.holds)  # a property that does not apply: unknown


def _replay_problem(m: dict) -> str | None:
    """What is wrong with a metadata line's explore part, or None: a seed "x" would
    otherwise surface as a traceback."""
    kinds: dict[str, tuple[type | tuple[type, ...], str]] = {
        "design": (str, "a string"),
        "property": (str, "a string"),
        "seed": (int, "an integer"),
        "schedule": ((list, tuple), "a list of steps"),
    }
    for key, (kind, what) in kinds.items():
        v = m.get(key)
        if v is None:
            return f"no {key}: only files saved by replicheck explore replay"
        if not isinstance(v, kind) or isinstance(v, bool):
            return f"{key} {json.dumps(v, default=str)[:40]} is not {what}"
    return None


def _matrix(
    max_examples: int,
    steps: int,
    seed: int,
    as_json: bool,
    quiet: bool,
    out_dir: str | None,
    seconds: float,
    layout=None,
) -> int:
    from replicheck.engine import EngineError
    from replicheck.model.campaign import run_matrix
    from replicheck.model.explore import DESIGNS, PROPERTIES

    rows: dict[str, dict[str, str]] = {}
    data = []
    disagree = []

    def cell(name: str, prop: str, c) -> None:
        text = c.cell()
        d = c.to_dict()
        if c.counterexample is not None and out_dir:
            path = in_out_dir(out_dir, f"explore-{name}-{prop}.jsonl")
            _save(c.counterexample, path)
            d["out"] = path
        data.append(d)
        if c.agrees is True:
            text = "* " + text
        elif c.agrees is False:
            text = f"(!) {text} [the field: {c.claim}]"
            disagree.append((name, prop, c.claim, c.source))
        rows.setdefault(name, {})[prop] = text
        if not quiet and sys.stderr.isatty():
            click.echo(f"\r{name} / {prop}: {c.cell()}"[:100].ljust(100), err=True, nl=False)

    try:
        run_matrix(
            seconds=seconds,
            max_examples=max_examples,
            steps=steps,
            seed=seed,
            derandomize=False,
            on_cell=cell,
            layout=layout,
        )
    except EngineError as e:
        fail(e)
    if not quiet and sys.stderr.isatty():
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps({"cells": data, "disagreements": [list(x[:2]) for x in disagree]}, indent=2))
        return EXIT_INVALID if disagree else EXIT_VALID
    click.echo(
        f"claims matrix: each cell judges every schedule for {seconds:g} s (to the depth shown), "
        f"then {max_examples} random examples of <= {steps} steps; seed {seed}"
    )
    for name in DESIGNS:
        click.echo(f"\n{name}: {DESIGNS[name]}")
        for p in PROPERTIES:
            click.echo(f"  {p:17} {rows.get(name, {}).get(p, '')}")
    saved = f"counterexamples saved under {out_dir}" if out_dir else "--out-dir DIR saves the counterexamples"
    click.echo(f"\n* = agrees with what the field knows (docs/explore.md has the sources); {saved}")
    for name, prop, claim, source in disagree:
        click.echo(f"(!) {name} / {prop}: the search disagrees with the field ({claim}: {source})")
    return EXIT_INVALID if disagree else EXIT_VALID


def _campaign(
    topology, prop, matrix, params, fan, layout, max_examples, steps, seed, as_json, quiet, out_dir
) -> int:
    """--campaign N: one design and --property, or with --matrix every cell of the table."""
    from replicheck.model.explore import DESIGNS, PROPERTIES

    from .fanout import explore_campaign

    if matrix:
        cells = [(name, text, p) for name, text in DESIGNS.items() for p in PROPERTIES]
    else:
        if not topology or prop is None:
            raise click.UsageError("--campaign needs TOPOLOGY and --property, or --matrix")
        _opts, words = collect_protocol_options(params)
        design = f"{topology} {words}".strip()
        cells = [(_slug(design), design, prop)]
    return explore_campaign(
        cells,
        fan["campaign"],
        seed=seed,
        max_examples=max_examples,
        steps=steps,
        layout=layout,
        stop_early=bool(fan["stop_early"]),
        out_dir=out_dir,
        as_json=as_json,
        quiet=quiet,
    )
