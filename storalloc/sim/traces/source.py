"""What a trace read came from, for reports: path, content hash, format and reader options."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["describe_source", "sha256_of"]

_BLOCK = 1 << 20


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes; for a directory of Darshan logs, of each log's relative
    path and SHA-256 in name order (so a renamed, added or changed log changes it)."""
    if not path.is_dir():
        return _file_digest(path)
    digest = hashlib.sha256()
    for log in sorted(p for p in path.rglob("*.darshan") if p.is_file()):
        digest.update(f"{log.relative_to(path).as_posix()}\0{_file_digest(log)}\n".encode())
    return digest.hexdigest()


def describe_source(path: Path, fmt: str, options: dict[str, Any]) -> dict[str, Any]:
    """The trace inputs of a report: absolute path, sha256, format and reader options."""
    return {
        "path": os.path.abspath(path),
        "sha256": sha256_of(path),
        "format": fmt,
        "options": dict(sorted(options.items())),
    }
