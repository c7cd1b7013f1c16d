# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The typed twin of `BlockSteps` (`steps.py` with `step_queries.py`): the same blocks,
the same operations in the same order, over C arrays of doubles and 64-bit counts instead
of lists of boxed numbers.

Built only with the compiled core (storalloc/accel.py); `capacity.py` takes it when it
is there. Python lists cost about 20 ns an element to update even compiled, for the new
float or int each update allocates; here an element costs about one, and the blocks'
lazy adds and aggregates sit side by side in one array, so the whole blocks an update or
a peak crosses are one pass over contiguous memory. Every result is the sources' own,
float for float: each sum, maximum and quotient is taken in the sources' order (a
maximum keeps the first of equal values, as `max()` does); tests compare the two on
random operation sequences.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcpy, memmove

include "typed_arrays.pxi"

cdef double INF = float("inf")
#: Cleared to zero after a partial removal: float dust must not count as usage.
cdef double DUST = 1e-9


cdef struct Blk:
    double *t  # times, used and counts of the block's breakpoints, lazy adds excluded
    double *u
    long long *c
    double *shp  # running share integral, n + 1 entries, while shp_ok and shc == lc
    Py_ssize_t n
    double first  # t[0], here for the search over blocks
    double lu, bmax  # lazy add and highest used (lazy add excluded)
    long long lc, bmin, shc
    bint shp_ok


cdef inline void _refresh(Blk *b):
    cdef double top = b.u[0]
    cdef long long low = b.c[0]
    cdef Py_ssize_t x
    for x in range(1, b.n):
        if b.u[x] > top:
            top = b.u[x]
        if b.c[x] < low:
            low = b.c[x]
    b.first, b.bmax, b.bmin, b.shp_ok = b.t[0], top, low, False


cdef inline long long _min_count(Blk *b):
    cdef long long low = b.c[0]
    cdef Py_ssize_t x
    for x in range(1, b.n):
        if b.c[x] < low:
            low = b.c[x]
    return low


cdef inline void _shift(Blk *b, Py_ssize_t dst, Py_ssize_t src, Py_ssize_t count):
    """Move `count` entries of every column from `src` to `dst` (overlap allowed)."""
    memmove(&b.t[dst], &b.t[src], count * sizeof(double))
    memmove(&b.u[dst], &b.u[src], count * sizeof(double))
    memmove(&b.c[dst], &b.c[src], count * sizeof(long long))


cdef inline double _clip(double a, double b, double start, double end):
    """Length of [a, b) within [start, end), as the sources write it."""
    return (end if end < b else b) - (start if start > a else a)


