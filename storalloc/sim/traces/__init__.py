"""Trace readers for simulation mode (native YAML/CSV, IOJobs.yml, Darshan, SWF) and a generator."""

from __future__ import annotations

from storalloc.sim.traces.base import TraceError, TraceRecord, TraceStats
from storalloc.sim.traces.dispatch import FORMATS, guess_format, read_trace, read_trace_with_stats
from storalloc.sim.traces.native import write_native_csv, write_native_yaml

__all__ = [
    "FORMATS",
    "TraceError",
    "TraceRecord",
    "TraceStats",
    "generate",
    "guess_format",
    "read_trace",
    "read_trace_with_stats",
    "write_native_csv",
    "write_native_yaml",
]


def __getattr__(name: str) -> object:
    # Imported on first use so `python -m storalloc.sim.traces.synthetic` does not find the
    # module already imported (runpy warns about that).
    if name == "generate":
        from storalloc.sim.traces.synthetic import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
