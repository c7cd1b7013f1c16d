# Binary searches over sorted C doubles (as the bisect module's) and arrays of structs
# that grow a slot at a time; included by the typed twins (typed_steps.pyx,
# typed_overlaps.pyx).

from cpython.mem cimport PyMem_Realloc
from libc.string cimport memmove


cdef inline Py_ssize_t _right(double *a, Py_ssize_t n, double x):
    """bisect_right."""
    cdef Py_ssize_t lo = 0, mid
    while lo < n:
        mid = (lo + n) >> 1
        if x < a[mid]:
            n = mid
        else:
            lo = mid + 1
    return lo


cdef inline Py_ssize_t _left(double *a, Py_ssize_t n, double x):
    """bisect_left."""
    cdef Py_ssize_t lo = 0, mid
    while lo < n:
        mid = (lo + n) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            n = mid
    return lo


cdef void *_open_slot(void *items, Py_ssize_t *room, Py_ssize_t used, Py_ssize_t k,
                      size_t size) except NULL:
    """`items` (room for `room[0]` entries of `size` bytes, `used` of them taken) with
    entry k free: reallocated when full (so the pointer may change), and the entries from
    k on moved up one."""
    cdef char *grown = <char *>items
    if used == room[0]:
        grown = <char *>PyMem_Realloc(items, (2 * room[0] + 4) * size)
        if grown == NULL:
            raise MemoryError()
        room[0] = 2 * room[0] + 4
    memmove(grown + (k + 1) * size, grown + k * size, (used - k) * size)
    return grown
