"""Darshan logs (optional PyDarshan): one request per log, sized by the bytes the job wrote.

`log_record` runs inside the worker process (`darshan_worker`): libdarshan-util can abort or
crash on a damaged log, which must cost one log, not the run. See doc/traces.md for the rules.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from storalloc.sim.traces.base import MIN_MEASURED_DURATION, Collector, TraceError, TraceRecord
from storalloc.sim.traces.darshan_format import HeaderInfo, check_log

__all__ = ["LogResult", "import_darshan", "log_record", "read_darshan", "written_bytes"]

logger = logging.getLogger("storalloc.sim.traces")

BYTES_PER_GB = 1e9
MISSING = "reading Darshan logs needs the optional package 'darshan' (pip install darshan)"
# Module name -> its "bytes written" counter.
WRITE_COUNTERS = {
    "POSIX": "POSIX_BYTES_WRITTEN",
    "MPI-IO": "MPIIO_BYTES_WRITTEN",
    "DFS": "DFS_BYTES_WRITTEN",
    "STDIO": "STDIO_BYTES_WRITTEN",
}
# The newest record version of each module that libdarshan-util 3.4/3.5 reads. A newer
# one in a log is a damaged header (or a future Darshan): libdarshan misreads its records.
KNOWN_VERSIONS = {"POSIX": 4, "MPI-IO": 3, "DFS": 1, "STDIO": 2}
# Layers that see the same bytes of a file (MPI-IO over POSIX, or over DAOS's DFS).
LAYERED = ("POSIX", "MPI-IO", "DFS")
# The terminal streams: what a job prints is not storage it needs.
STD_STREAMS = frozenset(("<STDIN>", "<STDOUT>", "<STDERR>"))

FileBytes = Mapping[str, Mapping[int, int]]  # module -> record id -> bytes written
LogResult = tuple[TraceRecord | None, list[str]]  # the request (None: wrote nothing), warnings


def import_darshan(path: Path) -> ModuleType:
    """Import PyDarshan lazily: it is an optional extra, heavy to import (pandas)."""
    try:
        import darshan
    except ImportError as err:
        raise TraceError(path, None, MISSING) from err
    return darshan


def require_darshan(path: Path) -> None:
    """TraceError unless PyDarshan is installed (checked without importing it)."""
    if "darshan" in sys.modules:  # imported already, or blocked (None)
        found = sys.modules["darshan"] is not None
    else:
        found = importlib.util.find_spec("darshan") is not None
    if not found:
        raise TraceError(path, None, MISSING)


def written_bytes(files: FileBytes, names: Mapping[int, str] | None = None) -> int:
    """Bytes a job wrote, from bytes written per module and file record id.

    Per file, the largest of POSIX, MPI-IO and DFS (layers that see the same bytes; one
    may be partial), summed over files; plus STDIO files except the terminal streams.
    """
    names = names or {}
    ids = set().union(*(files.get(m, {}) for m in LAYERED))
    layered = sum(max(files.get(m, {}).get(i, 0) for m in LAYERED) for i in ids)
    stdio = files.get("STDIO", {})
    return layered + sum(n for i, n in stdio.items() if names.get(i) not in STD_STREAMS)


def _file_bytes(report: object, module: str) -> dict[int, int]:
    """Bytes written per record id (all ranks of a file added up)."""
    report.mod_read_all_records(module, dtype="numpy")  # type: ignore[attr-defined]
    names = list(report.counters[module]["counters"])  # type: ignore[attr-defined]
    index = names.index(WRITE_COUNTERS[module])
    per_file: dict[int, int] = {}
    for rec in report.records[module]:  # type: ignore[attr-defined]
        # A counter of -1 means "not recorded", not negative bytes.
        written = max(int(rec["counters"][index]), 0)
        per_file[int(rec["id"])] = per_file.get(int(rec["id"]), 0) + written
    return per_file


def _names(report: object) -> dict[int, str]:
    from darshan.backend import cffi_backend

    return dict(cffi_backend.log_get_name_records(report.log))  # type: ignore[attr-defined]


def _seconds(job: Mapping[str, object], name: str) -> float:
    if f"{name}_sec" not in job:
        return float(job[name])  # type: ignore[arg-type]  # older PyDarshan: whole seconds
    nanoseconds = float(job.get(f"{name}_nsec", 0))  # type: ignore[arg-type]
    return float(job[f"{name}_sec"]) + nanoseconds / 1e9  # type: ignore[arg-type]


def _duration(job: Mapping[str, object], begin: float) -> float:
    """Darshan's own run time (end - start + 1 in formats before 3.41, whose times are
    whole seconds), else end - start."""
    run_time = job.get("run_time")
    if isinstance(run_time, int | float) and run_time > 0:
        return float(run_time)
    return _seconds(job, "end_time") - begin


def _user(job: Mapping[str, object]) -> str:
    metadata = job.get("metadata")
    name = metadata.get("user") if isinstance(metadata, dict) else None
    return str(name) if name else str(job.get("uid", "trace"))


def _check_modules(path: Path, header: HeaderInfo, modules: Mapping[str, object]) -> None:
    """A module region the header lists but libdarshan did not read means a log read in
    part (module ids are renumbered between formats: compare counts)."""
    if len(modules) < len(header.modules):
        listed, read = len(header.modules), ", ".join(sorted(modules)) or "none"
        problem = (f"damaged Darshan log (or one from a newer Darshan): the header lists "
                   f"{listed} module(s), libdarshan-util read {len(modules)} ({read})")  # fmt: skip
        raise TraceError(path, None, problem)
    for name, newest in KNOWN_VERSIONS.items():
        version = modules.get(name, {}).get("ver", 0)  # type: ignore[attr-defined]
        if not 0 <= version <= newest:
            problem = (f"damaged Darshan log: module {name} has record version {version}, "
                       f"this reader knows versions up to {newest}")  # fmt: skip
            raise TraceError(path, None, problem)


def _partial_warnings(path: Path, modules: Mapping[str, Mapping[str, object]]) -> list[str]:
    return [
        f"{path}: Darshan module {name} is partial (it ran out of memory): its bytes "
        "may be under-counted" for name, info in modules.items()
        if name in WRITE_COUNTERS and info.get("partial_flag")
    ]  # fmt: skip


def log_record(path: Path, darshan: ModuleType) -> LogResult:
    """The request for one log (None when the job wrote nothing), and warnings;
    raises TraceError. Call it in the worker: libdarshan may abort on a damaged log."""
    header = check_log(path)
    try:
        with darshan.DarshanReport(str(path), read_all=False) as report:
            job = report.metadata["job"]
            _check_modules(path, header, report.modules)
            files = {m: _file_bytes(report, m) for m in WRITE_COUNTERS if m in report.modules}
            names = _names(report) if files.get("STDIO") else {}
            warnings = _partial_warnings(path, report.modules)
    except (RuntimeError, ValueError, KeyError, OSError) as err:
        raise TraceError(path, None, f"cannot read Darshan log: {err}") from err
    try:
        begin = _seconds(job, "start_time")
        duration = _duration(job, begin)
    except (KeyError, TypeError, ValueError) as err:
        raise TraceError(path, None, f"job record: no usable start/end time ({err})") from err
    written = written_bytes(files, names)
    if written == 0:
        return None, warnings
    record = TraceRecord(
        id=path.name.removesuffix(".darshan"),
        submit=begin,  # the job's start: when it needs its space, as IOJobs and SWF
        start=None,
        duration=max(duration, MIN_MEASURED_DURATION),
        capacity=written / BYTES_PER_GB,
        user=_user(job),
    )
    return record, warnings


def find_logs(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.darshan`` files under a directory (recursively)."""
    if not path.is_dir():
        return [path]
    logs = sorted(p for p in path.rglob("*.darshan") if p.is_file())
    if not logs:
        problem = "no *.darshan logs in this directory (searched recursively)"
        raise TraceError(path, None, problem)
    return logs


def read_darshan(path: Path, sink: Collector) -> None:
    """Feed one request per log, each log read in a worker process (see darshan_worker)."""
    from storalloc.sim.traces.darshan_worker import LogReader

    logs = find_logs(path)
    require_darshan(path)
    with LogReader() as reader:
        for log in logs:
            try:
                record, warnings = reader.read(log)
            except TraceError as err:
                sink.bad(err)
                continue
            for warning in warnings:
                logger.warning("%s", warning)
            sink.partial(bool(warnings))
            if record is None:
                sink.zero()
            else:
                sink.add(record, log, None)
