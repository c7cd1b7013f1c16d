"""The prototype's simulation input ``IOJobs.yml``: one request per job that wrote or read data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from storalloc.sim.traces.base import (
    MIN_MEASURED_DURATION,
    Collector,
    LineDict,
    TraceError,
    TraceRecord,
)
from storalloc.sim.traces.fields import (
    FieldError,
    MissingField,
    format_time,
    parse_count,
    parse_time,
)

__all__ = ["job_record", "read_iojobs_data"]

BYTES_PER_GB = 1e9
_REQUIRED = ("id", "startTime", "endTime", "writtenBytes", "readBytes")


def job_record(job: Mapping[str, object]) -> TraceRecord | None:
    """The request for one job, or None when it moved no data; raises FieldError.

    capacity = max(writtenBytes, readBytes) / 1e9 GB, submit = startTime (UTC),
    start = None, duration = endTime - startTime (0 s counts as 1 s).
    """
    for key in _REQUIRED:
        if key not in job:
            raise MissingField(key)
    job_id = job["id"]
    if not isinstance(job_id, str) or not job_id.strip():
        raise FieldError("id", "a job id", job_id)
    begin = parse_time("startTime", job["startTime"])
    end = parse_time("endTime", job["endTime"])
    if end < begin:
        raise FieldError(
            "endTime", f"a time at or after startTime ({format_time(begin)})", job["endTime"]
        )
    written = parse_count("writtenBytes", job["writtenBytes"], "a number of bytes >= 0")
    moved = max(written, parse_count("readBytes", job["readBytes"], "a number of bytes >= 0"))
    if moved == 0:
        return None
    return TraceRecord(
        id=job_id.strip(),
        submit=begin,
        start=None,
        duration=max(end - begin, MIN_MEASURED_DURATION),
        capacity=moved / BYTES_PER_GB,
        user="trace",
    )


def read_iojobs_data(data: object, path: Path, sink: Collector) -> None:
    """Feed the records of a loaded ``{jobs: [...]}`` document; zero-byte jobs are counted."""
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise TraceError(path, getattr(data, "line", None), "expected a mapping with a list 'jobs'")
    for index, job in enumerate(data["jobs"]):
        line = job.line if isinstance(job, LineDict) else None
        try:
            if not isinstance(job, dict):
                raise FieldError(f"jobs[{index}]", "a mapping", job)
            record = job_record(job)
        except FieldError as err:
            where = f"job {job.get('id')!r}: " if isinstance(job, dict) and "id" in job else ""
            sink.bad(TraceError(path, line, f"{where}{err}"))
            continue
        if record is None:
            sink.zero()
        else:
            sink.add(record, path, line)
