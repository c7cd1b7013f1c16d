# The reads of the typed twin (`step_queries.py`'s), included by typed_steps.pyx.


cdef class BlockSteps(_Structure):
    """Used GB and counts over time, updated by range adds between existing breakpoints."""

    cdef bint _span(self, double start, double end, Py_ssize_t *ka, Py_ssize_t *ia,
                    Py_ssize_t *kb, Py_ssize_t *ib):
        """The segments that meet [start, end) run from entry ia of block ka to entry
        ib - 1 of block kb; False when no breakpoint lies before `end`."""
        cdef Py_ssize_t i
        cdef Blk *b
        kb[0] = self._find(end, True)
        if kb[0] < 0:
            return False
        b = self._at(kb[0])
        ib[0] = _left(b.t, b.n, end)
        ka[0] = self._find(start)
        if ka[0] < 0:
            ka[0] = ia[0] = 0
            return True
        b = self._at(ka[0])
        i = _right(b.t, b.n, start) - 1
        ia[0] = i if i > 0 else 0
        return True

    cdef double _seg_end(self, Blk *b, Py_ssize_t k, Py_ssize_t i):
        if i + 1 < b.n:
            return b.t[i + 1]
        return self._b[k + 1].first if k + 1 < self._nb else INF

    def used_at(self, double t):
        """GB used at instant t (exactly 0 where nothing is present)."""
        cdef Py_ssize_t k = self._find(t), i
        if k < 0:
            return 0.0
        cdef Blk *b = &self._b[k]
        i = _right(b.t, b.n, t) - 1
        if b.c[i] + b.lc <= 0:
            return 0.0
        return b.u[i] + b.lu

    def peak(self, double start, double end):
        """Highest usage at any instant of [start, end)."""
        cdef Py_ssize_t ka, ia, kb, ib, k, x
        if not self._span(start, end, &ka, &ia, &kb, &ib):
            return 0.0
        cdef Blk *b = self._at(ka)
        cdef double top = -INF, high
        for x in range(ia, b.n if kb > ka else ib):
            if b.u[x] > top:
                top = b.u[x]
        top = top + b.lu
        if kb > ka + 1:
            b = self._at(ka + 1)
            high = b.bmax + b.lu
            for k in range(ka + 2, kb):
                b = &self._b[k]
                if b.bmax + b.lu > high:
                    high = b.bmax + b.lu
            if high > top:
                top = high
        if kb > ka and ib:
            b = self._at(kb)
            high = b.u[0]
            for x in range(1, ib):
                if b.u[x] > high:
                    high = b.u[x]
            if high + b.lu > top:
                top = high + b.lu
        return top if top >= 0.0 or top != top else 0.0

    def last_above(self, double start, double end, double limit):
        """End of the last segment meeting [start, end) whose used value is above `limit`
        while something is present, or None when there is none."""
        cdef Py_ssize_t ka, ia, kb, ib, k, x, lo, hi
        cdef Blk *b
        if not self._span(start, end, &ka, &ia, &kb, &ib):
            return None
        for k in range(kb, ka - 1, -1):
            b = &self._b[k]
            lo = ia if k == ka else 0
            hi = ib if k == kb else b.n
            if k != ka and k != kb and b.bmax + b.lu <= limit:
                continue
            for x in range(hi - 1, lo - 1, -1):
                if b.u[x] + b.lu > limit and b.c[x] + b.lc > 0:
                    return self._seg_end(b, k, x)
        return None

    def peak_all(self):
        """Highest usage at any instant."""
        cdef Py_ssize_t k
        cdef Blk *b
        cdef double top = 0.0
        for k in range(self._nb):
            b = &self._b[k]
            if k == 0 or b.bmax + b.lu > top:
                top = b.bmax + b.lu
        return top if top >= 0.0 or top != top else 0.0

    def iter_times(self, double t):
        """Breakpoints at or after t, in time order."""
        cdef Py_ssize_t k = self._find(t), x
        if k < 0:
            k = 0
        x = _left(self._b[k].t, self._b[k].n, t) if k < self._nb else 0
        # Indices, not a pointer, across each yield: the caller may book in between, and
        # blocks move when one splits (the sources' lists behave alike, without a crash).
        while k < self._nb:
            if x < self._b[k].n:
                yield self._b[k].t[x]
                x += 1
            else:
                k, x = k + 1, 0

    def iter_segments(self, double start, double end):
        """(from, to, used, count) of every segment meeting [start, end), unclipped."""
        cdef Py_ssize_t ka, ia, kb, ib, k, x
        cdef long long count
        cdef Blk *b
        if not self._span(start, end, &ka, &ia, &kb, &ib):
            return iter(())
        cdef list out = []  # built whole: a caller may book before it is done reading
        for k in range(ka, kb + 1):
            b = &self._b[k]
            for x in range(ia if k == ka else 0, ib if k == kb else b.n):
                count = b.c[x] + b.lc
                out.append((b.t[x], self._seg_end(b, k, x),
                            b.u[x] + b.lu if count > 0 else 0.0, count))
        return iter(out)

    # -- integrals -------------------------------------------------------------------------

    cdef double _busy_in(self, Py_ssize_t k, Py_ssize_t i, Py_ssize_t j, double start,
                         double end):
        """Busy time of entries [i, j) of block k, clipped to [start, end)."""
        if i >= j:
            return 0.0
        cdef Blk *b = &self._b[k]
        cdef double total = _clip(b.t[i], self._seg_end(b, k, j - 1), start, end), idle = 0.0
        cdef long long low = b.c[i], zero = -b.lc
        cdef Py_ssize_t x
        for x in range(i + 1, j):
            if b.c[x] < low:
                low = b.c[x]
        if low + b.lc > 0:  # busy throughout
            return total
        for x in range(i, j):
            if b.c[x] == zero:
                idle += _clip(b.t[x], self._seg_end(b, k, x), start, end)
        return total - idle

    def busy_time(self, double start, double end):
        """Seconds of [start, end) during which the count is above zero."""
        cdef Py_ssize_t ka, ia, kb, ib, k
        cdef Blk *b
        if not self._span(start, end, &ka, &ia, &kb, &ib):
            return 0.0
        if ka == kb:
            return self._busy_in(ka, ia, ib, start, end)
        cdef double busy = self._busy_in(ka, ia, self._at(ka).n, start, end)
        cdef bint whole = True
        if kb > ka + 1:
            for k in range(ka + 1, kb):
                if self._b[k].bmin + self._b[k].lc <= 0:
                    whole = False
                    break
            if whole:
                busy += self._b[kb].first - self._b[ka + 1].first
            else:
                for k in range(ka + 1, kb):
                    busy += self._busy_in(k, 0, self._b[k].n, start, end)
        return busy + self._busy_in(kb, 0, ib, start, end)

    cdef double *_share_prefix(self, Blk *b, Py_ssize_t k):
        cdef Py_ssize_t x
        cdef double to, d
        if b.shp_ok and b.shc == b.lc:
            return b.shp
        d = <double>(b.lc + 1)
        b.shp[0] = 0.0
        for x in range(b.n):
            to = self._seg_end(b, k, x)
            if to == INF:  # the endless last segment counts as empty here, see _share_in
                to = b.t[x]
            to = (to - b.t[x]) / (b.c[x] + d)
            b.shp[x + 1] = to if x == 0 else b.shp[x] + to
        b.shp_ok, b.shc = True, b.lc
        return b.shp

    cdef double _share_in(self, Py_ssize_t k, Py_ssize_t i, Py_ssize_t j, double start,
                          double end):
        """Integral of 1 / (count + 1) over entries [i, j) of block k, clipped to
        [start, end): the running integral, minus the clipped ends."""
        if i >= j:
            return 0.0
        cdef Blk *b = &self._b[k]
        cdef double *prefix = self._share_prefix(b, k)
        cdef double d = <double>(b.lc + 1), total = prefix[j] - prefix[i]
        cdef double last = self._seg_end(b, k, j - 1)
        if start > b.t[i]:
            total -= (start - b.t[i]) / (b.c[i] + d)
        if last == INF:
            total += (end - b.t[j - 1]) / (b.c[j - 1] + d)
        elif end < last:
            total -= (last - end) / (b.c[j - 1] + d)
        return total

    def share_integral(self, double start, double end):
        """Integral over [start, end) of 1 / (count + 1)."""
        cdef Py_ssize_t ka, ia, kb, ib, k
        cdef Blk *b
        if not self._span(start, end, &ka, &ia, &kb, &ib):
            return end - start
        cdef double first = self._b[0].first, total = 0.0, whole = 0.0
        if start < first:  # nothing present yet
            total = (end if end < first else first) - start
        if ka == kb:
            return total + self._share_in(ka, ia, ib, start, end)
        total += self._share_in(ka, ia, self._at(ka).n, start, end)
        for k in range(ka + 1, kb):
            b = &self._b[k]
            whole += self._share_prefix(b, k)[b.n]
        total += whole
        return total + self._share_in(kb, 0, ib, start, end)

    def busy_until(self, double t):
        """The first instant >= t at which the count is zero (t itself if it is)."""
        cdef Py_ssize_t k = self._find(t), x, n = self._nb
        if k < 0:
            return t
        cdef Blk *b = &self._b[k]
        x = _right(b.t, b.n, t) - 1
        while x < b.n and b.c[x] + b.lc > 0:  # the first idle entry from t on
            x += 1
        while x == b.n:  # busy to the end of this block: the next idle block
            k += 1
            if k == n:  # cannot happen: the last segment is always empty
                return INF
            b = &self._b[k]
            if b.bmin + b.lc > 0:
                x = b.n
                continue
            x = 0
            while b.c[x] + b.lc > 0:
                x += 1
        return t if t > b.t[x] else b.t[x]

    # -- ends and layout -------------------------------------------------------------------

    def first_time(self):
        """The first breakpoint (there must be one)."""
        return self._at(0).first

    def last_time(self):
        """The last breakpoint, or None when there is none."""
        if not self._nb:
            return None
        cdef Blk *b = self._at(self._nb - 1)
        return b.t[b.n - 1]

    def holds_first(self, double t):
        """Whether t is the first breakpoint and something is present on its segment."""
        cdef Blk *b = self._at(0)
        return t == b.t[0] and b.c[0] + b.lc > 0

    def layout(self):
        """A copy of every block: (times, used, counts, lazy used, lazy count, highest used,
        lowest count), the stored values without the lazy adds. For tests of invariants."""
        cdef Blk *b
        cdef Py_ssize_t k, x
        out = []
        for k in range(self._nb):
            b = &self._b[k]
            out.append(([b.t[x] for x in range(b.n)], [b.u[x] for x in range(b.n)],
                        [b.c[x] for x in range(b.n)], b.lu, b.lc, b.bmax, b.bmin))
        return out
