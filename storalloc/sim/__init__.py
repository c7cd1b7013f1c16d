"""Simulation: trace replay on a virtual clock, sweeps, reports, plots and trace readers."""

from storalloc.accel import package_path

# The compiled build of this package's modules, when current (storalloc/accel.py).
__path__[:0] = package_path(__name__)
