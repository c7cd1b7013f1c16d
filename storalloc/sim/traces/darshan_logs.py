"""Darshan logs (optional PyDarshan): one request per log, sized by the bytes the job wrote."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from storalloc.sim.traces.base import MIN_MEASURED_DURATION, Collector, TraceError, TraceRecord
from storalloc.sim.traces.darshan_format import check_log

__all__ = ["import_darshan", "log_record", "read_darshan", "written_bytes"]

BYTES_PER_GB = 1e9
MISSING = "reading Darshan logs needs the optional package 'darshan' (pip install darshan)"
# Module name -> its "bytes written" counter, in the order the rule considers them.
WRITE_COUNTERS = {
    "POSIX": "POSIX_BYTES_WRITTEN",
    "STDIO": "STDIO_BYTES_WRITTEN",
    "MPI-IO": "MPIIO_BYTES_WRITTEN",
}


def import_darshan(path: Path) -> ModuleType:
    """Import PyDarshan lazily: it is an optional extra, heavy to import (pandas)."""
    try:
        import darshan
    except ImportError as err:
        raise TraceError(path, None, MISSING) from err
    return darshan


def written_bytes(totals: Mapping[str, int]) -> int:
    """Bytes a job wrote, from per-module totals (keys: POSIX, STDIO, MPI-IO).

    POSIX + STDIO. MPI-IO is not added because its writes reach the file system
    through POSIX and would be counted twice; it replaces POSIX only in a log
    without a POSIX module.
    """
    base = totals["POSIX"] if "POSIX" in totals else totals.get("MPI-IO", 0)
    return base + totals.get("STDIO", 0)


def _module_totals(report: object, modules: Mapping[str, object]) -> dict[str, int]:
    wanted = [m for m in ("POSIX", "STDIO") if m in modules]
    if "POSIX" not in modules and "MPI-IO" in modules:
        wanted.append("MPI-IO")  # read only when the rule needs it: it can be large
    totals = {}
    for module in wanted:
        report.mod_read_all_records(module, dtype="numpy")  # type: ignore[attr-defined]
        names = list(report.counters[module]["counters"])  # type: ignore[attr-defined]
        index = names.index(WRITE_COUNTERS[module])
        records = report.records[module]  # type: ignore[attr-defined]
        # A counter of -1 means "not recorded", not negative bytes.
        totals[module] = sum(max(int(rec["counters"][index]), 0) for rec in records)
    return totals


def _seconds(job: Mapping[str, object], name: str) -> float:
    if f"{name}_sec" not in job:
        return float(job[name])  # type: ignore[arg-type]  # older PyDarshan: whole seconds
    nanoseconds = float(job.get(f"{name}_nsec", 0))  # type: ignore[arg-type]
    return float(job[f"{name}_sec"]) + nanoseconds / 1e9  # type: ignore[arg-type]


def _user(job: Mapping[str, object]) -> str:
    metadata = job.get("metadata")
    name = metadata.get("user") if isinstance(metadata, dict) else None
    return str(name) if name else str(job.get("uid", "trace"))


def log_record(path: Path, darshan: ModuleType) -> TraceRecord | None:
    """The request for one log, or None when the job wrote nothing; raises TraceError."""
    check_log(path)  # libdarshan would abort the process on a truncated or corrupt log
    try:
        with darshan.DarshanReport(str(path), read_all=False) as report:
            job = report.metadata["job"]
            totals = _module_totals(report, report.modules)
    except (RuntimeError, ValueError, KeyError, OSError) as err:
        raise TraceError(path, None, f"cannot read Darshan log: {err}") from err
    try:
        begin, end = _seconds(job, "start_time"), _seconds(job, "end_time")
    except (KeyError, TypeError, ValueError) as err:
        raise TraceError(path, None, f"job record: no usable start/end time ({err})") from err
    written = written_bytes(totals)
    if written == 0:
        return None
    return TraceRecord(
        id=path.name.removesuffix(".darshan"),
        submit=begin,
        start=begin,
        duration=max(end - begin, MIN_MEASURED_DURATION),
        capacity=written / BYTES_PER_GB,
        user=_user(job),
    )


def read_darshan(path: Path, sink: Collector) -> None:
    """Feed one request per log: ``path`` is a log or a directory searched recursively."""
    if path.is_dir():
        logs = sorted(p for p in path.rglob("*.darshan") if p.is_file())
        if not logs:
            problem = "no *.darshan logs in this directory (searched recursively)"
            raise TraceError(path, None, problem)
    else:
        logs = [path]
    darshan = import_darshan(path)
    for log in logs:
        try:
            record = log_record(log, darshan)
        except TraceError as err:
            sink.bad(err)
            continue
        if record is None:
            sink.zero()
        else:
            sink.add(record, log, None)
