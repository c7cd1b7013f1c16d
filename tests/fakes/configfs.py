"""A directory tree that behaves like the kernel's nvmet configfs, for the configfs driver.

Like the kernel it creates attribute files and default groups on mkdir, removes them on rmdir,
refuses rmdir of a non-empty object, refuses attribute writes the kernel refuses (device_path
of an enabled namespace, port address of a port in use, allow_any_host with allowed hosts),
and only accepts the symlinks nvmet accepts. Every change is recorded in `ops`, and
`fail_at=N` makes the N-th change inside the tree fail with EIO.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from storalloc.server.backends.fsops import RealFs

SUBSYS_ATTRS = {
    "attr_allow_any_host": "0",
    "attr_serial": "5c4a3b2a1f0e9d8c",
    "attr_model": "Linux",
    "attr_version": "1.3",
    "attr_cntlid_min": "1",
    "attr_cntlid_max": "65519",
    "attr_pi_enable": "0",
}
NS_ATTRS = {
    "device_path": "",
    "device_uuid": "8f1c1e0a-0000-4000-8000-000000000001",
    "device_nguid": "00000000-0000-0000-0000-000000000000",
    "enable": "0",
    "buffered_io": "0",
    "ana_grpid": "1",
}
PORT_ATTRS = {
    "addr_trtype": "",
    "addr_adrfam": "",
    "addr_traddr": "",
    "addr_trsvcid": "",
    "addr_treq": "not specified",
    "addr_tsas": "",
    "param_inline_data_size": "-1",
    "param_pi_enable": "0",
}
HOST_ATTRS = {"dhchap_key": "", "dhchap_ctrl_key": "", "dhchap_hash": "hmac(sha256)"}


def _err(code: int, path: Path | str) -> OSError:
    return OSError(code, os.strerror(code), str(path))


class FakeConfigfs(RealFs):
    """RealFs whose changes under `root` follow nvmet's configfs rules."""

    def __init__(self, root: Path, fail_at: int | None = None, *, auth: bool = True) -> None:
        self.root = Path(root)
        # auth=False: a kernel without CONFIG_NVME_TARGET_AUTH (Debian 12's 6.1), whose host
        # entries have no dhchap_* attributes.
        self.host_attrs = HOST_ATTRS if auth else {}
        for group in ("subsystems", "ports", "hosts"):
            (self.root / group).mkdir(parents=True, exist_ok=True)
        self.fail_at = fail_at
        self.changes = 0
        self.ops: list[tuple[str, str]] = []
        # Entries the kernel makes by itself (attributes, default groups): not user-made.
        self._auto: set[Path] = {self.root / g for g in ("subsystems", "ports", "hosts")}

    # -- bookkeeping ---------------------------------------------------------------------------
    def _rel(self, path: str) -> tuple[str, ...] | None:
        p = Path(path)
        try:
            return p.relative_to(self.root).parts
        except ValueError:
            return None

    def _change(self, op: str, path: str) -> tuple[str, ...] | None:
        rel = self._rel(path)
        if rel is None:
            self.ops.append((op, path))
            return None
        self.ops.append((op, "/".join(rel)))
        self.changes += 1
        if self.fail_at is not None and self.changes == self.fail_at:
            raise OSError(errno.EIO, "injected failure", path)
        return rel

    def _populate(self, d: Path, attrs: dict[str, str], groups: tuple[str, ...]) -> None:
        d.mkdir()
        for name, value in attrs.items():
            (d / name).write_text(value + "\n")
            self._auto.add(d / name)
        for g in groups:
            (d / g).mkdir()
            self._auto.add(d / g)

    @staticmethod
    def _kind(rel: tuple[str, ...]) -> str | None:
        if len(rel) == 2 and rel[0] in ("subsystems", "hosts", "ports"):
            return rel[0] if rel[0] != "ports" or rel[1].isdigit() else None
        if len(rel) == 4 and rel[0] == "subsystems" and rel[2] == "namespaces":
            return "namespace" if rel[3].isdigit() and int(rel[3]) > 0 else None
        return None

    def _linked_to(self, target: Path) -> bool:
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = Path(dirpath, name)
                if p.is_symlink() and Path(os.readlink(p)) == target:
                    return True
        return False

    def _user_children(self, d: Path) -> bool:
        for dirpath, dirnames, filenames in os.walk(d):
            for name in dirnames + filenames:
                if Path(dirpath, name) not in self._auto:
                    return True
        return False

    # -- changes -------------------------------------------------------------------------------
    def mkdir(self, path: str) -> None:
        """Create an object and what the kernel creates with it."""
        rel = self._change("mkdir", path)
        if rel is None:
            return super().mkdir(path)
        d = Path(path)
        if d.exists():
            raise _err(errno.EEXIST, d)
        kind = self._kind(rel)
        if kind is None or not d.parent.is_dir():
            raise _err(errno.EPERM, d)
        if kind == "subsystems":
            self._populate(d, SUBSYS_ATTRS, ("namespaces", "allowed_hosts"))
        elif kind == "namespace":
            self._populate(d, NS_ATTRS, ())
        elif kind == "ports":
            self._populate(d, PORT_ATTRS, ("subsystems", "referrals", "ana_groups"))
        else:
            self._populate(d, self.host_attrs, ())

    def rmdir(self, path: str) -> None:
        """Remove an object with its attributes, if nothing user-made is inside or links it."""
        rel = self._change("rmdir", path)
        if rel is None:
            return super().rmdir(path)
        d = Path(path)
        if not d.is_dir():
            raise _err(errno.ENOENT, d)
        if self._kind(rel) is None:
            raise _err(errno.EPERM, d)
        if self._user_children(d):
            raise _err(errno.ENOTEMPTY, d)
        if self._linked_to(d):
            raise _err(errno.EBUSY, d)
        for p in list(self._auto):
            if d in p.parents:
                self._auto.discard(p)
        shutil.rmtree(d)

    def write(self, path: str, value: str) -> None:
        """Write an attribute, refusing what nvmet refuses."""
        rel = self._change("write", path)
        if rel is None:
            return super().write(path, value)
        p = Path(path)
        if p not in self._auto or p.is_dir():
            raise _err(errno.ENOENT if not p.exists() else errno.EPERM, p)
        self._check_write(p, value.strip())
        p.write_text(value.strip() + "\n")
        self.ops[-1] = ("write", f"{self.ops[-1][1]}={value}")

    def _check_write(self, p: Path, value: str) -> None:
        d = p.parent
        if p.name in ("device_path", "buffered_io") and self.read(str(d / "enable")) == "1":
            raise _err(errno.EBUSY, p)
        if p.name == "enable" and value == "1":
            dev = self.read(str(d / "device_path"))
            if not dev or not os.path.exists(dev):
                raise _err(errno.ENOENT, p)
        if p.name == "dhchap_key" and value and not value.startswith("DHHC-1:"):
            raise _err(errno.EINVAL, p)  # nvmet_auth_set_key's check
        if p.name.startswith("addr_") and self.listdir(str(d / "subsystems")):
            raise _err(errno.EACCES, p)
        if (
            p.name == "attr_allow_any_host"
            and value == "1"
            and self.listdir(str(d / "allowed_hosts"))
        ):
            raise _err(errno.EINVAL, p)

    def symlink(self, target: str, link: str) -> None:
        """Link a host into allowed_hosts/ or a subsystem into ports/N/subsystems/."""
        rel = self._change("symlink", link)
        if rel is None:
            return super().symlink(target, link)
        t, lk = Path(target), Path(link)
        if lk.exists() or lk.is_symlink():
            raise _err(errno.EEXIST, lk)
        if t.name != lk.name or not t.is_dir():
            raise _err(errno.EINVAL, lk)
        if len(rel) == 4 and rel[0] == "subsystems" and rel[2] == "allowed_hosts":
            ok = t.parent == self.root / "hosts"
            if self.read(str(lk.parent.parent / "attr_allow_any_host")) == "1":
                raise _err(errno.EINVAL, lk)
        elif len(rel) == 4 and rel[0] == "ports" and rel[2] == "subsystems":
            ok = t.parent == self.root / "subsystems"
            port = lk.parent.parent
            if not self.read(str(port / "addr_trtype")) or not self.read(str(port / "addr_traddr")):
                raise _err(errno.EINVAL, lk)
        else:
            ok = False
        if not ok:
            raise _err(errno.EPERM, lk)
        os.symlink(target, link)

    def unlink(self, path: str) -> None:
        """Remove a symlink (attribute files cannot be removed)."""
        rel = self._change("unlink", path)
        if rel is None:
            return super().unlink(path)
        if not Path(path).is_symlink():
            raise _err(errno.EPERM if Path(path).exists() else errno.ENOENT, path)
        os.unlink(path)

    # -- test helpers ----------------------------------------------------------------------------
    def configfs_ops(self) -> list[tuple[str, str]]:
        """The recorded changes inside the tree, in order."""
        return [(op, p) for op, p in self.ops if not p.startswith("/")]

    def tree(self) -> list[str]:
        """Every user-made entry under root (objects and links), relative, sorted."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = Path(dirpath, name)
                if p not in self._auto:
                    out.append(str(p.relative_to(self.root)) + (" ->" if p.is_symlink() else ""))
        return sorted(out)
