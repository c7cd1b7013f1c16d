"""Check a Darshan 3 log's header and compressed regions before libdarshan-util reads it.

libdarshan-util aborts or crashes the process on many truncated or corrupt logs, and reads
some of them silently in part; this check turns what it can see into a clear error.

Header layouts (darshan-log-format.h): version[8], magic (int64), comp_type (u8, padded),
partial flag, name map (offset, length: u64), module maps (offset, length), module
versions (u32). Formats 3.00 to 3.40 have a 32-bit partial flag and 16 modules; 3.41
(Darshan 3.4.1 and later) a 64-bit flag and 64 modules. The job record follows.
"""

from __future__ import annotations

import bz2
import dataclasses
import itertools
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from storalloc.sim.traces.base import TraceError

__all__ = ["HeaderInfo", "Layout", "byte_order", "check_log", "layout_for", "region_ok"]

_MAGIC = 6567223
_ZLIB, _BZIP2, _NONE = 0, 1, 2
_CHUNK = 1 << 20  # inflate in bounded steps: the output is thrown away
# The smallest job record (uid, start, end, nprocs, jobid, 1 KiB metadata in 3.00).
_MIN_JOB_BYTES = 4 * 8 + 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    """Where the fields of one header layout are."""

    maps_at: int  # first module map (the name map is just before)
    modules: int

    @property
    def size(self) -> int:
        return self.maps_at + 16 * self.modules + 4 * self.modules


NARROW = Layout(maps_at=40, modules=16)  # 3.00 .. 3.40
WIDE = Layout(maps_at=48, modules=64)  # 3.41 ..
FIRST_WIDE = (3, 41)
# Formats whose layout is known for sure (released Darshan 3.x); others try both layouts.
KNOWN_FORMATS = frozenset(("3.00", "3.10", "3.20", "3.21", "3.41"))


@dataclasses.dataclass(frozen=True, slots=True)
class HeaderInfo:
    """What the header says: format version and the module ids (of that format) with data."""

    version: str
    modules: frozenset[int]


def byte_order(head: bytes) -> str | None:
    """The struct byte order (``<`` or ``>``) of a Darshan 3 log header, None if not one."""
    if len(head) < 16 or not head.startswith(b"3."):
        return None
    return next((o for o in "<>" if struct.unpack_from(f"{o}q", head, 8)[0] == _MAGIC), None)


def _version(head: bytes) -> tuple[str, tuple[int, int] | None]:
    text = head[:8].split(b"\0", 1)[0].decode("ascii", errors="replace")
    major, _, minor = text.partition(".")
    if major.isdigit() and minor.isdigit() and len(minor) == 2:
        return text, (int(major), int(minor))
    return text, None


def layout_for(version: tuple[int, int]) -> Layout:
    """The header layout of a 3.xy format."""
    return WIDE if version >= FIRST_WIDE else NARROW


def _zlib_ok(data: bytes) -> bool:
    while data:  # a region is one or more concatenated zlib streams
        inflater = zlib.decompressobj()
        inflater.decompress(data, _CHUNK)
        while inflater.unconsumed_tail and not inflater.eof:
            inflater.decompress(inflater.unconsumed_tail, _CHUNK)
        if not inflater.eof:
            return False
        data = inflater.unused_data
    return True


def _bzip2_ok(data: bytes) -> bool:
    while data:
        inflater = bz2.BZ2Decompressor()
        inflater.decompress(data, _CHUNK)
        while not inflater.eof and not inflater.needs_input:
            inflater.decompress(b"", _CHUNK)
        if not inflater.eof:
            return False
        data = inflater.unused_data
    return True


def region_ok(data: bytes, comp_type: int) -> bool:
    """Whether a compressed region decompresses completely (checksums included)."""
    try:
        if comp_type == _ZLIB:
            return _zlib_ok(data)
        if comp_type == _BZIP2:
            return _bzip2_ok(data)
    except (zlib.error, OSError, EOFError, ValueError):
        return False
    return True  # uncompressed: nothing to verify


def _job_ok(data: bytes, comp_type: int) -> bool:
    """The job record decompresses completely and is at least as long as the smallest one."""
    if not region_ok(data, comp_type):
        return False
    if comp_type == _ZLIB:
        return len(zlib.decompress(data)) >= _MIN_JOB_BYTES
    if comp_type == _BZIP2:
        return len(bz2.decompress(data)) >= _MIN_JOB_BYTES
    return len(data) >= _MIN_JOB_BYTES


