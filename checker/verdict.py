"""Verdicts, and the exit codes every command turns them into.

A verdict is one of three values: ``True`` (the property holds), ``False`` (evidence that
it does not) or ``UNKNOWN_VERDICT`` (a budget ran out, or the evidence is not enough),
never a guess. Not to be confused with ``history.UNKNOWN``, the output of an operation
whose outcome nobody learned.

The unknown verdict is an :class:`Unknown`: it equals, prints and serializes as the string
"unknown" (so JSON output and ``== "unknown"`` keep working), may carry the reason, and
refuses to be used as a bool: ``assert result.valid`` or ``if result.valid:`` on an unknown
verdict raises TypeError with the reason, where a plain "unknown" string would pass as
true. Test a verdict with ``is True`` / ``is False`` / ``== UNKNOWN_VERDICT`` (or
:func:`is_unknown`). New code writes ``UNKNOWN_VERDICT`` (or ``UNKNOWN_VERDICT.because(why)``),
never the literal "unknown"; :func:`as_verdict` turns a literal into the real thing.

Every command exits 0 when what it was asked holds, 1 on a violation or refutation, 2 on
bad input or usage, 3 when something stayed unknown; several verdicts combine to the most
serious of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Union

UNKNOWN_WORD = "unknown"


class Unknown(str):
    """The third verdict: neither true nor false. A str equal to "unknown" (JSON and old
    comparisons see that string) whose truth value is an error, carrying ``reason``."""

    __slots__ = ("reason",)
    reason: str | None

    def __new__(cls, reason: str | None = None) -> Unknown:
        self = super().__new__(cls, UNKNOWN_WORD)
        self.reason = reason
        return self

    def because(self, reason: str | None) -> Unknown:
        """The unknown verdict with ``reason`` attached (equal to every other unknown)."""
        return Unknown(reason)

    def __bool__(self) -> bool:
        why = f" ({self.reason})" if self.reason else ""
        raise TypeError(
            f"the verdict is unknown{why}: neither true nor false, so it has no truth value. "
            "Compare it instead: `verdict is True` (holds), `verdict is False` (violated), "
            "`verdict == UNKNOWN_VERDICT`; in tests use replicheck.testing.assert_linearizable, "
            "which fails with the reason"
        )

    def __repr__(self) -> str:
        return f"Unknown({self.reason!r})" if self.reason else "UNKNOWN_VERDICT"

    def __str__(self) -> str:
        return UNKNOWN_WORD

    def __reduce__(self) -> tuple[Any, tuple[str | None]]:
        # worker processes send verdicts back pickled: keep the class and the reason
        return (Unknown, (self.reason,))


Verdict = Union[bool, Unknown]  # noqa: UP007 (an alias evaluated at runtime on 3.10)

VALID, INVALID = True, False
UNKNOWN_VERDICT: Unknown = Unknown()

EXIT_VALID, EXIT_INVALID, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3

# From least to most serious: bad input outranks a violation, which outranks an unknown.
_SERIOUSNESS = (EXIT_VALID, EXIT_UNKNOWN, EXIT_INVALID, EXIT_BAD_INPUT)


def is_unknown(valid: Any) -> bool:
    """True for the unknown verdict (or the literal "unknown"), without asking its truth."""
    return valid is not True and valid is not False and isinstance(valid, str) and valid == UNKNOWN_WORD


def as_verdict(valid: Any, reason: str | None = None) -> Verdict:
    """``valid`` as a verdict: True and False stay, "unknown" (a literal or an
    :class:`Unknown`) becomes an :class:`Unknown` carrying ``reason`` (or the reason it had).
    Anything else is a programming error: a ValueError, never a silent third meaning."""
    if valid is True or valid is False:
        return valid
    if is_unknown(valid):
        had = valid.reason if isinstance(valid, Unknown) else None
        return Unknown(reason or had)
    raise ValueError(f"a verdict is True, False or UNKNOWN_VERDICT, not {valid!r}")


def verdict_json(valid: Any) -> Any:
    """The verdict as plain JSON data: true, false or the string "unknown"."""
    return UNKNOWN_WORD if is_unknown(valid) else valid


def exit_code(valid: Any) -> int:
    """The exit code of one verdict; anything but True or False counts as unknown."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def worst_exit_code(codes: Iterable[int]) -> int:
    """The most serious of several exit codes (EXIT_VALID when there are none)."""
    return max(codes, key=_SERIOUSNESS.index, default=EXIT_VALID)


def verdict_word(valid: Any) -> str:
    """A linearizability verdict in one word or two, as reports print it."""
    if valid is True:
        return "linearizable"
    return "NOT linearizable" if valid is False else UNKNOWN_WORD


def short_word(valid: Any) -> str:
    """valid / invalid / unknown: one column of a table of files."""
    if valid is True:
        return "valid"
    return "invalid" if valid is False else UNKNOWN_WORD
