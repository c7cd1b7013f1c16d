"""Simulation: trace replay on a virtual clock, sweeps, reports, plots and trace readers."""
