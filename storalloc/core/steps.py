"""Two step functions over shared breakpoints (a float "used" and an int "count"), in
blocks with lazy range-add and per-block aggregates.

Breakpoint i starts segment i, which ends at breakpoint i + 1 (the last runs to infinity).
Breakpoints are kept in consecutive blocks of at most `block` entries. A block stores its
times, its values without its pending lazy adds, the lazy adds, and two aggregates kept
exact: the highest used value (`_bmax`) and the lowest count (`_bmin`), both without the
lazy adds, so that a whole-block update changes the lazy adds only.

An update or query touches at most two blocks entry by entry and reads or bumps the blocks
in between through their aggregates, always with slice operations that run in C. A
B-tree of height 2 with lazy propagation, in short: O(b + n/b) cheap steps instead of the
O(log n) Python-level node visits of a segment tree, which cost more below a few 100,000
breakpoints (doc/performance.md has the measurements).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from storalloc.core.step_queries import StepQueries

#: Cleared to zero after a partial removal: float dust must not count as usage.
DUST = 1e-9


class BlockSteps(StepQueries):
    """Used GB and counts over time, updated by range adds between existing breakpoints."""

    __slots__ = (
        "_block", "_bmax", "_bmin", "_c", "_first", "_lc", "_lu", "_shc", "_shp", "_t", "_u",
    )

    def __init__(self, block: int = 64) -> None:
        if block < 2:
            raise ValueError(f"block: expected at least 2, got {block}")
        self._block = block
        self._first: list[float] = []  # first time of each block, for bisection
        self._t: list[list[float]] = []  # times of each block
        self._u: list[list[float]] = []  # used, lazy add excluded
        self._c: list[list[int]] = []  # count, lazy add excluded
        self._lu: list[float] = []  # lazy adds of whole blocks
        self._lc: list[int] = []
        # Highest used and lowest count of each block, lazy add excluded like the entries:
        # a whole-block update then touches only the lazy add.
        self._bmax: list[float] = []
        self._bmin: list[int] = []
        # Running share integral (best_bandwidth) over each block's entries, cached for the
        # lazy count it was computed at; None once the block's entries or span change.
        self._shp: list[list[float] | None] = []
        self._shc: list[int] = []

    # -- structure -------------------------------------------------------------------------

    def _refresh(self, k: int) -> None:
        self._bmax[k] = max(self._u[k])
        self._bmin[k] = min(self._c[k])
        self._shp[k] = None

    def insert_breakpoint(self, t: float) -> None:
        """Split the segment holding t at t (t must not be a breakpoint yet)."""
        first = self._first
        k = bisect_right(first, t) - 1
        if k < 0:  # before every breakpoint: nothing is booked there
            if not first:
                self._new_block(0, [t], [0.0], [0], 0.0, 0)
                return
            k = 0
            # Stored values exclude the block's lazy add: these read back as exactly 0.
            self._t[0].insert(0, t)
            self._u[0].insert(0, -self._lu[0])
            self._c[0].insert(0, -self._lc[0])
            first[0] = t
            self._bmax[0] = max(self._bmax[0], -self._lu[0])
            self._bmin[0] = min(self._bmin[0], -self._lc[0])
        else:  # a copy of the segment it splits, in the same block: aggregates unchanged
            ts = self._t[k]
            i = bisect_right(ts, t)
            ts.insert(i, t)
            us, cs = self._u[k], self._c[k]
            us.insert(i, us[i - 1])
            cs.insert(i, cs[i - 1])
        self._shp[k] = None
        if len(self._t[k]) > self._block:
            self._split(k)

    def delete_breakpoint(self, t: float) -> None:
        """Merge the segment starting at t into the one before (t must be a breakpoint)."""
        k = bisect_right(self._first, t) - 1
        ts = self._t[k]
        i = bisect_left(ts, t)
        if k:  # the block before may end where this one began
            self._shp[k - 1] = None
        del ts[i]
        del self._u[k][i]
        del self._c[k][i]
        if not ts:
            self._drop_block(k)
            return
        if i == 0:
            self._first[k] = ts[0]
        self._refresh(k)
        small = self._block // 4
        if len(ts) < small and k + 1 < len(self._t) and len(self._t[k + 1]) < small * 3:
            self._merge(k)

    def _new_block(
        self, k: int, ts: list[float], us: list[float], cs: list[int], lu: float, lc: int
    ) -> None:
        self._first.insert(k, ts[0])
        self._t.insert(k, ts)
        self._u.insert(k, us)
        self._c.insert(k, cs)
        self._lu.insert(k, lu)
        self._lc.insert(k, lc)
        self._bmax.insert(k, 0.0)
        self._bmin.insert(k, 0)
        self._shp.insert(k, None)
        self._shc.insert(k, 0)
        self._refresh(k)

    def _drop_block(self, k: int) -> None:
        for column in (self._first, self._t, self._u, self._c, self._lu, self._lc,
                       self._bmax, self._bmin, self._shp, self._shc):  # fmt: skip
            del column[k]

    def _split(self, k: int) -> None:
        half = len(self._t[k]) // 2
        ts, us, cs = self._t[k], self._u[k], self._c[k]
        self._t[k], self._u[k], self._c[k] = ts[:half], us[:half], cs[:half]
        self._refresh(k)
        self._new_block(k + 1, ts[half:], us[half:], cs[half:], self._lu[k], self._lc[k])

    def _push(self, k: int) -> None:
        """Apply block k's lazy adds to its entries."""
        lu, lc = self._lu[k], self._lc[k]
        if lu:
            self._u[k] = [x + lu for x in self._u[k]]
            self._lu[k] = 0.0
        if lc:
            self._c[k] = [x + lc for x in self._c[k]]
            self._lc[k] = 0

    def _merge(self, k: int) -> None:
        """Append block k + 1 to block k (keeps blocks from shrinking to a few entries)."""
        self._push(k)
        self._push(k + 1)
        self._t[k] += self._t[k + 1]
        self._u[k] += self._u[k + 1]
        self._c[k] += self._c[k + 1]
        self._drop_block(k + 1)
        self._refresh(k)

    # -- updates ---------------------------------------------------------------------------

    def range_add(self, start: float, end: float, du: float, dc: int) -> None:
        """Add du and dc to every segment from breakpoint `start` to breakpoint `end`
        (both must exist)."""
        first = self._first
        ka = bisect_right(first, start) - 1
        kb = bisect_right(first, end) - 1
        ia = bisect_left(self._t[ka], start)
        ib = bisect_left(self._t[kb], end)
        if ka == kb:
            self._add_in(ka, ia, ib, du, dc)
            return
        self._add_in(ka, ia, len(self._t[ka]), du, dc)
        if kb > ka + 1:  # whole blocks: their lazy adds and aggregates only
            lo, hi = ka + 1, kb
            if du:
                self._lu[lo:hi] = [x + du for x in self._lu[lo:hi]]
            self._lc[lo:hi] = [x + dc for x in self._lc[lo:hi]]
        if ib:
            self._add_in(kb, 0, ib, du, dc)

    def _add_in(self, k: int, i: int, j: int, du: float, dc: int) -> None:
        if i == 0 and j == len(self._t[k]):
            self._lu[k] += du
            self._lc[k] += dc
            return
        us, cs = self._u[k], self._c[k]
        cs[i:j] = [x + dc for x in cs[i:j]]
        if not du:  # a count-only update (a node's aggregate: see Cluster.book)
            self._bmin[k] = min(cs)
            self._shp[k] = None
            return
        if du < 0:  # a removal: what reads back as dust becomes exactly 0
            lu = self._lu[k]
            us[i:j] = [x if x + lu > DUST else -lu for x in [y + du for y in us[i:j]]]
            self._refresh(k)
            return
        raised = [x + du for x in us[i:j]]
        us[i:j] = raised
        # Only [i, j) went up: the block's highest is the old one or one of them. (Two
        # values compared by hand: CPython 3.11's max() parses keywords at every call.)
        top = max(raised)
        if top > self._bmax[k]:
            self._bmax[k] = top
        self._bmin[k] = min(cs)
        self._shp[k] = None

    def drop_before(self, now: float, slack: int) -> list[float]:
        """Drop the breakpoints before the one in force at `now` (instants before `now` are
        never asked again): whole blocks first, then the head of the first block once it
        holds `slack` of them (every update and query of that block scans them otherwise).
        Returns the times dropped."""
        first = self._first
        dropped: list[float] = []
        while len(first) > 1 and first[1] <= now:
            dropped += self._t[0]
            self._drop_block(0)
        if first:
            ts = self._t[0]
            i = bisect_right(ts, now) - 1
            if i >= slack:
                dropped += ts[:i]
                del ts[:i], self._u[0][:i], self._c[0][:i]
                first[0] = ts[0]
                self._refresh(0)
        return dropped