cdef class _Structure:
    """The blocks and their updates (`steps.py`); `BlockSteps` adds the reads."""

    cdef Blk *_b
    cdef Py_ssize_t _nb, _room, _block

    def __init__(self, block=64):
        if block < 2:
            raise ValueError(f"block: expected at least 2, got {block}")
        self._block = block

    def __dealloc__(self):
        cdef Py_ssize_t k
        for k in range(self._nb):
            self._free(k)
        PyMem_Free(self._b)

    # -- structure -------------------------------------------------------------------------

    cdef Blk *_open(self, Py_ssize_t k) except NULL:
        """A new empty block at index k (blocks from k move up one): pointers to blocks
        taken before are stale after this."""
        cdef Py_ssize_t cap = self._block + 2  # an insert makes block + 1, then splits
        self._b = <Blk *>_open_slot(self._b, &self._room, self._nb, k, sizeof(Blk))
        self._nb += 1
        cdef Blk *b = &self._b[k]
        b.t = <double *>PyMem_Malloc(cap * sizeof(double))
        b.u = <double *>PyMem_Malloc(cap * sizeof(double))
        b.c = <long long *>PyMem_Malloc(cap * sizeof(long long))
        b.shp = <double *>PyMem_Malloc((cap + 1) * sizeof(double))
        b.n, b.lu, b.lc, b.shp_ok = 0, 0.0, 0, False
        if not (b.t and b.u and b.c and b.shp):
            self._close(k)
            raise MemoryError()
        return b

    cdef void _free(self, Py_ssize_t k):
        cdef Blk *b = &self._b[k]
        PyMem_Free(b.t)
        PyMem_Free(b.u)
        PyMem_Free(b.c)
        PyMem_Free(b.shp)

    cdef void _close(self, Py_ssize_t k):
        self._free(k)
        self._nb -= 1
        memmove(&self._b[k], &self._b[k + 1], (self._nb - k) * sizeof(Blk))

    cdef Py_ssize_t _find(self, double t, bint left=False):
        """bisect_right (bisect_left if `left`) over the blocks' first times, minus one."""
        cdef Py_ssize_t lo = 0, n = self._nb, mid
        cdef double first
        while lo < n:
            mid = (lo + n) >> 1
            first = self._b[mid].first
            if first < t or (not left and first == t):
                lo = mid + 1
            else:
                n = mid
        return lo - 1

    cdef Blk *_at(self, Py_ssize_t k) except NULL:
        # Checked, for indices from a search (an error would read stray memory, not
        # raise); loops over indices already known valid read self._b directly.
        if k < 0 or k >= self._nb:
            raise IndexError(f"block {k} of {self._nb}")
        return &self._b[k]

    def insert_breakpoint(self, double t):
        """Split the segment holding t at t (t must not be a breakpoint yet)."""
        cdef Py_ssize_t k = self._find(t), i = 0
        cdef Blk *b
        if k < 0 and not self._nb:
            b = self._open(0)
            b.t[0], b.u[0], b.c[0], b.n = t, 0.0, 0, 1
            _refresh(b)
            return
        b = self._at(k if k > 0 else 0)
        if k >= 0:
            i = _right(b.t, b.n, t)
        _shift(b, i + 1, i, b.n - i)
        b.n += 1
        b.t[i] = t
        if k < 0:  # before every breakpoint: stored values that read back as exactly 0
            b.u[0], b.c[0], b.first = -b.lu, -b.lc, t
            if -b.lu > b.bmax:
                b.bmax = -b.lu
            if -b.lc < b.bmin:
                b.bmin = -b.lc
            k = 0
        else:  # a copy of the segment it splits
            b.u[i], b.c[i] = b.u[i - 1], b.c[i - 1]
        b.shp_ok = False
        if b.n > self._block:
            self._split(k)

    def delete_breakpoint(self, double t):
        """Merge the segment starting at t into the one before (t must be a breakpoint)."""
        cdef Py_ssize_t k = self._find(t)
        cdef Blk *b = self._at(k)
        cdef Py_ssize_t i = _left(b.t, b.n, t), small = self._block // 4
        if k:
            self._b[k - 1].shp_ok = False
        b.n -= 1
        _shift(b, i, i + 1, b.n - i)
        if not b.n:
            self._close(k)
            return
        _refresh(b)
        if b.n < small and k + 1 < self._nb and self._b[k + 1].n < small * 3:
            self._merge(k)

    cdef int _split(self, Py_ssize_t k) except -1:
        cdef Blk *high = self._open(k + 1)
        cdef Blk *b = &self._b[k]  # after _open, which may move the blocks
        cdef Py_ssize_t half = b.n // 2
        high.n = b.n - half
        memcpy(high.t, &b.t[half], high.n * sizeof(double))
        memcpy(high.u, &b.u[half], high.n * sizeof(double))
        memcpy(high.c, &b.c[half], high.n * sizeof(long long))
        high.lu, high.lc, b.n = b.lu, b.lc, half
        _refresh(b)
        _refresh(high)
        return 0

    cdef void _merge(self, Py_ssize_t k):
        """Append block k + 1 to block k, lazy adds applied to both."""
        cdef Blk *b = &self._b[k]
        cdef Blk *blk
        cdef Py_ssize_t x, j
        for j in range(k, k + 2):
            blk = &self._b[j]
            if blk.lu:
                for x in range(blk.n):
                    blk.u[x] = blk.u[x] + blk.lu
                blk.lu = 0.0
            if blk.lc:
                for x in range(blk.n):
                    blk.c[x] += blk.lc
                blk.lc = 0
        blk = &self._b[k + 1]
        memcpy(&b.t[b.n], blk.t, blk.n * sizeof(double))
        memcpy(&b.u[b.n], blk.u, blk.n * sizeof(double))
        memcpy(&b.c[b.n], blk.c, blk.n * sizeof(long long))
        b.n += blk.n
        self._close(k + 1)
        _refresh(&self._b[k])

    def drop_before(self, double now, Py_ssize_t slack):
        """Drop the breakpoints before the one in force at `now`: whole blocks first, then
        the head of the first block once it holds `slack` of them. Returns the times
        dropped."""
        cdef list dropped = []
        cdef Blk *b
        cdef Py_ssize_t i, x
        while self._nb > 1 and self._b[1].first <= now:
            b = &self._b[0]
            dropped += [b.t[x] for x in range(b.n)]
            self._close(0)
        if self._nb:
            b = &self._b[0]
            i = _right(b.t, b.n, now) - 1
            if i >= slack:
                dropped += [b.t[x] for x in range(i)]
                b.n -= i
                _shift(b, 0, i, b.n)
                _refresh(b)
        return dropped

    # -- updates ---------------------------------------------------------------------------

    def range_add(self, double start, double end, double du, long long dc):
        """Add du and dc to every segment from breakpoint `start` to breakpoint `end`
        (both must exist)."""
        cdef Py_ssize_t ka = self._find(start), kb = self._find(end), k
        cdef Blk *a = self._at(ka)
        cdef Blk *b = self._at(kb)
        cdef Py_ssize_t ia = _left(a.t, a.n, start), ib = _left(b.t, b.n, end)
        if ka == kb:
            _add_in(a, ia, ib, du, dc)
            return
        _add_in(a, ia, a.n, du, dc)
        for k in range(ka + 1, kb):  # whole blocks: their lazy adds only
            if du:
                self._b[k].lu = self._b[k].lu + du
            self._b[k].lc += dc
        if ib:
            _add_in(b, 0, ib, du, dc)


cdef void _add_in(Blk *b, Py_ssize_t i, Py_ssize_t j, double du, long long dc):
    cdef Py_ssize_t x
    cdef double y, lu, top
    if i == 0 and j == b.n:
        b.lu = b.lu + du
        b.lc += dc
        return
    for x in range(i, j):
        b.c[x] += dc
    if not du:  # a count-only update (a node's aggregate)
        b.bmin, b.shp_ok = _min_count(b), False
        return
    if du < 0:  # a removal: what reads back as dust becomes exactly 0
        lu = b.lu
        for x in range(i, j):
            y = b.u[x] + du
            b.u[x] = y if y + lu > DUST else -lu
        _refresh(b)
        return
    top = b.u[i] + du
    for x in range(i, j):
        b.u[x] = b.u[x] + du
        if b.u[x] > top:
            top = b.u[x]
    if top > b.bmax:
        b.bmax = top
    b.bmin, b.shp_ok = _min_count(b), False


include "typed_step_queries.pxi"
