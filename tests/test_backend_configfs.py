"""The configfs target driver against a directory tree that mimics the kernel's nvmet configfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.configfs import ConfigfsDriver
from storalloc.server.backends.fsops import DryRunFs
from storalloc.server.backends.target import Namespace, TargetPort
from tests.fakes.configfs import FakeConfigfs
from tests.fakes.helpers import HOSTNQN

NQN = "nqn.2026-11.io.storalloc:node1:j1-p0-abcdef"
NQN2 = "nqn.2026-11.io.storalloc:node1:j2-p0-abcdef"
PORT = TargetPort("tcp", "ipv4", "127.0.0.1", "4420")


@pytest.fixture
def cfs(tmp_path: Path) -> FakeConfigfs:
    return FakeConfigfs(tmp_path / "nvmet")


@pytest.fixture
def backing(tmp_path: Path) -> str:
    path = tmp_path / "backing.img"
    path.write_bytes(b"\0" * 4096)
    return str(path)


def short(cfs: FakeConfigfs) -> list[str]:
    """Recorded changes as `op last-path-component[=value]`."""
    out = []
    for op, p in cfs.configfs_ops():
        head, eq, value = p.partition("=")
        out.append(f"{op} {head.split('/')[-1]}{eq}{value}")
    return out


def driver(cfs: FakeConfigfs) -> ConfigfsDriver:
    return ConfigfsDriver(PORT, root=str(cfs.root), fs=cfs)


def test_export_writes_the_documented_tree(cfs: FakeConfigfs, backing: str) -> None:
    driver(cfs).export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    sub = cfs.root / "subsystems" / NQN
    assert (sub / "attr_allow_any_host").read_text() == "0\n"
    assert (sub / "namespaces/1/device_path").read_text() == backing + "\n"
    assert (sub / "namespaces/1/enable").read_text() == "1\n"
    assert (sub / "namespaces/1/buffered_io").read_text() == "0\n"
    assert Path((sub / "allowed_hosts" / HOSTNQN).readlink()) == cfs.root / "hosts" / HOSTNQN
    port = cfs.root / "ports/1"
    addr = {
        k: (port / f"addr_{k}").read_text().strip()
        for k in ("trtype", "adrfam", "traddr", "trsvcid")
    }
    assert addr == {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "4420"}
    assert Path((port / "subsystems" / NQN).readlink()) == sub
    assert cfs.tree() == sorted(
        [
            f"hosts/{HOSTNQN}",
            "ports/1",
            f"ports/1/subsystems/{NQN} ->",
            f"subsystems/{NQN}",
            f"subsystems/{NQN}/allowed_hosts/{HOSTNQN} ->",
            f"subsystems/{NQN}/namespaces/1",
        ]
    )


def test_export_order_sets_path_before_enable_and_port_last(
    cfs: FakeConfigfs, backing: str
) -> None:
    driver(cfs).export(NQN, Namespace(backing, buffered_io=True), HOSTNQN, allow_any_host=False)
    ops = short(cfs)
    assert ops == [
        f"mkdir {NQN}",
        "write attr_allow_any_host=0",
        f"mkdir {HOSTNQN}",
        f"symlink {HOSTNQN}",
        "mkdir 1",
        f"write device_path={backing}",
        "write buffered_io=1",
        "write enable=1",
        "mkdir 1",
        "write addr_trtype=tcp",
        "write addr_adrfam=ipv4",
        "write addr_traddr=127.0.0.1",
        "write addr_trsvcid=4420",
        f"symlink {NQN}",
    ]


def test_allow_any_host_skips_the_host_acl(cfs: FakeConfigfs, backing: str) -> None:
    driver(cfs).export(NQN, Namespace(backing), None, allow_any_host=True)
    sub = cfs.root / "subsystems" / NQN
    assert (sub / "attr_allow_any_host").read_text() == "1\n"
    assert list((sub / "allowed_hosts").iterdir()) == []
    assert list((cfs.root / "hosts").iterdir()) == []


def test_no_hostnqn_without_allow_any_host_is_refused(cfs: FakeConfigfs, backing: str) -> None:
    with pytest.raises(BackendError, match="no host NQN given and allow_any_host is off"):
        driver(cfs).export(NQN, Namespace(backing), None, allow_any_host=False)
    assert cfs.tree() == []


def test_second_export_reuses_port_and_host(cfs: FakeConfigfs, backing: str) -> None:
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    d.export(NQN2, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert sorted(p.name for p in (cfs.root / "ports").iterdir()) == ["1"]
    assert sorted(p.name for p in (cfs.root / "ports/1/subsystems").iterdir()) == sorted(
        [NQN, NQN2]
    )
    assert d.list_nqns() == sorted([NQN, NQN2])


def test_other_address_gets_its_own_port(cfs: FakeConfigfs, backing: str) -> None:
    driver(cfs).export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    other = ConfigfsDriver(
        TargetPort("tcp", "ipv4", "127.0.0.2", "4420"), root=str(cfs.root), fs=cfs
    )
    other.export(NQN2, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert (cfs.root / "ports/2/addr_traddr").read_text() == "127.0.0.2\n"
    assert (cfs.root / "ports/2/subsystems" / NQN2).is_symlink()


def test_teardown_order_and_cleanup(cfs: FakeConfigfs, backing: str) -> None:
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    cfs.ops.clear()
    assert d.unexport(NQN) == [backing]
    ops = short(cfs)
    assert ops == [
        f"unlink {NQN}",
        "rmdir 1",
        "write enable=0",
        "rmdir 1",
        f"unlink {HOSTNQN}",
        f"rmdir {NQN}",
        f"rmdir {HOSTNQN}",
    ]
    assert cfs.configfs_ops()[1] == ("rmdir", "ports/1")
    assert cfs.tree() == []


def test_teardown_keeps_shared_port_and_host(cfs: FakeConfigfs, backing: str) -> None:
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    d.export(NQN2, Namespace(backing), HOSTNQN, allow_any_host=False)
    d.unexport(NQN)
    assert (cfs.root / "ports/1/subsystems" / NQN2).is_symlink()
    assert (cfs.root / "hosts" / HOSTNQN).is_dir()
    assert d.list_nqns() == [NQN2]


def test_teardown_keeps_an_admins_port_with_referrals(cfs: FakeConfigfs, backing: str) -> None:
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    (cfs.root / "ports/1/referrals/ref1").mkdir()  # made by an admin, not by us
    d.unexport(NQN)
    assert (cfs.root / "ports/1").is_dir()
    assert not (cfs.root / "subsystems" / NQN).exists()


def test_unexport_is_idempotent(cfs: FakeConfigfs, backing: str) -> None:
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    d.unexport(NQN)
    cfs.ops.clear()
    assert d.unexport(NQN) == []
    assert cfs.configfs_ops() == []


def test_duplicate_export_is_refused_without_damage(cfs: FakeConfigfs, backing: str) -> None:
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    before = cfs.tree()
    with pytest.raises(BackendError, match="already exists"):
        d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert cfs.tree() == before


EXPORT_STEPS = 13


def test_export_takes_the_expected_number_of_steps(cfs: FakeConfigfs, backing: str) -> None:
    driver(cfs).export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert cfs.changes == EXPORT_STEPS


@pytest.mark.parametrize("step", range(1, EXPORT_STEPS + 1))
def test_failure_at_any_step_rolls_back_completely(tmp_path: Path, backing: str, step: int) -> None:
    cfs = FakeConfigfs(tmp_path / "nvmet", fail_at=step)
    with pytest.raises(BackendError, match="injected failure"):
        driver(cfs).export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert cfs.tree() == []


def test_rollback_keeps_what_existed_before(tmp_path: Path, backing: str) -> None:
    cfs = FakeConfigfs(tmp_path / "nvmet")
    d = driver(cfs)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    before = cfs.tree()
    cfs.fail_at = cfs.changes + 6  # fails at "write enable=1" of the second export
    with pytest.raises(BackendError, match=r"enable namespace"):
        d.export(NQN2, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert cfs.tree() == before


def test_missing_backing_device_fails_with_the_path(cfs: FakeConfigfs, tmp_path: Path) -> None:
    gone = str(tmp_path / "nope.img")
    with pytest.raises(BackendError, match=r"cannot enable namespace .*No such file"):
        driver(cfs).export(NQN, Namespace(gone), HOSTNQN, allow_any_host=False)
    assert cfs.tree() == []


def test_missing_modules_error_names_modprobe(tmp_path: Path) -> None:
    d = ConfigfsDriver(PORT, root=str(tmp_path / "absent"))
    with pytest.raises(BackendError, match=r"modprobe nvmet nvmet-tcp"):
        d.check()
    with pytest.raises(BackendError, match=r"modprobe nvmet nvmet-tcp"):
        d.export(NQN, Namespace("/x"), HOSTNQN, allow_any_host=False)


def test_dry_run_prints_configfs_writes_and_changes_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    root = tmp_path / "absent-nvmet"
    d = ConfigfsDriver(PORT, root=str(root), fs=DryRunFs(said.append))
    d.export(NQN, Namespace("/dev/vg/j1-p0-abcdef"), HOSTNQN, allow_any_host=False)
    sub = f"{root}/subsystems/{NQN}"
    assert f"dry-run: mkdir {sub}" in said
    assert f"dry-run: echo -n /dev/vg/j1-p0-abcdef > {sub}/namespaces/1/device_path" in said
    assert f"dry-run: echo -n 1 > {sub}/namespaces/1/enable" in said
    assert f"dry-run: ln -s {sub} {root}/ports/1/subsystems/{NQN}" in said
    assert not root.exists()
