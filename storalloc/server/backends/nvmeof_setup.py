"""The parts of an NVMe-oF backend chosen by configuration: target driver, command runner, files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storalloc.config.paths import default_state_dir
from storalloc.server.backends.base import BackendError
from storalloc.server.backends.configfs import DEFAULT_ROOT, ConfigfsDriver
from storalloc.server.backends.fsops import DryRunFs, RealFs
from storalloc.server.backends.nvmetcli import NvmetcliDriver
from storalloc.server.backends.target import TargetDriver, TargetPort
from storalloc.server.runner import DryRunRunner, Runner

__all__ = ["DRIVERS", "select_driver", "state_dir_for", "tools_for"]

DRIVERS = ("auto", "nvmetcli", "configfs")


def select_driver(
    name: str, port: TargetPort, *, runner: Runner, fs: RealFs, root: str = DEFAULT_ROOT
) -> TargetDriver:
    """`auto` is configfs: it changes only what a lease touches and needs no extra tool."""
    if name == "auto":
        name = "configfs"
    if name == "nvmetcli":
        return NvmetcliDriver(port, runner=runner, root=root, fs=fs)
    if name == "configfs":
        return ConfigfsDriver(port, root=root, fs=fs)
    raise BackendError(f"driver: expected one of {', '.join(DRIVERS)}, got {name!r}")


def tools_for(
    server_cfg: Any, *, dry_run: bool, emit: Callable[[str], None]
) -> tuple[Runner, RealFs]:
    """A dry run prints commands and file writes instead of doing them."""
    if dry_run:
        return DryRunRunner(emit), DryRunFs(emit)
    return Runner(timeout=float(getattr(server_cfg, "command_timeout", 30))), RealFs()


def state_dir_for(server_cfg: Any, *, dry_run: bool) -> str | None:
    """Where the export records live; a dry run keeps none so it leaves no trace on disk."""
    if dry_run:
        return None
    return getattr(server_cfg, "state_dir", None) or str(default_state_dir() / "server")
