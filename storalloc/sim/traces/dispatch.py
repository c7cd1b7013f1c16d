"""Pick a trace reader from the format name, the file name or the content, and run it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from storalloc.sim.traces import darshan_logs, iojobs, native, swf
from storalloc.sim.traces.base import (
    Collector,
    OnSkip,
    TraceError,
    TraceRecord,
    TraceStats,
    load_yaml,
    open_binary,
)
from storalloc.sim.traces.darshan_format import byte_order
from storalloc.sim.traces.source import describe_source
from storalloc.trace_options import FORMATS

__all__ = ["FORMATS", "guess_format", "read_trace", "read_trace_with_stats"]

_SUFFIXES = {".csv": "native-csv", ".swf": "swf", ".darshan": "darshan"}
_YAML_SUFFIXES = (".yml", ".yaml")
_SNIFF_BYTES = 1 << 16
# A top-level key (block style at column 0, or inside a leading flow mapping).
_YAML_KEY_RE = re.compile(r"^(?:\{\s*)?(jobs|requests|version)\s*:", re.M)
_SWF_LINE_RE = re.compile(r"\s*(-?[0-9.]+\s+){17}-?[0-9.]+\s*")


def _head(path: Path) -> bytes:
    try:
        with open_binary(path) as stream:
            return stream.read(_SNIFF_BYTES)
    except (OSError, EOFError) as err:
        detail = getattr(err, "strerror", None) or err
        raise TraceError(path, None, f"cannot read: {detail}") from err


def _yaml_kind(text: str) -> str | None:
    keys = set(_YAML_KEY_RE.findall(text))
    if "jobs" in keys:
        return "iojobs"
    if "requests" in keys or "version" in keys:
        return "native-yaml"
    return None


def _sniff(path: Path, yaml_suffix: bool) -> str | None:
    head = _head(path)
    if byte_order(head) is not None:
        return "darshan"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if yaml_suffix:
        return _yaml_kind(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        return None
    first = lines[0]
    if first.startswith(";") or _SWF_LINE_RE.fullmatch(first):
        return "swf"
    if first.split(",")[0].strip() in native.CSV_COLUMNS and "," in first:
        return "native-csv"
    return _yaml_kind(text)


def guess_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path``: a directory is Darshan logs, else the suffix, else the content."""
    path = Path(path)
    if path.is_dir():
        return "darshan"
    name = path.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    found = _sniff(path, yaml_suffix=suffix in _YAML_SUFFIXES)
    if found is None:
        what = "a known trace"
        if suffix in _YAML_SUFFIXES:
            what = "YAML with a top-level key 'requests' or 'jobs'"
        problem = f"cannot tell the trace format (not {what}); give one of {', '.join(FORMATS)}"
        raise TraceError(path, None, problem)
    return found


def read_trace_with_stats(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    skip_bad: bool = False,
    gb_per_proc: float = 1.0,
    gb_per_core_hour: float | None = None,
    on_skip: OnSkip | None = None,
) -> tuple[list[TraceRecord], TraceStats]:
    """Like :func:`read_trace`, also returning what was skipped and why, and
    ``stats.source``: the path, its sha256, the format and the reader options."""
    path = Path(path)
    model = swf.SwfModel(gb_per_proc, gb_per_core_hour)  # ValueError when not > 0
    if not path.exists():
        raise TraceError(path, None, "no such file or directory")
    if fmt is None:
        fmt = guess_format(path)
    elif fmt not in FORMATS:
        problem = f"unknown trace format {fmt!r}: expected one of {', '.join(FORMATS)}"
        raise TraceError(path, None, problem)
    sink = Collector(skip_bad=skip_bad, on_skip=on_skip)
    if fmt == "native-yaml":
        native.read_yaml_data(load_yaml(path), path, sink)
    elif fmt == "iojobs":
        iojobs.read_iojobs_data(load_yaml(path), path, sink)
    elif fmt == "native-csv":
        native.read_csv(path, sink)
    elif fmt == "swf":
        swf.read_swf(path, sink, model=model)
    else:
        darshan_logs.read_darshan(path, sink)
    records, stats = sink.result()
    stats.source = describe_source(path, fmt, _options(fmt, skip_bad, model))
    return records, stats


def _options(fmt: str, skip_bad: bool, model: swf.SwfModel) -> dict[str, object]:
    """The reader options that shaped the records (the SWF model only for SWF)."""
    options: dict[str, object] = {"skip_bad": skip_bad}
    if fmt == "swf":
        options["gb_per_proc"] = model.gb_per_proc
        if model.gb_per_core_hour is not None:
            options["gb_per_core_hour"] = model.gb_per_core_hour
    return options


def read_trace(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    skip_bad: bool = False,
    gb_per_proc: float = 1.0,
    gb_per_core_hour: float | None = None,
    on_skip: OnSkip | None = None,
) -> list[TraceRecord]:
    """Read a trace into records sorted by (submit, id).

    ``fmt`` is one of FORMATS, or None to guess it (a directory is Darshan logs).
    The first bad record raises TraceError naming the file and line, unless
    ``skip_bad``: then it goes to ``on_skip`` (default: a logged warning) and is left
    out. ``gb_per_proc`` and ``gb_per_core_hour`` are the SWF capacity model (GB per
    processor, or per processor-hour of run time when given).
    """
    records, _ = read_trace_with_stats(
        path, fmt, skip_bad=skip_bad, gb_per_proc=gb_per_proc,
        gb_per_core_hour=gb_per_core_hour, on_skip=on_skip,
    )  # fmt: skip
    return records
