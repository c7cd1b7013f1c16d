# Binary searches over sorted C doubles, as the bisect module's; included by the typed
# twins (typed_steps.pyx, typed_overlaps.pyx).


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
