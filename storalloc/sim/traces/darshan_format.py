"""Check a Darshan 3 log's header and compressed regions before libdarshan-util reads it.

libdarshan-util aborts the whole process (a failed assertion when the log is closed)
after it meets a truncated or corrupt region, so such logs must never reach it.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from storalloc.sim.traces.base import TraceError

__all__ = ["byte_order", "check_log", "region_ok"]

# Header (darshan-log-format.h, log versions 3.x): version[8], magic (int64),
# comp_type (u8, padded), partial_flag (u32), name map (off, len: u64),
# 16 module maps (off, len), 16 module versions (u32). The job record follows it.
_MAGIC = 6567223
_NAME_MAP_AT, _MOD_MAPS_AT, _MOD_MAPS = 24, 40, 16
HEADER_SIZE = _MOD_MAPS_AT + 16 * _MOD_MAPS + 4 * _MOD_MAPS
_ZLIB, _BZIP2 = 0, 1
_CHUNK = 1 << 20  # inflate in bounded steps: the output is thrown away


def byte_order(head: bytes) -> str | None:
    """The struct byte order (``<`` or ``>``) of a Darshan 3 log header, None if not one."""
    if len(head) < 16 or not head.startswith(b"3."):
        return None
    return next((o for o in "<>" if struct.unpack_from(f"{o}q", head, 8)[0] == _MAGIC), None)


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
    return True  # uncompressed or an unknown method: nothing to verify


def _regions(head: bytes, order: str) -> list[tuple[str, int, int]]:
    """(name, offset, length) of the name map and the module regions present."""
    maps = [("name map", *struct.unpack_from(f"{order}QQ", head, _NAME_MAP_AT))]
    for index in range(_MOD_MAPS):
        off, length = struct.unpack_from(f"{order}QQ", head, _MOD_MAPS_AT + 16 * index)
        maps.append((f"module region {index}", off, length))
    return [(name, off, length) for name, off, length in maps if length]


def check_log(path: Path) -> None:
    """Raise TraceError unless ``path`` is a complete, uncorrupted Darshan 3 log."""
    try:
        with open(path, "rb") as stream:
            _check(path, stream)
    except OSError as err:
        raise TraceError(path, None, f"cannot read: {err.strerror or err}") from err


def _check(path: Path, stream: BinaryIO) -> None:
    head = stream.read(HEADER_SIZE)
    order = byte_order(head)
    if order is None:
        version = "a Darshan 2 log (unsupported)" if head.startswith(b"2.") else "a Darshan log"
        raise TraceError(path, None, f"not {version}: expected a Darshan 3.x log header")
    size = stream.seek(0, 2)
    if size < HEADER_SIZE:
        raise TraceError(path, None, f"truncated Darshan log: {size} bytes, the header needs more")
    regions = _regions(head, order)
    if not regions or any(off < HEADER_SIZE for _, off, _ in regions):
        return  # a header layout this check does not know: leave it to libdarshan
    end = max(off + length for _, off, length in regions)
    if end > size:
        problem = f"truncated or corrupt Darshan log: data runs to byte {end}, file has {size}"
        raise TraceError(path, None, problem)
    job_end = min(off for _, off, _ in regions)
    for name, off, length in [("job record", HEADER_SIZE, job_end - HEADER_SIZE), *regions]:
        stream.seek(off)
        if not region_ok(stream.read(length), comp_type=head[16]):
            raise TraceError(path, None, f"corrupt Darshan log: the {name} does not decompress")
