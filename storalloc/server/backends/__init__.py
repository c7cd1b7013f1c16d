"""Storage backends of a storage node: simulated, dry-run, and NVMe-over-Fabrics (nvmet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storalloc.server.backends.base import (
    DEFAULT_NQN_PREFIX,
    Backend,
    BackendError,
    ExportSpec,
    export_id_for,
    make_nqn,
    parse_export_id,
)
from storalloc.server.backends.configfs import DEFAULT_ROOT

__all__ = [
    "DEFAULT_NQN_PREFIX",
    "Backend",
    "BackendError",
    "ExportSpec",
    "build_backend",
    "export_id_for",
    "make_nqn",
    "parse_export_id",
    "reset",
]


def build_backend(
    server_cfg: Any,
    node: Any,
    *,
    simulate: bool = False,
    dry_run: bool = False,
    driver: str | None = None,
    emit: Callable[[str], None] = print,
    configfs_root: str = DEFAULT_ROOT,
) -> Backend:
    """The backend a server should use, by name through the same registry as strategies
    (storalloc.registry.BACKENDS): `simulate`, or `nvmeof` (real, or dry-run printing its
    commands).

    `server_cfg` is a ServerConfig-like object (name, driver, allow_any_host, nqn_prefix,
    command_timeout), `node` a NodeConfig-like one (hostname, ipv4, transport, disks);
    `driver` overrides `server_cfg.driver` (the server's --driver flag).
    """
    from storalloc import registry

    name = "simulate" if simulate else getattr(server_cfg, "backend", "nvmeof")
    cls = registry.load(registry.BACKENDS, name, kind="backend")
    return cls.from_config(server_cfg, node, dry_run=dry_run, driver=driver, emit=emit,
                           configfs_root=configfs_root)  # fmt: skip


def reset(backend: Backend) -> list[str]:
    """Delete every export this node's Storalloc created (`server.py --reset`); return ids."""
    ids = backend.list_exports()
    for export_id in ids:
        backend.delete(export_id)
    wiper = getattr(backend, "wiper", None)
    if wiper is not None:
        wiper.wait()  # the process exits next: let the wipes (and the lvremoves) finish
    return ids
