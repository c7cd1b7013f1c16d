"""A tiny progress indicator: a redrawn bar on a terminal, a line per 10 % otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_EVERY = 0.1  # seconds between two redraws of the bar: enough to look live


class Progress:
    """Progress of `total` steps on `stream` (stderr by default).

    On a terminal the bar is redrawn in place (`\\r`), at most every REDRAW_EVERY seconds;
    elsewhere (a log file, a pipe, CI) one plain line is written at each tenth, so logs stay
    short and the same run always writes the same lines.
    """

    def __init__(
        self,
        total: int,
        label: str = "replay",
        stream: TextIO | None = None,
        tty: bool | None = None,
        width: int = 30,
    ) -> None:
        self.total = max(0, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.width = width
        self.done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._last_tenth = 0
        self._closed = False

    def update(self, done: int) -> None:
        """Record that `done` steps (cumulative) are complete."""
        self.done = min(done, self.total)
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= REDRAW_EVERY or self.done == self.total:
                self._last_draw = now
                self._draw()
            return
        tenth = self.done * 10 // self.total if self.total else 10
        if tenth > self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {tenth * 10}% ({self.done:,}/{self.total:,})\n")
            self.stream.flush()

    def _draw(self) -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        elapsed = time.monotonic() - self._started
        rate = f"{self.done / elapsed:,.0f}/s" if elapsed > 0 else ""
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {self.done:,}/{self.total:,} {rate}  "
        )
        self.stream.flush()

    def close(self) -> None:
        """Finish the line on a terminal (the last state drawn stays visible)."""
        if self._closed:
            return
        self._closed = True
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