def _maps(head: bytes, order: str, layout: Layout) -> list[tuple[str, int, int, int]]:
    """(name, module id or -1, offset, length) of the name map and the modules present."""
    maps = [("name map", -1, *struct.unpack_from(f"{order}QQ", head, layout.maps_at - 16))]
    for index in range(layout.modules):
        off, length = struct.unpack_from(f"{order}QQ", head, layout.maps_at + 16 * index)
        maps.append((f"module region {index}", index, off, length))
    return [m for m in maps if m[3]]


def check_log(path: Path) -> HeaderInfo:
    """What the header of ``path`` says; TraceError unless it is a complete, uncorrupted
    Darshan 3 log."""
    try:
        with open(path, "rb") as stream:
            return _check(path, stream)
    except OSError as err:
        raise TraceError(path, None, f"cannot read: {err.strerror or err}") from err


def _header(path: Path, stream: BinaryIO) -> tuple[bytes, str, str, list[Layout]]:
    """The header bytes, byte order, version string, and the layouts to try, likeliest
    first (both, for a version this check has not seen)."""
    head = stream.read(WIDE.size)
    order = byte_order(head)
    if order is None:
        version = "a Darshan 2 log (unsupported)" if head.startswith(b"2.") else "a Darshan log"
        raise TraceError(path, None, f"not {version}: expected a Darshan 3.x log header")
    text, version = _version(head)
    if version is None:
        raise TraceError(path, None, f"corrupt Darshan log: format version {text!r}")
    if len(head) < NARROW.size:
        problem = f"truncated Darshan log: {len(head)} bytes, the header needs more"
        raise TraceError(path, None, problem)
    layout = layout_for(version)
    other = NARROW if layout is WIDE else WIDE
    return head, order, text, [layout] if text in KNOWN_FORMATS else [layout, other]


def _structure(path: Path, head: bytes, order: str, layout: Layout,
               size: int) -> list[tuple[str, int, int, int]]:  # fmt: skip
    """The regions of ``layout``; TraceError unless they fit the file."""
    if len(head) < layout.size:
        problem = f"truncated Darshan log: {len(head)} bytes, the header needs {layout.size}"
        raise TraceError(path, None, problem)
    maps = _maps(head, order, layout)
    if not any(index == -1 for _, index, _, _ in maps):
        raise TraceError(path, None, "corrupt Darshan log: the header has no name map")
    _check_bounds(path, maps, layout.size, size)
    return maps


def _check(path: Path, stream: BinaryIO) -> HeaderInfo:
    head, order, text, layouts = _header(path, stream)
    comp_type = head[16]
    if comp_type not in (_ZLIB, _BZIP2, _NONE):
        raise TraceError(path, None, f"corrupt Darshan log: unknown compression {comp_type}")
    size = stream.seek(0, 2)
    errors = []
    for layout in layouts:
        try:
            maps = _structure(path, head, order, layout, size)
            break
        except TraceError as err:
            errors.append(err)
    else:  # a cut file is likelier than a damaged header: say so when a layout found it
        raise next((e for e in errors if "truncated" in e.problem), errors[0])
    job_end = min(off for _, _, off, _ in maps)
    stream.seek(layout.size)
    if not _job_ok(stream.read(job_end - layout.size), comp_type):
        raise TraceError(path, None, "corrupt Darshan log: the job record does not decompress")
    for name, _, off, length in maps:
        stream.seek(off)
        if not region_ok(stream.read(length), comp_type):
            raise TraceError(path, None, f"corrupt Darshan log: the {name} does not decompress")
    modules = frozenset(index for _, index, _, _ in maps if index >= 0)
    return HeaderInfo(text, modules)


def _check_bounds(path: Path, maps: list[tuple[str, int, int, int]], start: int,
                  size: int) -> None:  # fmt: skip
    """Regions lie after the header and the job record, inside the file, without overlap."""
    end = max(off + length for _, _, off, length in maps)
    if end > size:
        problem = f"truncated or corrupt Darshan log: data runs to byte {end}, file has {size}"
        raise TraceError(path, None, problem)
    ordered = sorted((off, off + length, name) for name, _, off, length in maps)
    if ordered[0][0] <= start:
        problem = f"corrupt Darshan log: the {ordered[0][2]} overlaps the header"
        raise TraceError(path, None, problem)
    for (_, stop, name), (begin, _, other) in itertools.pairwise(ordered):
        if begin < stop:
            raise TraceError(path, None, f"corrupt Darshan log: the {name} overlaps the {other}")
