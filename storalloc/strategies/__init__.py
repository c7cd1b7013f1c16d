"""Placement strategies: each module holds one, `base` holds what they share."""

from storalloc.accel import package_path

# The compiled build of this package's modules, when current (storalloc/accel.py).
__path__[:0] = package_path(__name__)
