"""Capacity and concurrency of one disk (or one node) over time, as step functions.

A reservation is an interval [start, end) holding `size` GB. Usage changes only at the
breakpoints (starts and ends of reservations); segment i runs from breakpoint i to the next
and carries the GB used and the number of reservations present.

The breakpoints live in a two-level structure: a list of blocks of at most `block`
consecutive breakpoints, each block with its own lazy range-add (GB and count) and its
aggregates (highest GB, fewest reservations). Every operation touches at most two blocks
element by element and the blocks in between through their aggregates, and both halves are
C-level slice operations (`max` on a slice, list comprehensions, `list.insert`):

* `add` / `remove`: O(b + n/b) element steps, no rebuild of anything;
* `peak`, `earliest_fit`, `busy_time`, `load`: O(b + n/b), `overlap_count`: O(log n);
* `share_integral`: O(b + n/b) once the blocks' cached integrals are current (a change
  drops the cache of the blocks it touches); `segments`: O(k) for the k breakpoints in
  the window (best_bandwidth's exact figure of the few disks it evaluates).

With b = 64 and n up to 10,000 breakpoints (10,000 live leases on one node, their starts
dropped with the past) that is a few hundred C-level steps per call. 64 balances the two
terms of an add there (two partial blocks, about 60 ns an entry; the lazy adds of the
blocks between, about 50 ns a block) and measured 5 % faster than 128 at 10,000 live and
the same at 100. doc/performance.md compares it with a pure-Python lazy segment tree,
whose O(log n) Python steps cost more at these sizes.

With the compiled core built (storalloc/accel.py), typed twins of the two structures take
their place: `typed_steps.pyx` (the same blocks over C arrays) and `typed_overlaps.pyx`
(the sorted starts and ends in blocks of C doubles, where the sources' lists shift half
their entries on an insertion). Same answers, float for float (tests/test_typed_twins.py).
"""

from __future__ import annotations

from collections.abc import Iterator

try:  # the typed twins, built with the compiled core only (storalloc/accel.py)
    from storalloc.core.typed_overlaps import OverlapIndex
    from storalloc.core.typed_steps import BlockSteps
except ImportError:
    from storalloc.core.overlaps import OverlapIndex
    from storalloc.core.steps import BlockSteps

#: Sizes are floats in GB: sums and differences leave dust that must not count as usage.
EPSILON = 1e-9

INF = float("inf")
#: Past breakpoints the first block may hold before `expire` drops them.
HISTORY_SLACK = 16


