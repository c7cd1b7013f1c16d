"""BEFORE issue 11, kept for bench/bench_scale.py's "before" curve: capacity and
concurrency of one disk (or one node) over time, as step functions.

A reservation is an interval [start, end) holding `size` GB. The structure keeps the
breakpoints where usage changes, and for every segment between two breakpoints the GB used
and the number of reservations present. Queries locate their window with binary search and
then read only the segments inside the window, with C-level builtins (`max` on a slice):

* `add` / `remove`: O(log n + k), k = breakpoints inside the reservation (list insertion
  is a memmove, not a Python loop);
* `peak`, `overlap_count`: O(log n + k) and O(log n);
* `busy_time`, `share_integral`: O(log n), from running integrals rebuilt (O(n), in C-level
  `accumulate`) on the first query after a change.

n is the number of live and future reservations on the disk: expired ones are removed, so n
stays near the number of concurrent allocations (about 100 per disk for 100k reservations
over 1,000 disks), which keeps k small. doc/benchmarks-placement.md has the measured costs.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from itertools import accumulate

#: Below this many segments in a window, a query walks them instead of rebuilding the
#: running integrals of a changed disk (a rebuild has a fixed cost of a few microseconds).
DIRECT_SEGMENTS = 24
DIRECT_WALKS = 4

#: Sizes are floats in GB: sums and differences leave dust that must not count as usage.
EPSILON = 1e-9


class DiskUsage:
    """Used GB and number of reservations over time on one disk."""

    #: There was no count of the GB held before issue 11: infinity sends a fit test on to
    #: peak_all(), as it went then.
    held = float("inf")
    __slots__ = (
        "_busy", "_conc", "_ends", "_peak_cache", "_refs", "_share", "_starts", "_times",
        "_used", "_walks",
    )

    def __init__(self) -> None:
        self._times: list[float] = []  # sorted breakpoints
        self._used: list[float] = []  # GB used on [times[i], times[i+1]); last is 0
        self._conc: list[int] = []  # reservations present on the same segment
        self._refs: dict[float, int] = {}  # reservation edges sitting on each breakpoint
        self._starts: list[float] = []  # sorted starts, for O(log n) overlap counts
        self._ends: list[float] = []
        self._peak_cache: float | None = 0.0
        # Running integrals of "busy" and of 1/(k+1) up to each breakpoint, rebuilt lazily
        # (like the peak) so that bandwidth queries cost two binary searches.
        self._busy: list[float] | None = None
        self._share: list[float] | None = None
        self._walks = 0  # short windows walked since the last change

    def __len__(self) -> int:
        return len(self._starts)

    # -- updates ---------------------------------------------------------------------------

    def add(self, start: float, end: float, size: float) -> None:
        """Book `size` GB on [start, end)."""
        if not end > start:
            raise ValueError(f"empty or reversed interval [{start}, {end})")
        i = self._edge(start)
        j = self._edge(end)
        used, conc = self._used, self._conc
        for k in range(i, j):
            used[k] += size
            conc[k] += 1
        insort(self._starts, start)
        insort(self._ends, end)
        self._peak_cache = None
        self._busy = self._share = None
        self._walks = 0

    def expire(self, start: float, end: float, size: float, now: float) -> None:
        """A lease's end, as this structure handled it: a full removal."""
        del now
        self.remove(start, end, size)

    def remove(self, start: float, end: float, size: float) -> None:
        """Give back a reservation previously booked with `add` (same arguments)."""
        try:
            i = self._index(start)
            j = self._index(end)
            si = self._find(self._starts, start)
            ei = self._find(self._ends, end)
        except KeyError:
            raise KeyError(f"no reservation [{start}, {end}) of {size} GB") from None
        # Only change anything once every lookup succeeded: a bad call leaves no trace.
        del self._starts[si]
        del self._ends[ei]
        used, conc = self._used, self._conc
        for k in range(i, j):
            left = used[k] - size
            used[k] = left if left > EPSILON else 0.0
            conc[k] -= 1
        self._unedge(j)  # j > i: dropping j first leaves i in place
        self._unedge(i)
        self._peak_cache = None
        self._busy = self._share = None
        self._walks = 0

    def _edge(self, t: float) -> int:
        times = self._times
        idx = bisect_left(times, t)
        if idx < len(times) and times[idx] == t:
            self._refs[t] += 1
            return idx
        times.insert(idx, t)
        # A new breakpoint splits a segment: both halves start with the same values.
        self._used.insert(idx, self._used[idx - 1] if idx else 0.0)
        self._conc.insert(idx, self._conc[idx - 1] if idx else 0)
        self._refs[t] = 1
        return idx

    def _unedge(self, idx: int) -> None:
        """One reservation edge less on breakpoint `idx`; drop the breakpoint if it was
        the last one there."""
        t = self._times[idx]
        refs = self._refs[t] - 1
        if refs:
            self._refs[t] = refs
            return
        del self._refs[t]
        # No reservation begins or ends here any more, so the segments on both sides carry
        # the same values; keep the left one (its float sum is the older, cleaner one).
        del self._times[idx]
        del self._used[idx]
        del self._conc[idx]

    def _index(self, t: float) -> int:
        idx = bisect_left(self._times, t)
        if idx == len(self._times) or self._times[idx] != t:
            raise KeyError(t)
        return idx

    @staticmethod
    def _find(values: list[float], t: float) -> int:
        idx = bisect_left(values, t)
        if idx == len(values) or values[idx] != t:
            raise KeyError(t)
        return idx

    # -- queries ---------------------------------------------------------------------------

    def _window(self, start: float, end: float) -> tuple[int, int]:
        """Indices [i, j) of the segments that intersect [start, end)."""
        i = bisect_right(self._times, start) - 1
        j = bisect_left(self._times, end)
        return max(i, 0), j

    def used_at(self, t: float) -> float:
        """GB used at instant t."""
        i = bisect_right(self._times, t) - 1
        return self._used[i] if i >= 0 else 0.0

    def peak(self, start: float, end: float) -> float:
        """Highest usage at any instant of [start, end)."""
        i, j = self._window(start, end)
        return max(self._used[i:j], default=0.0)

    def peak_all(self) -> float:
        """Highest usage at any instant; cached, for the 'fits anywhere' fast path."""
        if self._peak_cache is None:
            self._peak_cache = max(self._used, default=0.0)
        return self._peak_cache

    def overlap_count(self, start: float, end: float) -> int:
        """Number of reservations that overlap [start, end) at all."""
        return bisect_left(self._starts, end) - bisect_right(self._ends, start)

    def segments(self, start: float, end: float) -> Iterator[tuple[float, float, float, int]]:
        """(seg_start, seg_end, used, count) pieces of [start, end), in time order."""
        times, used, conc = self._times, self._used, self._conc
        i, j = self._window(start, end)
        cursor = start
        if not times or times[0] >= end:
            yield start, end, 0.0, 0
            return
        if times[i] > start:  # the window begins before the first breakpoint
            yield start, times[i], 0.0, 0
            cursor = times[i]
        for k in range(i, j):
            seg_end = times[k + 1] if k + 1 < len(times) else end
            seg_end = min(seg_end, end)
            if seg_end > cursor:
                yield cursor, seg_end, used[k], conc[k]
                cursor = seg_end
        if cursor < end:
            yield cursor, end, 0.0, 0

    def load(self, start: float, end: float) -> tuple[int, float]:
        """(overlap_count, busy_time) of [start, end) in one call: the bandwidth strategies
        need both for every disk they consider, so this path is kept flat."""
        count = bisect_left(self._starts, end) - bisect_right(self._ends, start)
        if count <= 0:
            return 0, 0.0
        times, conc = self._times, self._conc
        # Some reservation overlaps, so times[0] < end; before times[0] nothing is busy.
        j = bisect_right(times, end) - 1
        i = bisect_right(times, start) - 1
        if self._busy is None and j - i < DIRECT_SEGMENTS and self._walks < DIRECT_WALKS:
            # A short window on a freshly changed disk: walking it beats a rebuild, unless
            # the disk stays unchanged long enough for the rebuild to pay for itself.
            self._walks += 1
            busy = 0.0
            for k in range(max(i, 0), j + 1):
                if conc[k]:
                    busy += min(times[k + 1] if k < j else end, end) - max(times[k], start)
            return count, busy
        busy_prefix = self._busy or self._busy_prefix()
        at_end = busy_prefix[j] + (end - times[j] if conc[j] else 0.0)
        at_start = (busy_prefix[i] + (start - times[i] if conc[i] else 0.0)) if i >= 0 else 0.0
        return count, at_end - at_start

    def busy_time(self, start: float, end: float) -> float:
        """Seconds of [start, end) during which at least one reservation is present."""
        if not self._times:
            return 0.0
        busy = self._busy or self._busy_prefix()
        return self._cumulative(busy, end, _busy) - self._cumulative(busy, start, _busy)

    def share_integral(self, start: float, end: float) -> float:
        """Integral over [start, end) of 1 / (reservations present + 1): the time-weighted
        share a newcomer gets when it splits bandwidth equally with whoever is present."""
        if not self._times:
            return end - start
        share = self._share or self._share_prefix()
        return self._cumulative(share, end, _share) - self._cumulative(share, start, _share)

    # Running integrals from the first breakpoint, one entry per breakpoint. Each is built
    # only when a query needs it: worst_case reads only the first, best_bandwidth the second.

    def _busy_prefix(self) -> list[float]:
        times, conc = self._times, self._conc
        self._busy = [0.0, *accumulate(
            [b - a if n else 0.0 for a, b, n in zip(times, times[1:], conc, strict=False)]
        )]  # fmt: skip
        return self._busy

    def _share_prefix(self) -> list[float]:
        times, conc = self._times, self._conc
        self._share = [0.0, *accumulate(
            [(b - a) / (n + 1) for a, b, n in zip(times, times[1:], conc, strict=False)]
        )]  # fmt: skip
        return self._share

    def _cumulative(self, prefix: list[float], t: float, rate: Callable[[int], float]) -> float:
        """Integral of rate(reservations present) from the first breakpoint to t (negative
        before it, where no reservation is present)."""
        times = self._times
        i = bisect_right(times, t) - 1
        if i < 0:
            return (t - times[0]) * rate(0)
        return prefix[i] + (t - times[i]) * rate(self._conc[i])

    def earliest_fit(
        self, size: float, duration: float, not_before: float, capacity: float
    ) -> float:
        """Earliest t >= not_before with peak(t, t + duration) + size <= capacity.

        Returns infinity when the size can never fit. Each step jumps past the last segment
        that blocks the current candidate, so the sweep visits each breakpoint at most once.
        """
        if size > capacity + EPSILON:
            return float("inf")
        limit = capacity - size + EPSILON
        times, used = self._times, self._used
        t = not_before
        while True:
            i, j = self._window(t, t + duration)
            blocker = next((k for k in range(j - 1, i - 1, -1) if used[k] > limit), None)
            if blocker is None:
                return t
            # Segment `blocker` is never last (the last one is always empty), so k+1 exists.
            t = times[blocker + 1]

    def breakpoints_from(self, t: float) -> list[float]:
        """Breakpoints at or after t (where usage may drop), in time order."""
        return self._times[bisect_left(self._times, t) :]

    def reservations_end(self) -> float | None:
        """Latest breakpoint (end of the last reservation), or None when empty."""
        return self._times[-1] if self._times else None

    # Added for the benchmark only: today's planner walks breakpoints lazily.
    def iter_times(self, t: float):
        return iter(self.breakpoints_from(t))


def _busy(present: int) -> float:
    return 1.0 if present else 0.0


def _share(present: int) -> float:
    return 1.0 / (present + 1)
