"""Trace readers for simulation mode (native YAML/CSV, IOJobs.yml, Darshan, SWF) and a generator."""

from __future__ import annotations

from storalloc.traces.base import TraceError, TraceRecord, TraceStats
from storalloc.traces.dispatch import FORMATS, guess_format, read_trace, read_trace_with_stats
from storalloc.traces.native import write_native_csv, write_native_yaml

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
    # Imported on first use so `python -m storalloc.traces.synthetic` does not find the
    # module already imported (runpy warns about that).
    if name == "generate":
        from storalloc.traces.synthetic import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
