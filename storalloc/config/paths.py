"""Where Storalloc keeps state on a host: the state directory, created and checked at start."""

from __future__ import annotations

import os
from pathlib import Path


class StateDirError(Exception):
    """The state directory cannot be used; the message names it and the cause."""


def default_state_dir() -> Path:
    """$STORALLOC_STATE_DIR, else /var/lib/storalloc for root, else
    $XDG_STATE_HOME/storalloc (~/.local/state)."""
    explicit = os.environ.get("STORALLOC_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/storalloc")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "storalloc"


def prepare_state_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` (mode 0700) if missing and check it is a writable directory."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise StateDirError(f"state directory {path}: exists but is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(f"state directory {path}: cannot create it: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateDirError(f"state directory {path}: not writable by this user")
    return path