class DiskUsage(BlockSteps):
    """Used GB and number of reservations over time on one disk (or node)."""

    __slots__ = ("_busy_run", "_overlaps", "_peak_cache", "_refs", "held")

    def __init__(self, block: int = 64) -> None:
        super().__init__(block)
        self._refs: dict[float, int] = {}  # reservation edges sitting on each breakpoint
        self._overlaps = OverlapIndex()
        self._peak_cache: float | None = 0.0
        # GB of every reservation not over yet: no instant from now on uses more. O(1),
        # unlike peak_all(), and a fit test's first answer (windows are never in the past).
        # An attribute, not a method: it is read for every disk a decision considers.
        self.held = 0.0
        # [a, b) known to hold a reservation at every instant. An add keeps it true, a
        # remove forgets it. A busy node answers the bandwidth strategies' load() from it.
        self._busy_run = (INF, -INF)

    def __len__(self) -> int:
        return self._overlaps.live

    # -- updates ---------------------------------------------------------------------------

    def add(self, start: float, end: float, size: float) -> None:
        """Book `size` GB on [start, end)."""
        if not end > start:
            raise ValueError(f"empty or reversed interval [{start}, {end})")
        self._edge(start)
        self._edge(end)
        self.range_add(start, end, size, 1)
        self._overlaps.add(start, end)
        self.held += size
        self._peak_cache = None

    def remove(self, start: float, end: float, size: float) -> None:
        """Give back a reservation previously booked with `add` (same arguments)."""
        self._overlaps.forget(start, end, size, over=False)
        self._let_go(size)
        refs = self._refs
        if end in refs:  # some of it lies ahead of the history `expire` dropped
            pruned = start not in refs  # then it covers everything from the first breakpoint
            self.range_add(self.first_time() if pruned else start, end, -size, -1)
            self._busy_run = (INF, -INF)
            self._unedge(end)
            if not pruned:
                self._unedge(start)
        self._peak_cache = None

    def expire(self, start: float, end: float, size: float, now: float) -> None:
        """Forget a reservation that is over (end <= now) without touching the usage: from
        `now` on it already counts for nothing, and the instants before `now` are never
        asked again. History is dropped a whole block at a time, so a lease's end costs
        O(log n) instead of the two range updates of `remove`."""
        if end > now:
            raise ValueError(f"[{start}, {end}) is not over at {now}")
        self._overlaps.forget(start, end, size, over=True)
        self._let_go(size)
        self._drop_history(now)

    def _let_go(self, size: float) -> None:
        # Exactly 0 once nothing is held: float sums must not leave dust behind.
        self.held = self.held - size if self._overlaps.live else 0.0

    def _drop_history(self, now: float) -> None:
        dropped = self.drop_before(now, HISTORY_SLACK)
        if dropped:
            refs = self._refs
            for t in dropped:
                del refs[t]
            self._peak_cache = None

    def _edge(self, t: float) -> None:
        refs = self._refs
        if t in refs:
            refs[t] += 1
        else:
            refs[t] = 1
            self.insert_breakpoint(t)

    def _unedge(self, t: float) -> None:
        """One reservation edge less on `t`; drop the breakpoint with its last edge (the
        segments on both sides then carry the same values). The first breakpoint stays
        while anything is present on its segment: once `expire` dropped the history
        before it, it is the only record of what is booked from there (an instant before
        the first breakpoint reads as empty), and a release of the lease that started on
        it must not make the others vanish."""
        refs = self._refs[t] - 1
        if refs or self.holds_first(t):
            self._refs[t] = refs
        else:
            del self._refs[t]
            self.delete_breakpoint(t)

    # -- queries ---------------------------------------------------------------------------

    def peak_all(self) -> float:
        """Highest usage at any instant; cached, for the 'fits anywhere' fast path."""
        if self._peak_cache is None:
            self._peak_cache = super().peak_all()
        return self._peak_cache

    def overlap_count(self, start: float, end: float) -> int:
        """Number of reservations that overlap [start, end) at all (from now on)."""
        return self._overlaps.count(start, end)

    def load(self, start: float, end: float) -> tuple[int, float]:
        """(overlap_count, busy_time) of [start, end) in one call: the bandwidth strategies
        need both for every disk they consider."""
        count = self._overlaps.count(start, end)
        if count <= 0:
            return 0, 0.0
        a, b = self._busy_run
        if a <= start and end <= b:
            return count, end - start
        until = self.busy_until(start)
        if until >= end:
            self._busy_run = (start, until)
            return count, end - start
        return count, self.busy_time(start, end)

    def outlook(self, t: float) -> tuple[int, float, float]:
        """(reservations present at t, an instant up to which one is present without a
        break (t when none is), the first end after t): bounds on any window from t on,
        read in O(log n) when the busy-run cache covers t."""
        count, next_end = self._overlaps.present(t)
        if count <= 0:
            return 0, t, next_end
        a, b = self._busy_run
        if not a <= t < b:
            b = self.busy_until(t)
            self._busy_run = (t, b)
        return count, b, next_end

    def earliest_fit(
        self, size: float, duration: float, not_before: float, capacity: float
    ) -> float:
        """Earliest t >= not_before with peak(t, t + duration) + size <= capacity.

        Returns infinity when the size can never fit. Each step jumps past the last segment
        that blocks the current candidate, found through the blocks' maxima.
        """
        if size > capacity + EPSILON:
            return INF
        limit = capacity - size + EPSILON
        t = not_before
        while True:
            blocked_until = self.last_above(t, t + duration, limit)
            if blocked_until is None:
                return t
            t = blocked_until

    def breakpoints_from(self, t: float) -> list[float]:
        """Breakpoints at or after t (where usage may drop), in time order."""
        return list(self.iter_times(t))

    def reservations_end(self) -> float | None:
        """Latest breakpoint (end of the last reservation), or None when empty."""
        return self.last_time()

    def segments(self, start: float, end: float) -> Iterator[tuple[float, float, float, int]]:
        """(seg_start, seg_end, used, count) pieces of [start, end), in time order."""
        cursor = start
        for a, b, used, count in self.iter_segments(start, end):
            a, b = max(a, start), min(b, end)
            if a > cursor:  # before the first breakpoint: nothing booked
                yield cursor, a, 0.0, 0
            yield a, b, used, count
            cursor = b
        if cursor < end:
            yield cursor, end, 0.0, 0
