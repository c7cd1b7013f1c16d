# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The typed twin of `OverlapIndex` (`overlaps.py`): the same counts, from sorted starts
and ends kept in blocks of C doubles.

Built only with the compiled core (storalloc/accel.py); `capacity.py` takes it when it
is there. The sources' sorted lists cost a node with 10,000 live leases two things per
request: an insertion shifts half the list, and each bisection step reads a float object
somewhere on the heap. Here an insertion moves at most one block and a search reads
contiguous doubles: O(b + n/b) cheap steps with b = 64.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memmove

include "typed_arrays.pxi"

cdef double INF = float("inf")
cdef enum:
    # Entries per run after a split (a run splits when it reaches twice this).
    HALF = 64
    # Dead starts kept before they are dropped (and at least half the starts), as the
    # sources do.
    COMPACT_AFTER = 64


cdef struct Run:
    double *x  # sorted, 2 * HALF entries of room
    Py_ssize_t n


cdef inline Py_ssize_t _bisect(double *a, Py_ssize_t n, double x, bint right):
    return _right(a, n, x) if right else _left(a, n, x)


cdef class _Sorted:
    """A sorted multiset of doubles in runs of at most 2 * HALF."""

    cdef Run *_r
    cdef Py_ssize_t _nr, _room, size

    def __dealloc__(self):
        cdef Py_ssize_t k
        for k in range(self._nr):
            PyMem_Free(self._r[k].x)
        PyMem_Free(self._r)

    cdef int _open(self, Py_ssize_t k) except -1:
        self._r = <Run *>_open_slot(self._r, &self._room, self._nr, k, sizeof(Run))
        self._r[k].x = <double *>PyMem_Malloc(2 * HALF * sizeof(double))
        self._r[k].n = 0
        self._nr += 1
        if self._r[k].x == NULL:
            self._close(k)
            raise MemoryError()
        return 0

    cdef void _close(self, Py_ssize_t k):
        PyMem_Free(self._r[k].x)
        self._nr -= 1
        memmove(&self._r[k], &self._r[k + 1], (self._nr - k) * sizeof(Run))

    cdef Py_ssize_t _run(self, double x, bint right):
        """The first run whose last entry is above x (at or above unless `right`), or
        the last run."""
        cdef Py_ssize_t lo = 0, n = self._nr - 1, mid
        cdef Run *r
        while lo < n:
            mid = (lo + n) >> 1
            r = &self._r[mid]
            if r.x[r.n - 1] < x or (right and r.x[r.n - 1] == x):
                lo = mid + 1
            else:
                n = mid
        return lo

    cdef Py_ssize_t rank(self, double x, bint right):
        """How many entries are below x (at or below if `right`)."""
        if not self._nr:
            return 0
        cdef Py_ssize_t k = self._run(x, right), j, count = 0
        for j in range(k):
            count += self._r[j].n
        return count + _bisect(self._r[k].x, self._r[k].n, x, right)

    cdef double above(self, double x):
        """The first entry above x, or infinity."""
        if not self._nr:
            return INF
        cdef Run *r = &self._r[self._run(x, True)]
        cdef Py_ssize_t i = _bisect(r.x, r.n, x, True)
        return r.x[i] if i < r.n else INF

    cdef int add(self, double x) except -1:
        if not self._nr:
            self._open(0)
        cdef Py_ssize_t k = self._run(x, True)
        cdef Run *r = &self._r[k]
        cdef Py_ssize_t i = _bisect(r.x, r.n, x, True)
        memmove(&r.x[i + 1], &r.x[i], (r.n - i) * sizeof(double))
        r.x[i] = x
        r.n += 1
        self.size += 1
        if r.n == 2 * HALF:  # split in two halves
            self._open(k + 1)
            r = &self._r[k]
            memmove(self._r[k + 1].x, &r.x[HALF], HALF * sizeof(double))
            r.n = self._r[k + 1].n = HALF
        return 0

    cdef bint discard(self, double x):
        """Remove one entry equal to x; False if there is none."""
        if not self._nr:
            return False
        cdef Py_ssize_t k = self._run(x, False)
        cdef Run *r = &self._r[k]
        cdef Py_ssize_t i = _bisect(r.x, r.n, x, False)
        if i == r.n or r.x[i] != x:
            return False
        r.n -= 1
        memmove(&r.x[i], &r.x[i + 1], (r.n - i) * sizeof(double))
        self.size -= 1
        if not r.n:
            self._close(k)
        elif r.n < HALF // 4 and k + 1 < self._nr and self._r[k + 1].n < HALF:
            memmove(&r.x[r.n], self._r[k + 1].x, self._r[k + 1].n * sizeof(double))
            r.n += self._r[k + 1].n
            self._close(k + 1)
        return True

    cdef void drop_lowest(self, Py_ssize_t count):
        cdef Run *r
        self.size -= count
        while count:
            r = &self._r[0]
            if r.n <= count:
                count -= r.n
                self._close(0)
            else:
                r.n -= count
                memmove(r.x, &r.x[count], r.n * sizeof(double))
                count = 0

    cdef list values(self):
        cdef Py_ssize_t k, i
        return [self._r[k].x[i] for k in range(self._nr) for i in range(self._r[k].n)]


cdef class OverlapIndex:
    """Starts and ends of the live reservations of one disk (or node)."""

    cdef _Sorted _starts, _ends  # every live start after now; exactly the live ends
    cdef public Py_ssize_t live  # reservations not forgotten yet

    def __init__(self):
        self._starts, self._ends, self.live = _Sorted(), _Sorted(), 0

    def __len__(self):
        return self.live

    def add(self, double start, double end):
        self._starts.add(start)
        self._ends.add(end)
        self.live += 1

    def forget(self, start, end, size, bint over):
        """Take a reservation out, checking its end first: a bad call leaves no trace.
        `over`: it ended (end <= now), so its start, at or before now, may stay."""
        if not self._ends.discard(end):
            raise KeyError(f"no reservation [{start}, {end}) of {size} GB")
        self.live -= 1
        if not over:  # it may start after now: its start must go (unless dropped already)
            self._starts.discard(start)
        # Starts no live lease holds: never more than the starts at or before now, so the
        # smallest that many can go.
        cdef Py_ssize_t dead = self._starts.size - self.live
        if dead >= COMPACT_AFTER and 2 * dead > self._starts.size:
            self._starts.drop_lowest(dead)

    def count(self, double start, double end):
        """Reservations that overlap [start, end) at all (start at or after now)."""
        cdef Py_ssize_t later = self._starts.size - self._starts.rank(end, False)
        return self.live - later - self._ends.rank(start, True)

    def present(self, double t):
        """(reservations present at instant t, the first end after t), t at or after now."""
        cdef Py_ssize_t later = self._starts.size - self._starts.rank(t, True)
        return self.live - later - self._ends.rank(t, True), self._ends.above(t)

    def kept_starts(self):
        """The starts kept, in order (live ones, and ended ones not dropped yet)."""
        return self._starts.values()
