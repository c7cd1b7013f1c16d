"""Filesystem operations used by the backends (configfs writes, backing files), real or dry-run."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable


class RealFs:
    """Performs filesystem changes for real. Reads never change anything."""

    dry_run = False

    def exists(self, path: str) -> bool:
        """True if `path` exists (a dangling symlink counts as existing)."""
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        """True if `path` is a directory (following symlinks)."""
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        """Sorted entries of `path`; an absent directory is empty."""
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read(self, path: str) -> str | None:
        """Stripped content of `path`, or None if it does not exist."""
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def mkdir(self, path: str) -> None:
        """Create one directory (configfs: create an object)."""
        os.mkdir(path)

    def makedirs(self, path: str) -> None:
        """Create a directory and its parents; fine if it exists."""
        os.makedirs(path, exist_ok=True)

    def rmdir(self, path: str) -> None:
        """Remove one directory (configfs: remove an object)."""
        os.rmdir(path)

    def write(self, path: str, value: str) -> None:
        """Write `value` to an existing file in one write (configfs attributes need that)."""
        # No O_CREAT: a configfs attribute that does not exist must fail, not be invented.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def symlink(self, target: str, link: str) -> None:
        """Create symlink `link` pointing at `target`."""
        os.symlink(target, link)

    def unlink(self, path: str) -> None:
        """Remove a file or symlink."""
        os.unlink(path)

    def create_sparse(self, path: str, size_bytes: int) -> None:
        """Create a new sparse file of `size_bytes` (fails if it exists)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size_bytes)
        finally:
            os.close(fd)


class DryRunFs(RealFs):
    """Reads the real filesystem but prints every change as a shell command instead."""

    dry_run = True

    def __init__(self, emit: Callable[[str], None] = print, prefix: str = "dry-run: ") -> None:
        self.emit = emit
        self.prefix = prefix

    def _say(self, *argv: str) -> None:
        self.emit(self.prefix + shlex.join(argv))

    def mkdir(self, path: str) -> None:
        """Print `mkdir PATH`."""
        self._say("mkdir", path)

    def makedirs(self, path: str) -> None:
        """Print `mkdir -p PATH`."""
        self._say("mkdir", "-p", path)

    def rmdir(self, path: str) -> None:
        """Print `rmdir PATH`."""
        self._say("rmdir", path)

    def write(self, path: str, value: str) -> None:
        """Print `echo -n VALUE > PATH`."""
        self.emit(f"{self.prefix}echo -n {shlex.quote(value)} > {shlex.quote(path)}")

    def symlink(self, target: str, link: str) -> None:
        """Print `ln -s TARGET LINK`."""
        self._say("ln", "-s", target, link)

    def unlink(self, path: str) -> None:
        """Print `rm PATH`."""
        self._say("rm", path)

    def create_sparse(self, path: str, size_bytes: int) -> None:
        """Print `truncate -s SIZE PATH`."""
        self._say("truncate", "-s", str(size_bytes), path)
