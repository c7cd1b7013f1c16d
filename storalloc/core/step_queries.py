"""Reads of the step functions kept by `storalloc.core.steps.BlockSteps`: values, peaks,
the last segment above a limit, and integrals over time of the count: busy time (count
above zero; worst_case) and share (1 / (count + 1); best_bandwidth).

A mixin of `BlockSteps`, kept apart to keep each module to one job: it reads the blocks
(`_t`, `_u`, `_c`, `_lu`, `_lc`, `_bmax`, `_bmin`, `_first`) and caches one running share
integral per block.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import accumulate
from operator import add

INF = float("inf")


class StepQueries:
    """Reads over windows, from the blocks of `BlockSteps`."""

    __slots__ = ()
    # Provided by BlockSteps.
    _t: list[list[float]]
    _u: list[list[float]]
    _c: list[list[int]]
    _lu: list[float]
    _lc: list[int]
    _bmax: list[float]
    _bmin: list[int]
    _first: list[float]
    _shp: list[list[float] | None]
    _shc: list[int]

    def _span(self, start: float, end: float) -> tuple[int, int, int, int] | None:
        """(ka, ia, kb, ib): the segments that meet [start, end) run from entry ia of block
        ka to entry ib - 1 of block kb; None when no breakpoint lies before `end`."""
        first = self._first
        kb = bisect_left(first, end) - 1
        if kb < 0:
            return None
        ib = bisect_left(self._t[kb], end)
        ka = bisect_right(first, start) - 1
        if ka < 0:
            return 0, 0, kb, ib
        ia = bisect_right(self._t[ka], start) - 1
        return ka, ia if ia > 0 else 0, kb, ib

    def used_at(self, t: float) -> float:
        """GB used at instant t (exactly 0 where nothing is present)."""
        k = bisect_right(self._first, t) - 1
        if k < 0:
            return 0.0
        i = bisect_right(self._t[k], t) - 1
        if self._c[k][i] + self._lc[k] <= 0:
            return 0.0
        return self._u[k][i] + self._lu[k]

    def peak(self, start: float, end: float) -> float:
        """Highest usage at any instant of [start, end)."""
        span = self._span(start, end)
        if span is None:
            return 0.0
        ka, ia, kb, ib = span
        us = self._u
        if ka == kb:
            return max(max(us[ka][ia:ib], default=-INF) + self._lu[ka], 0.0)
        top = max(us[ka][ia:]) + self._lu[ka]
        if kb > ka + 1:
            top = max(top, max(map(add, self._bmax[ka + 1 : kb], self._lu[ka + 1 : kb])))
        if ib:
            top = max(top, max(us[kb][:ib]) + self._lu[kb])
        return max(top, 0.0)

    def _seg_end(self, k: int, i: int) -> float:
        ts = self._t[k]
        if i + 1 < len(ts):
            return ts[i + 1]
        return self._first[k + 1] if k + 1 < len(self._first) else INF

    def last_above(self, start: float, end: float, limit: float) -> float | None:
        """End of the last segment meeting [start, end) whose used value is above `limit`
        while something is present, or None when there is none."""
        span = self._span(start, end)
        if span is None:
            return None
        ka, ia, kb, ib = span
        for k in range(kb, ka - 1, -1):
            lo = ia if k == ka else 0
            hi = ib if k == kb else len(self._t[k])
            if lo >= hi:
                continue
            us, lu = self._u[k], self._lu[k]
            if k not in (ka, kb):
                if self._bmax[k] + lu <= limit:
                    continue
            elif max(us[lo:hi]) + lu <= limit:
                continue
            cs, lc = self._c[k], self._lc[k]
            for x in range(hi - 1, lo - 1, -1):
                if us[x] + lu > limit and cs[x] + lc > 0:
                    return self._seg_end(k, x)
        return None

    def peak_all(self) -> float:
        """Highest usage at any instant."""
        return max(max(map(add, self._bmax, self._lu), default=0.0), 0.0)

    def iter_times(self, t: float) -> Iterator[float]:
        """Breakpoints at or after t, in time order."""
        k = max(bisect_right(self._first, t) - 1, 0)
        for block in self._t[k:]:
            yield from block[bisect_left(block, t) :] if block[0] < t else block

    def iter_segments(self, start: float, end: float) -> Iterator[tuple[float, float, float, int]]:
        """(from, to, used, count) of every segment meeting [start, end), unclipped."""
        span = self._span(start, end)
        if span is None:
            return
        ka, ia, kb, ib = span
        for k in range(ka, kb + 1):
            lo = ia if k == ka else 0
            hi = ib if k == kb else len(self._t[k])
            ts, us, cs, lu, lc = self._t[k], self._u[k], self._c[k], self._lu[k], self._lc[k]
            for x in range(lo, hi):
                count = cs[x] + lc
                yield ts[x], self._seg_end(k, x), (us[x] + lu if count > 0 else 0.0), count

    # -- integrals -------------------------------------------------------------------------

    def _busy_in(self, k: int, i: int, j: int, start: float, end: float) -> float:
        """Busy time of entries [i, j) of block k, clipped to [start, end)."""
        if i >= j:
            return 0.0
        ts, cs, lc = self._t[k], self._c[k], self._lc[k]
        # Two-value min and max as conditionals: CPython 3.11's builtins parse keywords at
        # every call, several times the cost of the comparison (doc/performance.md).
        last, first = self._seg_end(k, j - 1), ts[i]
        total = (end if end < last else last) - (start if start > first else first)
        counts = cs[i:j]
        if min(counts) + lc > 0:  # busy throughout: one subtraction
            return total
        # Busy = the whole span minus its idle entries, found by C-level index() calls:
        # a busy disk has few idle entries (its tail), a quiet one has few entries at all.
        # As many calls as idle entries: a miss would raise, and formatting its error
        # costs more than counting them.
        idle, zero, x = 0.0, -lc, i
        for _ in range(counts.count(zero)):
            x = cs.index(zero, x, j)
            last, first = self._seg_end(k, x), ts[x]
            idle += (end if end < last else last) - (start if start > first else first)
            x += 1
        return total - idle

    def busy_time(self, start: float, end: float) -> float:
        """Seconds of [start, end) during which the count is above zero."""
        span = self._span(start, end)
        if span is None:
            return 0.0
        ka, ia, kb, ib = span
        if ka == kb:
            return self._busy_in(ka, ia, ib, start, end)
        busy = self._busy_in(ka, ia, len(self._t[ka]), start, end)
        if kb > ka + 1:
            if min(map(add, self._bmin[ka + 1 : kb], self._lc[ka + 1 : kb])) > 0:
                busy += self._first[kb] - self._first[ka + 1]
            else:
                for k in range(ka + 1, kb):
                    busy += self._busy_in(k, 0, len(self._t[k]), start, end)
        return busy + self._busy_in(kb, 0, ib, start, end)

    def _share_prefix(self, k: int) -> list[float]:
        prefix = self._shp[k]
        if prefix is not None and self._shc[k] == self._lc[k]:
            return prefix
        ts = self._t[k]
        tos = ts[1:]
        tos.append(self._seg_end(k, len(ts) - 1))
        if tos[-1] == INF:  # the endless last segment counts as empty here, see _share_in
            tos[-1] = ts[-1]
        d = self._lc[k] + 1
        pieces = [(b - a) / (c + d) for a, b, c in zip(ts, tos, self._c[k], strict=True)]
        prefix = [0.0, *accumulate(pieces)]
        self._shp[k], self._shc[k] = prefix, self._lc[k]
        return prefix

    def _share_in(self, k: int, i: int, j: int, start: float, end: float) -> float:
        """Integral of 1 / (count + 1) over entries [i, j) of block k, clipped to
        [start, end): the running integral, minus the clipped ends."""
        if i >= j:
            return 0.0
        prefix = self._share_prefix(k)
        ts, cs, d = self._t[k], self._c[k], self._lc[k] + 1
        total = prefix[j] - prefix[i]
        if start > ts[i]:
            total -= (start - ts[i]) / (cs[i] + d)
        last = self._seg_end(k, j - 1)
        if last == INF:
            total += (end - ts[j - 1]) / (cs[j - 1] + d)
        elif end < last:
            total -= (last - end) / (cs[j - 1] + d)
        return total

    def _block_share(self, k: int) -> float:
        return self._share_prefix(k)[-1]

    def share_integral(self, start: float, end: float) -> float:
        """Integral over [start, end) of 1 / (count + 1)."""
        span = self._span(start, end)
        if span is None:
            return end - start
        ka, ia, kb, ib = span
        first = self._first[0]
        total = min(first, end) - start if start < first else 0.0  # nothing present yet
        if ka == kb:
            return total + self._share_in(ka, ia, ib, start, end)
        total += self._share_in(ka, ia, len(self._t[ka]), start, end)
        total += sum(map(self._block_share, range(ka + 1, kb)))
        return total + self._share_in(kb, 0, ib, start, end)

    def busy_until(self, t: float) -> float:
        """The first instant >= t at which the count is zero (t itself if it is)."""
        first = self._first
        k = bisect_right(first, t) - 1
        if k < 0:
            return t
        i = bisect_right(self._t[k], t) - 1
        cs, lc = self._c[k], self._lc[k]
        bmin, lcs = self._bmin, self._lc
        # Counts never go below zero, so the first idle entry is the first equal to -lc:
        # one C-level search, where the block has one (a miss raises, and formatting its
        # error costs more than the search; busy nodes are busy past most blocks).
        x = -1
        if bmin[k] + lc <= 0:
            try:
                x = cs.index(-lc, i)
            except ValueError:
                x = -1  # its idle entries are all before t
        if x < 0:  # busy to the end of this block: find the next idle block
            k = next((j for j in range(k + 1, len(first)) if bmin[j] + lcs[j] <= 0), -1)
            if k < 0:  # cannot happen: the last segment is always empty
                return INF
            x = self._c[k].index(-lcs[k])
        idle = self._t[k][x]
        return t if t > idle else idle

    # -- ends and layout -------------------------------------------------------------------

    def first_time(self) -> float:
        """The first breakpoint (there must be one)."""
        return self._first[0]

    def last_time(self) -> float | None:
        """The last breakpoint, or None when there is none."""
        return self._t[-1][-1] if self._t else None

    def holds_first(self, t: float) -> bool:
        """Whether t is the first breakpoint and something is present on its segment."""
        return t == self._first[0] and self._c[0][0] + self._lc[0] > 0

    def layout(self) -> list[tuple[list[float], list[float], list[int], float, int, float, int]]:
        """A copy of every block: (times, used, counts, lazy used, lazy count, highest used,
        lowest count), the stored values without the lazy adds. For tests of invariants."""
        return [(list(ts), list(us), list(cs), lu, lc, bmax, bmin) for ts, us, cs, lu, lc,
                bmax, bmin in zip(self._t, self._u, self._c, self._lu, self._lc, self._bmax,
                                  self._bmin, strict=True)]  # fmt: skip
