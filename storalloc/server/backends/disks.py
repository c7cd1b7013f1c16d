"""Start-up checks of the configured disks against what is really there.

A disk whose volume group or mount point is missing, or whose real size is smaller than the
capacity the scheduler would book on it, is disabled (not registered) with a message naming
it, so one bad disk does not stop the node.
"""

from __future__ import annotations

import os
from typing import Any

from storalloc.server.backends.carving import Carver, FileCarver, LvmCarver
from storalloc.server.runner import CommandError, Runner

GB = 1e9


def disk_problem(disk: Any, carver: Carver, runner: Runner) -> str | None:
    """Why `disk` cannot be used as configured, or None if it can."""
    if runner.dry_run:
        return None  # a dry run shows commands; it does not judge the machine
    want = float(disk.capacity) * GB
    if isinstance(carver, LvmCarver):
        argv = carver.lvm("vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_size",
                          carver.vg)  # fmt: skip
        try:
            real = float(runner.run(argv).stdout.split()[0])
        except CommandError as exc:
            return f"volume group {carver.vg} is not usable: {exc}"
        except (IndexError, ValueError):
            return f"`vgs` gave no size for volume group {carver.vg}"
        where = f"volume group {carver.vg}"
    elif isinstance(carver, FileCarver):
        try:
            st = os.statvfs(carver.mountpoint)
        except OSError as exc:
            return f"mount point {carver.mountpoint} is not usable: {exc}"
        real = float(st.f_blocks * st.f_frsize)
        where = f"filesystem at {carver.mountpoint}"
    else:
        return None
    if real < want:
        return (
            f"{where} has {real / GB:.3f} GB, less than the configured capacity "
            f"{disk.capacity:g} GB: lower `capacity` in the system YAML"
        )
    return None
