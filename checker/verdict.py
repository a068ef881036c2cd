"""Verdicts, and the exit codes every command turns them into.

A verdict is ``VALID`` (True: the property holds), ``INVALID`` (False: evidence that it
does not) or ``UNKNOWN_VERDICT`` (the string "unknown": a budget ran out, or the evidence
is not enough), never a guess. Not to be confused with ``history.UNKNOWN``, the output of
an operation whose outcome nobody learned.

Every command exits 0 when what it was asked holds, 1 on a violation or refutation, 2 on
bad input or usage, 3 when something stayed unknown; several verdicts combine to the most
serious of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

VALID, INVALID, UNKNOWN_VERDICT = True, False, "unknown"

EXIT_VALID, EXIT_INVALID, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3

# From least to most serious: bad input outranks a violation, which outranks an unknown.
_SERIOUSNESS = (EXIT_VALID, EXIT_UNKNOWN, EXIT_INVALID, EXIT_BAD_INPUT)


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
    return {True: "linearizable", False: "NOT linearizable"}.get(valid, UNKNOWN_VERDICT)


def short_word(valid: Any) -> str:
    """valid / invalid / unknown: one column of a table of files."""
    return {True: "valid", False: "invalid"}.get(valid, UNKNOWN_VERDICT)
