"""Storalloc's native trace format, YAML and CSV: readers and writers."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

import yaml

from storalloc.sim.traces.base import Collector, LineDict, TraceError, TraceRecord, iter_lines
from storalloc.sim.traces.fields import (
    FieldError,
    MissingField,
    format_time,
    parse_capacity,
    parse_duration,
    parse_time,
    parse_user,
)

__all__ = ["CSV_COLUMNS", "read_csv", "read_yaml_data", "write_native_csv", "write_native_yaml"]

VERSION = 1
CSV_COLUMNS = ("submit", "start", "duration", "capacity", "user", "id")
_KEYS = frozenset(CSV_COLUMNS)
_REQUIRED = ("submit", "duration", "capacity")


def make_record(fields: Mapping[str, object], default_id: str) -> TraceRecord:
    """Build a record from native fields (YAML values or CSV strings); raises FieldError."""
    for key in _REQUIRED:
        if fields.get(key) in (None, ""):
            raise MissingField(key)
    submit = parse_time("submit", fields["submit"])
    raw_start = fields.get("start")
    start = None if raw_start in (None, "") else parse_time("start", raw_start)
    if start is not None and start < submit:
        raise FieldError("start", f"a time at or after submit ({format_time(submit)})", raw_start)
    raw_id = fields.get("id")
    if raw_id in (None, ""):
        record_id = default_id
    elif isinstance(raw_id, str):
        record_id = raw_id.strip() or default_id
    else:
        raise FieldError("id", "a string", raw_id)
    return TraceRecord(
        id=record_id,
        submit=submit,
        start=start,
        duration=parse_duration("duration", fields["duration"]),
        capacity=parse_capacity("capacity", fields["capacity"]),
        user=parse_user("user", fields.get("user")),
    )


def read_yaml_data(data: object, path: Path, sink: Collector) -> None:
    """Feed the records of a loaded native YAML document ``{version: 1, requests: [...]}``."""
    if not isinstance(data, dict):
        raise TraceError(path, None, "expected a mapping with keys version and requests")
    line = data.line if isinstance(data, LineDict) else None
    unknown = sorted(str(k) for k in data if k not in ("version", "requests"))
    if unknown:
        problem = f"unknown key(s) {', '.join(unknown)}: expected version, requests"
        raise TraceError(path, line, problem)
    if data.get("version") not in (VERSION, str(VERSION)):
        raise TraceError(path, line, f"version: expected {VERSION}, got {data.get('version')!r}")
    requests = data.get("requests")
    if not isinstance(requests, list):
        raise TraceError(path, line, f"requests: expected a list, got {requests!r}")
    for index, item in enumerate(requests):
        item_line = getattr(item, "line", None) or line
        try:
            if not isinstance(item, dict):
                raise FieldError(f"requests[{index}]", "a mapping", item)
            extra = sorted(str(k) for k in item if k not in _KEYS)
            if extra:
                raise FieldError("key", f"one of {', '.join(CSV_COLUMNS)}", extra[0])
            record = make_record(item, default_id=str(item_line or index + 1))
        except FieldError as err:
            sink.bad(TraceError(path, item_line, str(err)))
            continue
        sink.add(record, path, item_line)


def _header(path: Path, number: int, cells: list[str]) -> list[str]:
    names = [c.strip() for c in cells]
    problems = [f"unknown column {n!r}" for n in names if n not in _KEYS]
    problems += [f"duplicate column {n!r}" for n in set(names) if names.count(n) > 1]
    problems += [f"missing column {n!r}" for n in _REQUIRED if n not in names]
    if problems:
        expected = "submit,start,duration,capacity,user[,id]"
        raise TraceError(path, number, f"header: {'; '.join(problems)} (expected {expected})")
    return names


def read_csv(path: Path, sink: Collector) -> None:
    """Feed the records of a native CSV file; blank lines and ``#`` comments are ignored."""
    header: list[str] | None = None
    for number, line in iter_lines(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            cells = next(csv.reader([line]))
        except csv.Error as err:
            sink.bad(TraceError(path, number, f"invalid CSV: {err}"))
            continue
        if header is None:
            header = _header(path, number, cells)
            continue
        if len(cells) != len(header):
            problem = f"expected {len(header)} fields ({','.join(header)}), got {len(cells)}"
            sink.bad(TraceError(path, number, f"{problem} (truncated line?)"))
            continue
        try:
            record = make_record(dict(zip(header, cells, strict=True)), default_id=str(number))
        except FieldError as err:
            sink.bad(TraceError(path, number, str(err)))
            continue
        sink.add(record, path, number)
    if header is None:
        raise TraceError(path, None, "empty file: expected a header line submit,start,...")


def _check_single_line(record: TraceRecord) -> None:
    for name in ("id", "user"):
        value = getattr(record, name)
        if not value or value != value.strip() or any(c in value for c in "\r\n\x00"):
            raise ValueError(
                f"{name}: expected a single-line, non-empty, stripped text, got {value!r}"
            )


def _write(text: str, target: str | os.PathLike[str] | TextIO) -> None:
    if isinstance(target, str | os.PathLike):
        Path(target).write_text(text, encoding="utf-8")
    else:
        target.write(text)


def write_native_csv(
    records: Iterable[TraceRecord], target: str | os.PathLike[str] | TextIO
) -> None:
    """Write ``records`` as native CSV to a path or text stream.

    Floats are written with repr, so reading the file back gives equal records.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        _check_single_line(r)
        start = "" if r.start is None else repr(r.start)
        writer.writerow([repr(r.submit), start, repr(r.duration), repr(r.capacity), r.user, r.id])
    _write(out.getvalue(), target)


def write_native_yaml(
    records: Iterable[TraceRecord], target: str | os.PathLike[str] | TextIO
) -> None:
    """Write ``records`` as native YAML ``{version: 1, requests: [...]}`` to a path or stream."""
    requests = []
    for r in records:
        _check_single_line(r)
        item: dict[str, object] = {"id": r.id, "submit": r.submit}
        if r.start is not None:
            item["start"] = r.start
        item.update(duration=r.duration, capacity=r.capacity, user=r.user)
        requests.append(item)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    # Flow style for scalar-only mappings: one request per line, readable and line-addressable.
    text = yaml.dump(
        {"version": VERSION, "requests": requests},
        Dumper=dumper,
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=1 << 20,
    )
    _write(text, target)
