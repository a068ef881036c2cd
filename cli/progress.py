"""Progress on a terminal for searches that take more than a moment."""

from __future__ import annotations

import sys
import time

import click

DELAY = 0.5  # seconds of silence before a bar appears: quick checks print nothing


class Progress:
    """A callable ``progress(done, total)`` that draws a bar on stderr.

    Silent when stderr is not a terminal, when ``quiet`` is set, and for the first
    half second, so piped output and fast checks stay clean.
    """

    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.enabled = not quiet and sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < DELAY:
            return
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(total, 1), label=self.label, file=sys.stderr, show_pos=True, show_eta=False
            )
            self.bar.__enter__()
        self.bar.update(max(0, done - self.bar.pos))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
