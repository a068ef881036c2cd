"""Options and their errors: the leaf every other model module may import.

An :class:`Option` is one row of an options table (flag, default, help, kind); the
options every topology shares are :data:`COMMON_OPTIONS`, and each topology declares its
own next to its protocol (see :mod:`replicheck.model.topology`). The CLI builds its
flags from these tables and the configuration parser reads them, so an option is
declared once. Values stay strings until a builder checks them with :func:`num` and
:func:`prob`, which raise :class:`ConfigError` with one line a user can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line a user can act on."""


VALUE, FLAG, REPEATED = "value", "flag", "repeated"


@dataclass(frozen=True)
class Option:
    """One option: ``flag`` as typed (``--replication``, ``-w``); ``default`` None when
    the builder decides (and says so in ``help``); ``kind`` value, flag or repeated;
    ``metavar`` what a value looks like (``MS``, ``N``, ``sync|async``); ``also`` other
    spellings shown (``-n``); ``old`` spellings still read but not shown."""

    flag: str
    help: str
    default: Any = None
    kind: str = VALUE
    metavar: str | None = None
    also: tuple[str, ...] = ()
    old: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        """The name in an options dict: the flag without its dashes (``-w`` -> ``w``)."""
        return self.flag.lstrip("-")

    @property
    def shown_metavar(self) -> str:
        """The metavar ``--help`` shows: the declared one, else one read off the flag."""
        if self.metavar:
            return self.metavar
        if self.dest.endswith("-ms"):
            return "MS"
        if isinstance(self.default, int) and not isinstance(self.default, bool):
            return "N"
        return self.dest.upper().replace("-", "_")

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.flag, *self.also, *self.old)

    def describe_help(self, owner: str | None = None) -> str:
        text = f"{owner}: {self.help}" if owner else self.help
        return text + (f" [{self.default}]" if self.default is not None and self.kind == VALUE else "")


class OptionValues(dict):
    """Options by ``dest``, table defaults filled in; ``given`` names what the user typed."""

    def __init__(self, opts: dict, table: Iterable[Option]) -> None:
        super().__init__({o.dest: o.default for o in table if o.default is not None})
        self.update(opts)
        self.given = frozenset(opts)


COMMON_OPTIONS: tuple[Option, ...] = (
    Option("--nodes", "replicas (leaders, for multi-leader)", 3, metavar="N", also=("-n",)),
    Option("--ops", "client operations in all", 200, metavar="N"),
    Option("--clients", "concurrent client sessions", 4, metavar="N"),
    Option(
        "--workload",
        "register, cas-register (where the topology orders it), kv or list-append",
        "register",
        metavar="NAME",
    ),
    Option("--read-ratio", "fraction of operations that read", 0.5, metavar="P"),
    Option("--keys", "keys for kv and list-append", 3, metavar="N"),
    Option(
        "--client-timeout-ms",
        "how long a client waits for a reply before it gives up (outcome unknown)",
        50,
        metavar="MS",
        old=("--timeout-ms",),
    ),
    Option("--think-ms", "mean pause between a client's operations", 1, metavar="MS"),
    Option(
        "--latency",
        "link latency in ms: constant:MS, uniform:LOW,HIGH, exponential:MEAN, pareto:XM,ALPHA, "
        "pareto-exp:MEAN,TAIL_P,SCALE,ALPHA, or a mixture P*dist+P*dist",
        "exponential:1",
        metavar="DIST",
    ),
    Option("--loss", "message loss probability", 0, metavar="P"),
    Option("--duplicate", "message duplication probability", 0, metavar="P"),
    Option("--reorder", "probability a message is held back (reordering)", 0, metavar="P"),
    Option("--link", "per-link latency (repeatable)", kind=REPEATED, metavar="SRC-DST=DIST"),
    Option(
        "--crash", "crash NODE at MS; NODE may be 'leader' (repeatable)", kind=REPEATED, metavar="NODE@MS"
    ),
    Option("--restart", "restart NODE at MS (repeatable)", kind=REPEATED, metavar="NODE@MS"),
    Option(
        "--partition",
        "partition at MS, e.g. 300:n1|n2,n3 (repeatable)",
        kind=REPEATED,
        metavar="MS:GROUP|GROUP",
    ),
    Option("--heal", "heal all partitions at MS (repeatable)", kind=REPEATED, metavar="MS"),
    Option("--skew", "clock skew of NODE in ms (repeatable)", kind=REPEATED, metavar="NODE=MS"),
    Option("--lose-unflushed", "crashes lose writes not yet flushed", kind=FLAG),
)


def canonical_names(table: Iterable[Option]) -> dict[str, str]:
    """Every spelling's name without dashes (shown or old) -> the option's ``dest``:
    configuration strings saved before a rename still parse."""
    return {s.lstrip("-"): o.dest for o in table for s in o.spellings}


# The latest a fault may be scheduled, and the largest clock skew: an hour of virtual
# time. Past it a run would simulate heartbeats for days (or overflow the nanosecond
# clock: --skew n1=1e308) instead of saying the number is wrong.
MAX_MS = 3_600_000


def flag_text(name: str) -> str:
    """An option's name as typed: ``w`` is ``-w``, ``nodes`` is ``--nodes``."""
    return ("-" if len(name) == 1 else "--") + name


def num(
    name: str, text: Any, kind: type = float, minimum: float | None = 0, maximum: float | None = None
) -> Any:
    """``text`` as ``kind``, finite, between ``minimum`` and ``maximum``; ConfigError
    naming ``--name`` otherwise (``nan`` would pass every comparison)."""
    try:
        v = kind(text)
    except (TypeError, ValueError, OverflowError):
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{flag_text(name)} {text!r}: expected {expected}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise ConfigError(f"{flag_text(name)} {text!r}: expected a finite number")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{flag_text(name)} {text!r}: must be at least {minimum:.15g}")
    if maximum is not None and v > maximum:
        raise ConfigError(f"{flag_text(name)} {text!r}: must be at most {maximum:.15g}")
    return v


def prob(name: str, text: Any) -> float:
    v = num(name, text)
    if v > 1:
        raise ConfigError(f"{flag_text(name)} {text!r}: a probability is between 0 and 1")
    return v
