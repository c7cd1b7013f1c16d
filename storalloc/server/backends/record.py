"""The server's durable record of its exports, for reconciling after a reboot.

The kernel forgets its nvmet configuration on reboot while LVs and files survive; this record
says how each live export was made (device, host, secret), so a restarted server can make it
again exactly as its client knows it. One JSON file, written atomically (temp file, fsync,
rename) with mode 0600 because it holds DH-HMAC-CHAP secrets. Entries are keyed by export id,
the same ids the orchestrator's `registered.hold` lists, so "keep what is held" is a lookup.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

from storalloc.server.backends.base import BackendError

FILE_NAME = "exports.json"
VERSION = 1


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """How one export was made."""

    export_id: str
    nqn: str
    disk_index: int
    device_path: str
    hostnqn: str | None
    buffered_io: bool
    size_gb: float
    dhchap_key: str | None = None


class ExportBook:
    """The record file under the server's state directory (in memory only if `path` is None)."""

    def __init__(self, state_dir: str | None) -> None:
        self.path = os.path.join(state_dir, FILE_NAME) if state_dir else None
        self._entries: dict[str, ExportRecord] = self._load()

    def _load(self) -> dict[str, ExportRecord]:
        if self.path is None or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            entries = data["exports"]
            return {k: ExportRecord(**v) for k, v in entries.items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"cannot read the export record {self.path}: {exc}; move it away to start "
                "without it (exports are then found from the kernel and the disks only)"
            ) from exc

    def get(self, export_id: str) -> ExportRecord | None:
        """The record of `export_id`, if any."""
        return self._entries.get(export_id)

    def ids(self) -> list[str]:
        """Recorded export ids."""
        return sorted(self._entries)

    def put(self, rec: ExportRecord) -> None:
        """Add or replace one entry and write the file."""
        self._entries[rec.export_id] = rec
        self._save()

    def drop(self, export_id: str) -> None:
        """Forget one entry (no-op if unknown) and write the file."""
        if self._entries.pop(export_id, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        data: dict[str, Any] = {
            "version": VERSION,
            "exports": {k: asdict(v) for k, v in sorted(self._entries.items())},
        }
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".exports-", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=1)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            raise BackendError(f"cannot write the export record {self.path}: {exc}") from exc
