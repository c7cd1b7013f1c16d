"""Start-up checks of the configured disks against what is really there.

A disk whose volume group or mount point is missing, or whose real size is smaller than the
capacity the scheduler would book on it, is disabled (not registered) with a message naming
it, so one bad disk does not stop the node.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from storalloc.server.backends.carving import Carver, FileCarver, LvmCarver
from storalloc.server.runner import CommandError, Runner, tail

GB = 1e9


def disk_problems(
    disks: Sequence[Any], carvers: Sequence[Carver], runner: Runner
) -> dict[int, str]:
    """{index: why} for each disk that cannot be used as configured."""
    if runner.dry_run:
        return {}  # a dry run shows commands; it does not judge the machine
    real: dict[int, float | str] = {}
    lvm = [(i, c) for i, c in enumerate(carvers) if isinstance(c, LvmCarver)]
    # One `vgs` per set of allowed devices (usually one for the node): starting up stays quick.
    for devices in dict.fromkeys(c.devices for _, c in lvm):
        group = [(i, c) for i, c in lvm if c.devices == devices]
        real.update(_vg_sizes(group, runner))
    for i, c in enumerate(carvers):
        if isinstance(c, FileCarver):
            try:
                st = os.statvfs(c.mountpoint)
                real[i] = float(st.f_blocks * st.f_frsize)
            except OSError as exc:
                real[i] = f"mount point {c.mountpoint} is not usable: {exc}"
    out = {}
    for i, size in real.items():
        if isinstance(size, str):
            out[i] = size
        elif size < float(disks[i].capacity) * GB:
            where = _where(carvers[i])
            out[i] = (f"{where} has {size / GB:.3f} GB, less than the configured capacity "
                      f"{disks[i].capacity:g} GB: lower `capacity` in the system YAML")  # fmt: skip
    return out


def _where(c: Carver) -> str:
    if isinstance(c, LvmCarver):
        return f"volume group {c.vg}"
    return f"filesystem at {getattr(c, 'mountpoint', '?')}"


def _vg_sizes(group: list[tuple[int, LvmCarver]], runner: Runner) -> dict[int, float | str]:
    first = group[0][1]
    vgs = list(dict.fromkeys(c.vg for _, c in group))
    argv = first.lvm("vgs", "--noheadings", "--units", "b", "--nosuffix", "-o",
                     "vg_name,vg_size", *vgs)  # fmt: skip
    try:
        # vgs prints the VGs it found and exits 5 if any is missing: read both.
        result = runner.run(argv, check=False)
    except CommandError as exc:
        return {i: f"volume group {c.vg} is not usable: {exc}" for i, c in group}
    sizes = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 2:
            try:
                sizes[fields[0]] = float(fields[1])
            except ValueError:
                continue
    out: dict[int, float | str] = {}
    for i, c in group:
        if c.vg in sizes:
            out[i] = sizes[c.vg]
            continue
        # vgs reports every missing VG in one stderr: keep the lines about this one.
        mine = [ln for ln in result.stderr.splitlines() if f'"{c.vg}"' in ln or ln.endswith(c.vg)]
        why = tail("\n".join(mine) or result.stderr) or f"exit code {result.returncode}"
        out[i] = f"volume group {c.vg} is not usable: {why}"
    return out
