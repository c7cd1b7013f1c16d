"""Standard Workload Format (Parallel Workloads Archive) logs, with a capacity per processor."""

from __future__ import annotations

import re
from pathlib import Path

from storalloc.sim.traces.base import (
    MIN_MEASURED_DURATION,
    Collector,
    TraceError,
    TraceRecord,
    iter_lines,
)
from storalloc.sim.traces.fields import FieldError

__all__ = ["FIELDS", "read_swf", "swf_record"]

FIELDS = 18
# 1-based SWF field numbers used here.
_JOB, _SUBMIT, _RUN, _ALLOC, _REQ_PROCS, _REQ_TIME, _USER = 1, 2, 4, 5, 8, 9, 12
_START_RE = re.compile(r";\s*UnixStartTime\s*:\s*(-?[0-9]+)", re.I)


def _numbers(cells: list[str]) -> list[float]:
    values = []
    for number, cell in enumerate(cells, start=1):
        try:
            values.append(float(cell))
        except ValueError:
            raise FieldError(f"field {number}", "a number", cell) from None
    return values


def swf_record(cells: list[str], *, unix_start: float, gb_per_proc: float) -> TraceRecord:
    """The request for one SWF job line split in fields; raises FieldError.

    capacity = gb_per_proc * processors (allocated, else requested), duration = run time
    (else requested time), submit = UnixStartTime + submit time, start = None.
    """
    if len(cells) != FIELDS:
        expected = f"{FIELDS} whitespace-separated values (truncated line?)"
        raise FieldError("fields", expected, len(cells))
    v = _numbers(cells)

    def field(number: int) -> float:
        return v[number - 1]

    if field(_SUBMIT) < 0:
        raise FieldError(f"field {_SUBMIT} (submit time)", "seconds >= 0", cells[_SUBMIT - 1])
    procs = field(_ALLOC) if field(_ALLOC) > 0 else field(_REQ_PROCS)
    if procs <= 0:
        raise FieldError(
            f"fields {_ALLOC}/{_REQ_PROCS} (processors)", "a count > 0", cells[_ALLOC - 1]
        )
    runtime = field(_RUN) if field(_RUN) >= 0 else field(_REQ_TIME)
    if runtime < 0:
        raise FieldError(f"fields {_RUN}/{_REQ_TIME} (run time)", "seconds >= 0", cells[_RUN - 1])
    user = field(_USER)
    user_name = "trace" if user < 0 else str(int(user)) if user.is_integer() else cells[_USER - 1]
    return TraceRecord(
        id=cells[_JOB - 1],
        submit=unix_start + field(_SUBMIT),
        start=None,
        duration=max(runtime, MIN_MEASURED_DURATION),
        capacity=gb_per_proc * procs,
        user=user_name,
    )


def read_swf(path: Path, sink: Collector, *, gb_per_proc: float = 1.0) -> None:
    """Feed the jobs of an SWF file; ``;`` lines are header comments (UnixStartTime is used)."""
    if not gb_per_proc > 0:
        raise ValueError(f"gb_per_proc: expected a number of GB > 0, got {gb_per_proc!r}")
    unix_start = 0.0
    for number, line in iter_lines(path):
        text = line.strip()
        if not text:
            continue
        if text.startswith(";"):
            match = _START_RE.match(text)
            if match is not None:
                unix_start = float(match.group(1))
            continue
        try:
            record = swf_record(text.split(), unix_start=unix_start, gb_per_proc=gb_per_proc)
        except FieldError as err:
            sink.bad(TraceError(path, number, str(err)))
            continue
        sink.add(record, path, number)
