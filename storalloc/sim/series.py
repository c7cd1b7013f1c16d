"""Step series of a replay (GB in use, requests waiting) and their aggregation into bins, so
that a dense trace draws at a readable resolution instead of as a solid block."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = ["Binned", "Series", "bin_series", "pad", "step_series"]

Series = tuple[list[float], list[float]]  # times (epoch s), values: value[i] holds from times[i]


def step_series(events: Iterable[tuple[float, float]]) -> Series:
    """A step function from (time, change) events: the running total after each instant."""
    times: list[float] = []
    values: list[float] = []
    total = 0.0
    for t, change in sorted(events):
        total += change
        if times and times[-1] == t:
            values[-1] = total  # several changes at one instant: keep the final value
        else:
            times.append(t)
            values.append(total)
    return times, values


def pad(series: Series, span: tuple[float, float]) -> Series:
    """The series from the first to the last instant of the run, so panels line up and an
    empty series still draws a line at 0."""
    times, values = list(series[0]), list(series[1])
    if not times or times[0] > span[0]:
        times.insert(0, span[0])
        values.insert(0, 0.0)
    if times[-1] < span[1]:
        times.append(span[1])
        values.append(values[-1])
    return times, values


@dataclasses.dataclass(frozen=True, slots=True)
class Binned:
    """A step series over equal bins: bin i covers [edges[i], edges[i + 1])."""

    edges: list[float]
    mean: list[float]  # time-weighted mean in the bin
    peak: list[float]  # highest value reached in the bin


def bin_series(series: Series, span: tuple[float, float], bins: int) -> Binned:
    """Aggregate a step series (held until ``span[1]``) into ``bins`` equal bins.

    Runs in O(len(series) + bins): each constant piece is spread over the bins it covers.
    """
    first, last = span
    width = (last - first) / bins if last > first else 1.0
    edges = [first + i * width for i in range(bins + 1)]
    area = [0.0] * bins
    peak = [0.0] * bins
    seen = [False] * bins
    times, values = series
    for i, (start, value) in enumerate(zip(times, values, strict=True)):
        stop = times[i + 1] if i + 1 < len(times) else last
        start, stop = max(start, first), min(stop, last)
        if stop <= start and not (start == stop == first and i == 0):
            continue
        lo = min(int((start - first) / width), bins - 1)
        hi = min(int((stop - first) / width), bins - 1) if stop > start else lo
        for b in range(lo, hi + 1):
            overlap = min(stop, edges[b + 1]) - max(start, edges[b])
            if overlap > 0 or b == lo:
                area[b] += value * max(overlap, 0.0)
                peak[b] = value if not seen[b] else max(peak[b], value)
                seen[b] = True
    mean = [a / width for a in area]
    return Binned(edges, mean, peak)
