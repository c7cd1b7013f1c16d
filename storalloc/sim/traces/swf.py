"""Standard Workload Format (Parallel Workloads Archive) logs, with a capacity model.

SWF records no storage, so the capacity comes from a model: GB per processor (default), or
GB per core-hour. See doc/traces.md for the rules and their reasons.
"""

from __future__ import annotations

import dataclasses
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

__all__ = ["FIELDS", "SwfModel", "read_swf", "swf_record"]

FIELDS = 18
# 1-based SWF field numbers used here.
_JOB, _SUBMIT, _WAIT, _RUN, _ALLOC, _REQ_PROCS, _REQ_TIME, _STATUS, _USER = (
    1, 2, 3, 4, 5, 8, 9, 11, 12,
)  # fmt: skip
_HEADER_RE = re.compile(r";\s*(UnixStartTime|MaxProcs|MaxNodes)\s*:\s*(-?[0-9]+)", re.I)
CANCELLED = 5
PARTIAL = (2, 3, 4)  # partial executions of a checkpointed or swapped job
_PARTIAL_TEXT = frozenset(str(code) for code in PARTIAL)


@dataclasses.dataclass(frozen=True, slots=True)
class SwfModel:
    """How much storage an SWF job asks for: ``gb_per_proc`` × processors, or, when
    ``gb_per_core_hour`` is set, that × processors × run time in hours."""

    gb_per_proc: float = 1.0
    gb_per_core_hour: float | None = None

    def __post_init__(self) -> None:
        if not self.gb_per_proc > 0:
            raise ValueError(f"gb_per_proc: expected a number of GB > 0, got {self.gb_per_proc!r}")
        rate = self.gb_per_core_hour
        if rate is not None and not rate > 0:
            raise ValueError(f"gb_per_core_hour: expected a number of GB > 0, got {rate!r}")

    def capacity(self, procs: float, seconds: float) -> float:
        if self.gb_per_core_hour is None:
            return self.gb_per_proc * procs
        return self.gb_per_core_hour * procs * seconds / 3600.0


@dataclasses.dataclass(slots=True)
class _Header:
    unix_start: float = 0.0
    max_procs: float | None = None

    def read(self, text: str) -> None:
        match = _HEADER_RE.match(text)
        if match is None:
            return
        key, value = match.group(1).lower(), float(match.group(2))
        if key == "unixstarttime":
            self.unix_start = value
        elif key == "maxprocs" and value > 0:
            self.max_procs = value
        # MaxNodes is not used: SWF job sizes are in processors.


def _numbers(cells: list[str]) -> list[float]:
    try:
        return [float(cell) for cell in cells]
    except ValueError:
        pass
    for number, cell in enumerate(cells, start=1):  # the slow path, only to name the field
        try:
            float(cell)
        except ValueError:
            raise FieldError(f"field {number}", "a number", cell) from None
    raise AssertionError("unreachable")


def _processors(v: list[float], cells: list[str], max_procs: float | None) -> float:
    procs = v[_ALLOC - 1] if v[_ALLOC - 1] > 0 else v[_REQ_PROCS - 1]
    if procs <= 0:
        raise FieldError(f"fields {_ALLOC}/{_REQ_PROCS} (processors)", "a count > 0",
                         cells[_ALLOC - 1])  # fmt: skip
    if max_procs is not None and procs > max_procs:
        raise FieldError(f"fields {_ALLOC}/{_REQ_PROCS} (processors)",
                         f"at most MaxProcs = {max_procs:g}", f"{procs:g}")  # fmt: skip
    return procs


def swf_record(cells: list[str], *, unix_start: float = 0.0, model: SwfModel | None = None,
               max_procs: float | None = None) -> TraceRecord | None:  # fmt: skip
    """The request for one SWF job line split in fields, None for a job that never ran
    (cancelled before it started) or for a partial-execution line; raises FieldError."""
    if len(cells) != FIELDS:
        expected = f"{FIELDS} whitespace-separated values (truncated line?)"
        raise FieldError("fields", expected, len(cells))
    v = _numbers(cells)
    status = v[_STATUS - 1]
    if status in PARTIAL:
        return None  # the job's summary line (status 0, 1 or 5) stands for the whole job
    if v[_SUBMIT - 1] < 0:
        raise FieldError(f"field {_SUBMIT} (submit time)", "seconds >= 0", cells[_SUBMIT - 1])
    if status == CANCELLED and v[_RUN - 1] <= 0:
        return None  # cancelled before it ran: it never used storage
    procs = _processors(v, cells, max_procs)
    runtime = v[_RUN - 1] if v[_RUN - 1] >= 0 else v[_REQ_TIME - 1]
    if runtime < 0:
        raise FieldError(f"fields {_RUN}/{_REQ_TIME} (run time)", "seconds >= 0", cells[_RUN - 1])
    duration = max(runtime, MIN_MEASURED_DURATION)
    user = v[_USER - 1]
    user_name = "trace" if user < 0 else str(int(user)) if user.is_integer() else cells[_USER - 1]
    wait = max(v[_WAIT - 1], 0.0)  # -1: unknown, taken as no wait
    return TraceRecord(
        id=cells[_JOB - 1],
        submit=unix_start + v[_SUBMIT - 1] + wait,  # when the job started, as other readers
        start=None,
        duration=duration,
        capacity=(model or SwfModel()).capacity(procs, duration),
        user=user_name,
    )


def read_swf(path: Path, sink: Collector, *, model: SwfModel | None = None) -> None:
    """Feed the jobs of an SWF file; ``;`` lines are the header (UnixStartTime, MaxProcs)."""
    model = model or SwfModel()
    header = _Header()
    for number, line in iter_lines(path):
        text = line.strip()
        if not text:
            continue
        if text[0] == ";":
            header.read(text)
            continue
        cells = text.split()
        if len(cells) == FIELDS and cells[_STATUS - 1] in _PARTIAL_TEXT:
            continue  # not a job of its own: its summary line is
        try:
            record = swf_record(cells, unix_start=header.unix_start, model=model,
                                max_procs=header.max_procs)  # fmt: skip
        except FieldError as err:
            sink.bad(TraceError(path, number, str(err)))
            continue
        if record is None:
            sink.zero()
        else:
            sink.add(record, path, number)
