"""Carving backing stores: LVM through the fake lvcreate/lvremove/lvs, and sparse files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.carving import (
    MIB,
    FileCarver,
    LvmCarver,
    carver_for,
    fs_type,
    size_bytes,
)
from storalloc.server.backends.fsops import DryRunFs, RealFs
from storalloc.server.runner import DryRunRunner, Runner
from tests.fakes.helpers import Disk, FakeEnv, install_fakes

EID = "j4-p1-abcdef"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEnv:
    return install_fakes(monkeypatch, tmp_path, vgs="storalloc-nvme0n1=100,small=0.01")


def lvm(env: FakeEnv, vg: str = "storalloc-nvme0n1") -> LvmCarver:
    return LvmCarver(vg, Runner(timeout=20), dev_root=str(env.dev))


def test_size_is_decimal_gb_rounded_up_to_mib() -> None:
    assert size_bytes(1) == 954 * MIB  # 1e9 bytes = 953.67 MiB
    assert size_bytes(1) >= 1e9
    assert size_bytes(0.000001) == MIB
    with pytest.raises(BackendError, match="must be > 0"):
        size_bytes(0)


def test_lvcreate_argv_and_device_path(env: FakeEnv) -> None:
    path = lvm(env).create(EID, 10)
    assert env.calls() == [["lvcreate", "-y", "-L", "9537m", "-n", EID, "storalloc-nvme0n1"]]
    assert path == f"{env.dev}/storalloc-nvme0n1/{EID}"
    assert os.path.exists(path)


def test_lvremove_argv_and_idempotence(env: FakeEnv) -> None:
    c = lvm(env)
    c.create(EID, 1)
    assert c.remove(EID) is True
    assert c.remove(EID) is False
    assert env.calls("lvremove") == [["lvremove", "-y", f"storalloc-nvme0n1/{EID}"]] * 2
    assert not os.path.exists(c.path_for(EID))


def test_lvcreate_failure_names_vg_size_and_lvm_message(env: FakeEnv) -> None:
    with pytest.raises(BackendError) as info:
        lvm(env, "small").create(EID, 5)
    msg = str(info.value)
    assert "cannot carve 5 GB for j4-p1-abcdef in VG small" in msg
    assert "exited with code 5" in msg
    assert "insufficient free space" in msg


def test_missing_vg_is_reported(env: FakeEnv) -> None:
    with pytest.raises(BackendError, match=r'Volume group "nope" not found'):
        lvm(env, "nope").create(EID, 1)
    with pytest.raises(BackendError, match=r"cannot list LVs of VG nope"):
        lvm(env, "nope").list_ids()


def test_lvremove_failure_other_than_absent_is_an_error(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = lvm(env)
    c.create(EID, 1)
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "lvremove")
    with pytest.raises(
        BackendError, match=r"cannot free LV storalloc-nvme0n1/j4-p1-abcdef.*in use"
    ):
        c.remove(EID)


def test_lvs_lists_only_our_volumes(env: FakeEnv) -> None:
    c = lvm(env)
    c.create(EID, 1)
    c.create("j5-p0-123456", 1)
    c.create("root", 1)  # somebody else's LV in the same VG
    assert c.list_ids() == [EID, "j5-p0-123456"]
    assert env.calls("lvs") == [["lvs", "--noheadings", "-o", "lv_name", "storalloc-nvme0n1"]]


def test_lvcreate_timeout(env: FakeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_HANG", "lvcreate")
    c = LvmCarver("storalloc-nvme0n1", Runner(timeout=0.5))
    with pytest.raises(BackendError, match=r"timed out after 0\.5s"):
        c.create(EID, 1)


def test_file_carving_makes_a_sparse_file_and_removes_it(tmp_path: Path) -> None:
    c = FileCarver(str(tmp_path), RealFs())
    path = c.create(EID, 2)
    assert path == f"{tmp_path}/storalloc/{EID}.img"
    st = os.stat(path)
    assert st.st_size == size_bytes(2)
    assert st.st_blocks * 512 < MIB  # sparse: nothing allocated yet
    assert c.list_ids() == [EID]
    assert c.remove(EID) is True
    assert c.remove(EID) is False
    assert c.list_ids() == []


def test_file_carving_refuses_an_existing_file(tmp_path: Path) -> None:
    c = FileCarver(str(tmp_path), RealFs())
    c.create(EID, 1)
    with pytest.raises(BackendError, match=r"cannot create backing file .*File exists"):
        c.create(EID, 1)


def test_file_carving_needs_the_mountpoint(tmp_path: Path) -> None:
    c = FileCarver(str(tmp_path / "not-mounted"), RealFs())
    with pytest.raises(BackendError, match="not-mounted is not a directory"):
        c.create(EID, 1)


def test_list_ids_ignores_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "storalloc").mkdir()
    (tmp_path / "storalloc" / "notes.img").write_text("x")
    (tmp_path / "storalloc" / f"{EID}.tmp").write_text("x")
    assert FileCarver(str(tmp_path), RealFs()).list_ids() == []


def test_fs_type_uses_the_longest_mount_prefix(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/root / ext4 rw 0 0\ntmpfs /scratch tmpfs rw 0 0\n"
        "/dev/sdb1 /scratch/disk xfs rw 0 0\nnone /my\\040dir tmpfs rw 0 0\n"
    )
    assert fs_type("/scratch/a/b", str(mounts)) == "tmpfs"
    assert fs_type("/scratch/disk/x", str(mounts)) == "xfs"
    assert fs_type("/scratchy", str(mounts)) == "ext4"
    assert fs_type("/my dir/f", str(mounts)) == "tmpfs"


def test_buffered_io_needed_only_on_tmpfs(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/root / ext4 rw 0 0\ntmpfs {tmp_path}/t tmpfs rw 0 0\n")
    assert FileCarver(f"{tmp_path}/t", RealFs(), str(mounts)).needs_buffered_io()
    assert not FileCarver(f"{tmp_path}/e", RealFs(), str(mounts)).needs_buffered_io()


def test_carver_for_defaults_to_lvm_with_derived_vg() -> None:
    c = carver_for(Disk(path="/dev/nvme3n1", carving="", vg=""), runner=Runner(), fs=RealFs())
    assert isinstance(c, LvmCarver)
    assert c.vg == "storalloc-nvme3n1"


@pytest.mark.parametrize(
    ("disk", "message"),
    [
        (Disk(carving="file"), "disk /dev/nvme0n1: carving 'file' needs a 'mountpoint'"),
        (Disk(carving="zfs"), "disk /dev/nvme0n1: carving: expected 'lvm' or 'file', got 'zfs'"),
    ],
)
def test_carver_for_reports_bad_disks(disk: Disk, message: str) -> None:
    with pytest.raises(BackendError) as info:
        carver_for(disk, runner=Runner(), fs=RealFs())
    assert str(info.value) == message


def test_dry_run_carving_prints_commands(tmp_path: Path) -> None:
    said: list[str] = []
    lv = LvmCarver("vg0", DryRunRunner(said.append))
    lv.create(EID, 1)
    lv.remove(EID)
    f = FileCarver("/nonexistent/mnt", DryRunFs(said.append))
    f.create(EID, 1)
    assert said == [
        f"dry-run: lvcreate -y -L 954m -n {EID} vg0",
        f"dry-run: lvremove -y vg0/{EID}",
        "dry-run: mkdir -p /nonexistent/mnt/storalloc",
        f"dry-run: truncate -s {954 * MIB} /nonexistent/mnt/storalloc/{EID}.img",
    ]
