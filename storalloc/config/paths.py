"""Default places on disk, as daemons of the field choose them (slurmctld's StateSaveLocation
is /var/spool/slurmctld; the XDG base directories for users)."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """$STORALLOC_STATE_DIR, else /var/lib/storalloc for root, else
    $XDG_STATE_HOME/storalloc (~/.local/state/storalloc)."""
    explicit = os.environ.get("STORALLOC_STATE_DIR")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/lib/storalloc")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "storalloc"
