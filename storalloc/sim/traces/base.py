"""Shared trace types: the record, the error, skip statistics and the collector readers feed."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

__all__ = [
    "Collector",
    "LineDict",
    "LineList",
    "OnSkip",
    "TraceError",
    "TraceRecord",
    "TraceStats",
    "iter_lines",
    "load_yaml",
]

logger = logging.getLogger("storalloc.sim.traces")

# A measured duration of 0 means "under a second" at the 1 s resolution of the sources.
MIN_MEASURED_DURATION = 1.0


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One storage request of a trace: ``capacity`` GB for ``duration`` seconds."""

    id: str  # stable id from the source (job id, log name, line number)
    submit: float  # epoch seconds when the request is submitted
    start: float | None  # requested start (epoch s), None = as soon as possible
    duration: float  # seconds, > 0
    capacity: float  # GB, > 0
    user: str


class TraceError(Exception):
    """A trace cannot be read; the message names the file and the line when known."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, problem: str) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[object, ...]:
        # The default reduce would call __init__ with the formatted message only.
        return (type(self), (self.path, self.line, self.problem))


@dataclass(slots=True)
class TraceStats:
    """What a read left out: jobs with nothing to store, and bad records skipped; and
    how many Darshan logs had a partial module (possibly under-counted, kept)."""

    skipped_zero: int = 0
    skipped_bad: int = 0
    partial_logs: int = 0
    # What was read (storalloc.sim.traces.source.describe_source), for the report.
    source: dict[str, Any] | None = None


OnSkip = Callable[[TraceError], None]


def warn_skip(error: TraceError) -> None:
    """Default ``on_skip``: log the skipped record as a warning."""
    logger.warning("skipping bad trace record: %s", error)


class Collector:
    """Receives records and problems from a reader; applies the skip_bad policy."""

    def __init__(self, *, skip_bad: bool = False, on_skip: OnSkip | None = None) -> None:
        self.skip_bad = skip_bad
        self.on_skip = on_skip or warn_skip
        self.stats = TraceStats()
        self._records: list[TraceRecord] = []
        self._seen: dict[str, str] = {}  # id -> where it was first seen

    def add(self, record: TraceRecord, path: str | os.PathLike[str], line: int | None) -> None:
        """Keep ``record`` unless its id was already used (a bad record)."""
        first = self._seen.get(record.id)
        if first is not None:
            self.bad(TraceError(path, line, f"id: duplicate id {record.id!r} (first at {first})"))
            return
        self._seen[record.id] = os.fspath(path) if line is None else f"line {line}"
        self._records.append(record)

    def bad(self, error: TraceError) -> None:
        """Raise ``error``, or report and count it when skipping bad records."""
        if not self.skip_bad:
            raise error
        self.stats.skipped_bad += 1
        self.on_skip(error)

    def zero(self) -> None:
        """Count a job that stored nothing: silently left out of the trace."""
        self.stats.skipped_zero += 1

    def partial(self, is_partial: bool = True) -> None:
        """Count a record whose source was incomplete (kept, with a warning)."""
        self.stats.partial_logs += int(is_partial)

    def result(self) -> tuple[list[TraceRecord], TraceStats]:
        """The records sorted by (submit, id), and the statistics."""
        return sorted(self._records, key=lambda r: (r.submit, r.id)), self.stats


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading, decompressing ``.gz`` files transparently."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without newline) of a UTF-8 text file, maybe gzipped.

    Unreadable, undecodable or truncated-gzip files raise TraceError naming the file and line.
    """
    number = 0
    try:
        with open_binary(path) as stream:
            # Decoding line by line (not by buffered chunk) makes the error's line exact.
            for number, raw in enumerate(stream, start=1):
                # utf-8-sig drops the byte-order mark spreadsheets put at the start.
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                yield number, text.rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise TraceError(path, number, f"not UTF-8 text: {err.reason}") from err
    except (OSError, EOFError) as err:
        detail = getattr(err, "strerror", None) or err
        raise TraceError(path, number + 1 if number else None, f"cannot read: {detail}") from err


class LineDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the (1-based) line where it starts."""

    line: int | None = None


class LineList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers the (1-based) line where it starts."""

    line: int | None = None


# The C parser when PyYAML has libyaml: events come ~6x faster than PyYAML's constructors
# build objects, which matters for a 24k-job IOJobs.yml.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_IGNORED = (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)


class _Builder:
    """Builds plain data from YAML events: LineDicts, LineLists and string scalars.

    Plain null scalars become None; other scalars stay strings, which the field
    parsers read as numbers or times. Anchors and aliases work; tags and merge keys
    are ignored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stack: list[list[object]] = []  # [container, has_key, key]
        self.anchors: dict[str, object] = {}
        self.root: object = None
        self.documents = 0

    def feed(self, event: yaml.Event) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent and not event.anchor:  # the bulk of events: keep it short
            plain_null = event.implicit[0] and event.value in _NULLS
            self._attach(None if plain_null else event.value, event)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            self.stack.pop()
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                line = event.start_mark.line + 1
                raise TraceError(self.path, line, "expected a single YAML document, got more")
        elif not isinstance(event, _IGNORED):
            value = self._value(event)
            self._attach(value, event)
            if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self.stack.append([value, False, None])

    def _value(self, event: yaml.Event) -> object:
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                line = event.start_mark.line + 1
                raise TraceError(self.path, line, f"unknown YAML alias *{event.anchor}")
            return self.anchors[event.anchor]
        if isinstance(event, yaml.ScalarEvent):
            plain_null = event.implicit[0] and event.value in _NULLS
            value: object = None if plain_null else event.value
        else:
            value = LineDict() if isinstance(event, yaml.MappingStartEvent) else LineList()
            value.line = event.start_mark.line + 1
        if event.anchor:
            self.anchors[event.anchor] = value
        return value

    def _attach(self, value: object, event: yaml.Event) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        container = top[0]
        if type(container) is LineList:
            container.append(value)
        elif not top[1]:
            if isinstance(value, dict | list):
                line = event.start_mark.line + 1
                raise TraceError(self.path, line, "a YAML mapping key must be a scalar")
            top[1], top[2] = True, value
        else:
            container[top[2]] = value  # type: ignore[index]
            top[1] = False


def load_yaml(path: Path) -> object:
    """Parse one YAML document; syntax errors and truncation raise TraceError with the line."""
    builder = _Builder(path)
    try:
        with open_binary(path) as stream:
            for event in yaml.parse(stream, Loader=_Loader):
                builder.feed(event)
    except (OSError, EOFError) as err:
        detail = getattr(err, "strerror", None) or err
        raise TraceError(path, None, f"cannot read: {detail}") from err
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (err.context, err.problem) if p)
        raise TraceError(path, line, f"invalid YAML (truncated file?): {problem}") from err
    except yaml.YAMLError as err:
        raise TraceError(path, None, f"invalid YAML: {err}") from err
    return builder.root
