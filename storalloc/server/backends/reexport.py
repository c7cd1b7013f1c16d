"""Re-create live exports after a node reboot (the kernel forgot them, the volumes did not)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.carving import LvmCarver
from storalloc.server.backends.record import ExportRecord

if TYPE_CHECKING:
    from storalloc.server.backends.nvmeof import NvmeofBackend

log = logging.getLogger("storalloc.server.backends")


def restore(backend: NvmeofBackend, hold: set[str]) -> list[str]:
    """Re-export the held exports that have a record but no subsystem; return their ids.

    The record gives the NQN, device and secret the client already has, so it reconnects as
    before. One that cannot be re-created is logged and skipped: it stays listed, and its
    job's owner sees the failure when connecting rather than the whole server stopping.
    """
    live = set(backend.driver.list_nqns())
    present = set(backend.list_exports())
    for export_id in backend.book.ids():
        if export_id not in hold and export_id not in present:
            backend.book.drop(export_id)  # gone everywhere: nothing left to re-create
    done = []
    for export_id in sorted(hold):
        rec = backend.book.get(export_id)
        if rec is None or rec.nqn in live:
            continue
        try:
            _reexport(backend, rec)
        except BackendError as exc:
            log.error("cannot re-export %s after restart: %s", export_id, exc)
            continue
        done.append(export_id)
    return done


def _reexport(backend: NvmeofBackend, rec: ExportRecord) -> None:
    carvers = backend.carvers
    carver = carvers[rec.disk_index] if 0 <= rec.disk_index < len(carvers) else None
    if carver is None or carver.path_for(rec.export_id) != rec.device_path:
        raise BackendError(f"disk {rec.disk_index} of the config no longer holds {rec.device_path}")
    if isinstance(carver, LvmCarver):
        carver.activate(rec.export_id)  # LVs may come up inactive after a reboot
    elif not backend.fs.exists(rec.device_path):
        raise BackendError(f"backing file {rec.device_path} is gone")
    key = backend._export(rec, rec.dhchap_key)
    if key != rec.dhchap_key:
        # Another live lease of the same host re-created the host entry first with its key.
        log.warning("%s: host %s kept another secret; its client must use that one",
                    rec.export_id, rec.hostnqn)  # fmt: skip
        backend.book.put(replace(rec, dhchap_key=key))
    log.info("re-exported %s (%s) as %s", rec.export_id, rec.device_path, rec.nqn)
