"""Carve per-export backing stores out of a disk: LVM logical volumes or (sparse) files."""

from __future__ import annotations

import math
import os
from typing import Any, Protocol

from storalloc.server.backends.base import BackendError, is_export_id, validate_export_id
from storalloc.server.backends.fsops import RealFs
from storalloc.server.runner import CommandError, Runner

MIB = 1 << 20
#: Filesystems without O_DIRECT: nvmet must open files there with buffered_io=1.
NO_DIRECT_IO_FS = frozenset({"tmpfs", "ramfs"})


def size_bytes(size_gb: float) -> int:
    """Decimal GB (1e9 bytes) rounded up to whole MiB, so the export is never smaller."""
    if not size_gb > 0:
        raise BackendError(f"export size must be > 0 GB, got {size_gb!r}")
    return math.ceil(size_gb * 1e9 / MIB) * MIB


def fs_type(path: str, mounts_file: str = "/proc/self/mounts") -> str | None:
    """Filesystem type of the mount holding `path` (longest mount-point prefix), or None."""
    target = os.path.realpath(path)
    best, best_type = "", None
    try:
        with open(mounts_file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        # /proc/mounts escapes blanks as octal (\040); undo that before comparing.
        mnt = fields[1].encode().decode("unicode_escape")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best):
            best, best_type = mnt, fields[2]
    return best_type


class Carver(Protocol):
    """Makes and frees one backing store per export on one disk."""

    kind: str

    def create(self, export_id: str, size_gb: float) -> str:
        """Make the backing store; return its path (what the namespace exports)."""
        ...

    def remove(self, export_id: str) -> bool:
        """Free the backing store; False if there was none (idempotent)."""
        ...

    def path_for(self, export_id: str) -> str:
        """Where the backing store of `export_id` lives (whether or not it exists)."""
        ...

    def list_ids(self) -> list[str]:
        """Export ids that have a backing store here."""
        ...

    def needs_buffered_io(self) -> bool:
        """True if nvmet cannot open the backing store with O_DIRECT."""
        ...


class LvmCarver:
    """One logical volume per export in volume group `vg`."""

    kind = "lvm"

    def __init__(
        self, vg: str, runner: Runner, dev_root: str = "/dev", devices: tuple[str, ...] = ()
    ) -> None:
        self.vg = vg
        self.runner = runner
        self.dev_root = dev_root
        # LVM 2.03.12+: `--devices PV` makes a command look at these PVs only, so it never
        # scans (and hangs on) NVMe-oF namespaces this node imports, or tenants' PVs.
        self.devices = devices

    def lvm(self, *argv: str) -> list[str]:
        """An LVM command line, restricted to `devices` when set."""
        extra = [a for d in self.devices for a in ("--devices", d)]
        return [argv[0], *extra, *argv[1:]]

    def path_for(self, export_id: str) -> str:
        """`/dev/<vg>/<export_id>`."""
        return f"{self.dev_root}/{self.vg}/{export_id}"

    def create(self, export_id: str, size_gb: float) -> str:
        """`lvcreate -y -L <MiB>m -n <export_id> <vg>` (m = MiB; sizes are decimal GB)."""
        validate_export_id(export_id)
        mib = size_bytes(size_gb) // MIB
        argv = self.lvm("lvcreate", "-y", "-L", f"{mib}m", "-n", export_id, self.vg)
        try:
            self.runner.run(argv)
        except CommandError as exc:
            what = f"cannot carve {size_gb:g} GB for {export_id} in VG {self.vg}"
            raise BackendError(f"{what}: {exc}") from exc
        return self.path_for(export_id)

    def remove(self, export_id: str) -> bool:
        """`lvremove -y <vg>/<export_id>`; an LV that is already gone is fine."""
        validate_export_id(export_id)
        argv = self.lvm("lvremove", "-y", f"{self.vg}/{export_id}")
        try:
            self.runner.run(argv)
        except CommandError as exc:
            if "failed to find logical volume" in exc.stderr.lower():
                return False
            raise BackendError(f"cannot free LV {self.vg}/{export_id}: {exc}") from exc
        return True

    def activate(self, export_id: str) -> str:
        """`lvchange -ay <vg>/<export_id>` (LVs may come up inactive after a reboot); its path."""
        validate_export_id(export_id)
        try:
            self.runner.run(self.lvm("lvchange", "-ay", f"{self.vg}/{export_id}"))
        except CommandError as exc:
            raise BackendError(f"cannot activate LV {self.vg}/{export_id}: {exc}") from exc
        return self.path_for(export_id)

    def list_ids(self) -> list[str]:
        """Our LVs in the VG, from `lvs --noheadings -o lv_name <vg>`."""
        argv = self.lvm("lvs", "--noheadings", "-o", "lv_name", self.vg)
        try:
            out = self.runner.run(argv).stdout
        except CommandError as exc:
            raise BackendError(f"cannot list LVs of VG {self.vg}: {exc}") from exc
        return sorted(name for name in out.split() if is_export_id(name))

    def needs_buffered_io(self) -> bool:
        """Block devices support O_DIRECT."""
        return False


