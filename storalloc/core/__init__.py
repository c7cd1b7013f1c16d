"""The scheduling core: jobs, their lifecycle, planning, capacity over time, timers and clocks.

It imports neither ZeroMQ nor any front end, so simulations run the very same code."""

from storalloc.accel import package_path

# The compiled build of this package's modules, when current (storalloc/accel.py).
__path__[:0] = package_path(__name__)
