"""Render reservations per node and disk as the seed's ASCII timeline, one box per node."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BASE_STEP",
    "PIPE_COLUMNS",
    "STEP_LADDER",
    "Bar",
    "NodeRows",
    "render_timeline",
    "terminal_columns",
]

BASE_STEP = 300  # seconds per column in the seed's picture
# Wider columns tried in order when the 5-minute drawing does not fit the terminal.
STEP_LADDER: tuple[tuple[int, str], ...] = (
    (300, "5 m"),
    (600, "10 m"),
    (900, "15 m"),
    (1800, "30 m"),
    (3600, "1 h"),
    (7200, "2 h"),
    (10800, "3 h"),
    (21600, "6 h"),
    (43200, "12 h"),
    (86400, "1 d"),
    (2 * 86400, "2 d"),
    (7 * 86400, "7 d"),
    (30 * 86400, "30 d"),
)
PIPE_COLUMNS = 200  # the width for logs and pipes, where no terminal says how wide
_MIN_LABEL_WIDTH = 3  # the seed's disk column, widened only for disk indices above 999
_NEWEST, _OTHER = "□", "■"


@dataclass(frozen=True, slots=True)
class Bar:
    """One reservation on one disk: [start, end) in epoch seconds."""

    start: float
    end: float
    newest: bool  # drawn with '□' (the latest placement); others '■'


@dataclass(frozen=True, slots=True)
class NodeRows:
    """One node's box: an optional label line, then one entry of bars per disk (index = disk)."""

    label: str | None
    disks: Sequence[Sequence[Bar]]


def _cells(bar: Bar, origin: float, step: int) -> tuple[int, int] | None:
    """Return (leading spaces, glyph count) for a bar, or None when it ended before origin."""
    if bar.end < origin:
        return None
    # A bar already running at origin is drawn from origin, not off the left edge.
    start = max(bar.start, origin)
    return math.floor((start - origin) / step), max(1, math.floor((bar.end - start) / step))


def _check_finite(nodes: Sequence[NodeRows], origin: float | None) -> None:
    if origin is not None and not math.isfinite(origin):
        raise ValueError(f"timeline origin must be a finite epoch time, got {origin!r}")
    for node in nodes:
        for index, disk in enumerate(node.disks):
            for bar in disk:
                if not (math.isfinite(bar.start) and math.isfinite(bar.end)):
                    raise ValueError(f"timeline bar on disk {index} is not finite: {bar!r}")


def _frame_width(latest_end: float, origin: float, step: int) -> int:
    return max(0, math.floor((latest_end - origin) / step))


def _content_width(bars: Sequence[Bar], latest_end: float, origin: float, step: int) -> int:
    """Columns right of the label: the frame, or a row overhanging it (max(1, ...) glyphs)."""
    extents = (sum(c) for c in (_cells(b, origin, step) for b in bars) if c is not None)
    return max(_frame_width(latest_end, origin, step), max(extents, default=0))


def _choose_step(
    bars: Sequence[Bar], latest_end: float, origin: float, label_width: int, columns: int | None
) -> tuple[int, str]:
    """Keep 5-minute columns when they fit (or width is unknown), else the first step that fits."""
    if columns is None:
        return STEP_LADDER[0]
    for step, name in STEP_LADDER:
        if 2 + label_width + _content_width(bars, latest_end, origin, step) <= columns:
            return step, name
    # Longer than the ladder: whole days per column, as many as it takes to fit.
    room = max(1, columns - 2 - label_width)
    span = max((b.end for b in bars), default=latest_end) - origin
    days = max(60, math.ceil(span / 86400 / max(1, room - 1)))
    while 2 + label_width + _content_width(bars, latest_end, origin, days * 86400) > columns:
        days += max(1, days // 10)
    return days * 86400, f"{days} d"


def _disk_rows(index: int, disk: Sequence[Bar], origin: float, step: int, lw: int) -> list[str]:
    drawn = [(bar, c) for bar, c in ((b, _cells(b, origin, step)) for b in disk) if c is not None]
    if not drawn:
        return [f"│{index:>{lw}}│"]
    rows = []
    for row, (bar, (spaces, glyphs)) in enumerate(drawn):
        label = f"{index:>{lw}}" if row == 0 else " " * lw
        rows.append(f"│{label}│" + " " * spaces + (_NEWEST if bar.newest else _OTHER) * glyphs)
    return rows


def _node_lines(node: NodeRows, origin: float, step: int, width: int, lw: int) -> list[str]:
    lines = [] if node.label is None else [node.label]
    lines.append("┌" + "─" * lw + "┬" + "─" * width)
    for index, disk in enumerate(node.disks):
        if index:
            lines.append("├" + "-" * lw + "┼" + "-" * width)
        lines.extend(_disk_rows(index, disk, origin, step, lw))
    lines.append("└" + "─" * lw + "┴" + "─" * width)
    return lines


def render_timeline(
    nodes: Sequence[NodeRows], *, columns: int | None = None, origin: float | None = None
) -> str:
    """Draw every node's disks and bars as text, lines joined with "\\n" (no trailing newline).

    Columns are 5 minutes from ``origin`` (default: the earliest bar start), as in
    the seed. When ``columns`` (terminal width) is given and that drawing is wider,
    the first step of STEP_LADDER that fits is used and a header line such as
    ``1 column = 1 h, from 2026-11-25 11:40 UTC`` comes first. Bars that ended
    before ``origin`` are skipped; bars within a disk keep the caller's order.
    """
    _check_finite(nodes, origin)
    bars = [bar for node in nodes for disk in node.disks for bar in disk]
    if origin is None:
        origin = min((bar.start for bar in bars), default=0.0)
    latest_end = max((bar.end for bar in bars), default=origin)
    widest_index = max((len(node.disks) - 1 for node in nodes), default=0)
    label_width = max(_MIN_LABEL_WIDTH, len(str(widest_index)))
    step, step_name = _choose_step(bars, latest_end, origin, label_width, columns)
    width = _frame_width(latest_end, origin, step)
    lines = []
    if step != BASE_STEP:
        start = dt.datetime.fromtimestamp(origin, dt.UTC)
        lines.append(f"1 column = {step_name}, from {start:%Y-%m-%d %H:%M} UTC")
    for node in nodes:
        lines.extend(_node_lines(node, origin, step, width, label_width))
    return "\n".join(lines)


def terminal_columns() -> int:
    """Width of the terminal when stdout is one, else PIPE_COLUMNS: a log line of a
    year-long lease must not be 300,000 characters wide."""
    stream = sys.stdout
    try:
        if stream is None or not stream.isatty():
            return PIPE_COLUMNS
    except ValueError:  # stdout closed
        return PIPE_COLUMNS
    return shutil.get_terminal_size().columns