class FileCarver:
    """One file per export in `<mountpoint>/storalloc/<export_id>.img`.

    Files are sparse (ftruncate): creation is instant and blocks are allocated on first write.
    The scheduler never books more than the disk's configured capacity, so as long as that is
    not larger than the filesystem, writes cannot run out of space.
    """

    kind = "file"

    def __init__(self, mountpoint: str, fs: RealFs, mounts_file: str = "/proc/self/mounts") -> None:
        self.mountpoint = mountpoint
        self.dir = os.path.join(mountpoint, "storalloc")
        self.fs = fs
        self.mounts_file = mounts_file

    def path_for(self, export_id: str) -> str:
        """`<mountpoint>/storalloc/<export_id>.img`."""
        return os.path.join(self.dir, f"{export_id}.img")

    def create(self, export_id: str, size_gb: float) -> str:
        """Create the sparse backing file (and the `storalloc/` directory if needed)."""
        validate_export_id(export_id)
        path = self.path_for(export_id)
        if not self.fs.dry_run and not self.fs.is_dir(self.mountpoint):
            raise BackendError(f"file carving: mountpoint {self.mountpoint} is not a directory")
        try:
            self.fs.makedirs(self.dir)
            self.fs.create_sparse(path, size_bytes(size_gb))
        except OSError as exc:
            raise BackendError(f"cannot create backing file {path}: {exc}") from exc
        return path

    def remove(self, export_id: str) -> bool:
        """Delete the backing file if it exists."""
        path = self.path_for(export_id)
        if not self.fs.exists(path):
            return False
        try:
            self.fs.unlink(path)
        except OSError as exc:
            raise BackendError(f"cannot remove backing file {path}: {exc}") from exc
        return True

    def list_ids(self) -> list[str]:
        """Export ids with an `.img` file in the storalloc directory."""
        stems = (n[: -len(".img")] for n in self.fs.listdir(self.dir) if n.endswith(".img"))
        return sorted(s for s in stems if is_export_id(s))

    def needs_buffered_io(self) -> bool:
        """tmpfs/ramfs have no O_DIRECT (Linux 6.1), so nvmet needs buffered_io there."""
        return fs_type(self.mountpoint, self.mounts_file) in NO_DIRECT_IO_FS


def carver_for(
    disk: Any, *, runner: Runner, fs: RealFs, dev_root: str = "/dev", lvm_devices: bool = False
) -> Carver:
    """The carver for a DiskConfig-like object (attributes path, carving, vg, mountpoint).

    With `lvm_devices`, LVM commands see only the disk's `path` (its PV).
    """
    path = getattr(disk, "path", None) or "?"
    carving = getattr(disk, "carving", None) or "lvm"
    if carving == "lvm":
        vg = getattr(disk, "vg", None) or f"storalloc-{os.path.basename(path)}"
        devices = (path,) if lvm_devices else ()
        return LvmCarver(vg, runner, dev_root=dev_root, devices=devices)
    if carving == "file":
        mountpoint = getattr(disk, "mountpoint", None)
        if not mountpoint:
            raise BackendError(f"disk {path}: carving 'file' needs a 'mountpoint'")
        return FileCarver(mountpoint, fs)
    raise BackendError(f"disk {path}: carving: expected 'lvm' or 'file', got {carving!r}")
