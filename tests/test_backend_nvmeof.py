"""The NVMe-oF backend end to end with fakes: carve, export, attach, list, delete, roll back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from storalloc.client.attach import AttachError, connect
from storalloc.server.backends.base import BackendError, ExportSpec, make_nqn
from storalloc.server.backends.configfs import ConfigfsDriver
from storalloc.server.backends.nvmeof import NvmeofBackend, select_driver
from storalloc.server.backends.nvmetcli import NvmetcliDriver
from storalloc.server.backends.target import TargetPort
from storalloc.server.runner import Runner, RunResult
from tests.fakes.configfs import FakeConfigfs
from tests.fakes.helpers import HOSTNQN, PREFIX, Disk, FakeEnv, Node, Server, install_fakes

VG = "storalloc-nvme0n1"
EID = "j3-p0-abcdef"


class RecordingRunner(Runner):
    """Runner that logs commands into the fake configfs' op list, to check global order."""

    def __init__(self, ops: list[tuple[str, str]]) -> None:
        super().__init__(timeout=20)
        self.ops = ops

    def run(self, argv: Sequence[str], **kw: object) -> RunResult:
        self.ops.append(("run", " ".join(argv)))
        return super().run(argv, **kw)  # type: ignore[arg-type]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEnv:
    e = install_fakes(monkeypatch, tmp_path, vgs=f"{VG}=100")
    monkeypatch.setenv("STORALLOC_FAKE_CONFIGFS", str(tmp_path / "nvmet"))
    return e


@pytest.fixture
def cfs(tmp_path: Path) -> FakeConfigfs:
    return FakeConfigfs(tmp_path / "nvmet")


def backend(
    env: FakeEnv, cfs: FakeConfigfs, node: Node | None = None, **kw: object
) -> NvmeofBackend:
    node = node or Node()
    return NvmeofBackend(
        node,
        driver=ConfigfsDriver(TargetPort(traddr=node.ipv4), root=str(cfs.root), fs=cfs),
        runner=RecordingRunner(cfs.ops),
        fs=cfs,
        dev_root=str(env.dev),
        **kw,  # type: ignore[arg-type]
    )


def spec(eid: str = EID, disk: Disk | None = None, hostnqn: str | None = HOSTNQN) -> ExportSpec:
    return ExportSpec(eid, make_nqn(PREFIX, "node1", eid), disk or Disk(), 0, 2.0, hostnqn)


def attach(env: FakeEnv, info: dict, hostnqn: str = HOSTNQN) -> str:
    return connect(
        info,
        hostnqn,
        runner=Runner(timeout=20),
        sysfs_root=str(env.sysfs),
        dev_root=str(env.dev),
        timeout=5,
    )


def test_create_returns_connection_info_and_exports_the_lv(env: FakeEnv, cfs: FakeConfigfs) -> None:
    info = backend(env, cfs).create(spec())
    nqn = f"{PREFIX}:node1:{EID}"
    assert info == {
        "type": "nvme",
        "nqn": nqn,
        "trtype": "tcp",
        "traddr": "127.0.0.1",
        "trsvcid": "4420",
    }
    assert env.calls("lvcreate") == [["lvcreate", "-y", "-L", "1908m", "-n", EID, VG]]
    dev_path = cfs.root / "subsystems" / nqn / "namespaces/1/device_path"
    assert dev_path.read_text().strip() == f"{env.dev}/{VG}/{EID}"


def test_the_export_attaches_for_its_host_only(env: FakeEnv, cfs: FakeConfigfs) -> None:
    info = backend(env, cfs).create(spec())
    with pytest.raises(AttachError, match="Failed to write to /dev/nvme-fabrics"):
        attach(env, info, hostnqn="nqn.2014-08.org.nvmexpress:uuid:intruder")
    assert attach(env, info) == f"{env.dev}/nvme0n1"


def test_delete_tears_down_target_before_freeing_the_lv(env: FakeEnv, cfs: FakeConfigfs) -> None:
    b = backend(env, cfs)
    b.create(spec())
    cfs.ops.clear()
    b.delete(EID)
    kinds = [op if op != "run" else p.split()[0] for op, p in cfs.ops]
    assert kinds == ["unlink", "rmdir", "write", "rmdir", "unlink", "rmdir", "rmdir", "lvremove"]
    assert cfs.tree() == []
    assert env.calls("lvremove") == [["lvremove", "-y", f"{VG}/{EID}"]]


def test_delete_is_idempotent(env: FakeEnv, cfs: FakeConfigfs) -> None:
    b = backend(env, cfs)
    b.create(spec())
    b.delete(EID)
    b.delete(EID)
    b.delete("j9-p9-999999")
    assert b.list_exports() == []


@pytest.mark.parametrize("step", [1, 4, 8, 13])
def test_target_failure_frees_the_carved_lv(env: FakeEnv, tmp_path: Path, step: int) -> None:
    cfs = FakeConfigfs(tmp_path / "nvmet", fail_at=step)
    b = backend(env, cfs)
    with pytest.raises(BackendError, match="injected failure"):
        b.create(spec())
    assert env.calls("lvremove") == [["lvremove", "-y", f"{VG}/{EID}"]]
    assert cfs.tree() == []
    assert b.list_exports() == []


def test_carving_failure_touches_no_target(
    env: FakeEnv, cfs: FakeConfigfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "lvcreate")
    with pytest.raises(BackendError, match="insufficient free space"):
        backend(env, cfs).create(spec())
    assert [op for op, _ in cfs.ops] == ["run"]


def test_rollback_failure_is_reported_with_both_errors(
    env: FakeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfs = FakeConfigfs(tmp_path / "nvmet", fail_at=5)
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "lvremove")
    with pytest.raises(BackendError, match=r"injected failure.*freeing .* failed too.*in use"):
        backend(env, cfs).create(spec())


def test_list_exports_survives_a_restart_and_finds_orphans(env: FakeEnv, cfs: FakeConfigfs) -> None:
    backend(env, cfs).create(spec())
    Runner().run(["lvcreate", "-y", "-L", "4m", "-n", "j8-p0-0a0a0a", VG])  # orphan LV
    Runner().run(["lvcreate", "-y", "-L", "4m", "-n", "home", VG])  # not ours
    restarted = backend(env, cfs)
    assert restarted.list_exports() == [EID, "j8-p0-0a0a0a"]
    restarted.delete("j8-p0-0a0a0a")
    assert restarted.list_exports() == [EID]
    assert env.calls("lvremove") == [["lvremove", "-y", f"{VG}/j8-p0-0a0a0a"]]


def test_subsystems_of_other_nodes_are_not_listed(env: FakeEnv, cfs: FakeConfigfs) -> None:
    node2 = Node(hostname="node2", disks=(Disk(carving="file", mountpoint=str(env.state)),))
    b2 = backend(env, cfs, node=node2)
    b2.create(
        ExportSpec(
            "j5-p0-bbbbbb",
            make_nqn(PREFIX, "node2", "j5-p0-bbbbbb"),
            node2.disks[0],
            0,
            1.0,
            HOSTNQN,
        )
    )
    assert backend(env, cfs).list_exports() == []
    assert b2.list_exports() == ["j5-p0-bbbbbb"]


def test_file_carving_backend_round_trip(env: FakeEnv, cfs: FakeConfigfs, tmp_path: Path) -> None:
    disk = Disk(carving="file", mountpoint=str(tmp_path))
    b = backend(env, cfs, node=Node(disks=(disk,)), buffered_io=True)
    info = b.create(spec(disk=disk))
    img = tmp_path / "storalloc" / f"{EID}.img"
    ns = cfs.root / "subsystems" / str(info["nqn"]) / "namespaces/1"
    assert (ns / "device_path").read_text().strip() == str(img)
    assert (ns / "buffered_io").read_text().strip() == "1"
    assert attach(env, info).endswith("nvme0n1")
    b.delete(EID)
    assert not img.exists()
    assert env.calls("lvremove") == []


def test_missing_hostnqn_is_refused_before_carving(env: FakeEnv, cfs: FakeConfigfs) -> None:
    with pytest.raises(BackendError, match="no host NQN and allow_any_host is off; pass --hostnqn"):
        backend(env, cfs).create(spec(hostnqn=None))
    assert env.calls() == []


def test_allow_any_host_export_accepts_any_host(env: FakeEnv, cfs: FakeConfigfs) -> None:
    info = backend(env, cfs, allow_any_host=True).create(spec(hostnqn=None))
    assert attach(env, info, hostnqn="nqn.2014-08.org.nvmexpress:uuid:anyone")


@pytest.mark.parametrize("hostnqn", ["nqn.x/../../../etc", "not-an-nqn"])
def test_hostile_hostnqn_is_refused(env: FakeEnv, cfs: FakeConfigfs, hostnqn: str) -> None:
    with pytest.raises(BackendError, match="invalid host NQN"):
        backend(env, cfs).create(spec(hostnqn=hostnqn))
    assert env.calls() == [] and cfs.ops == []


def test_foreign_nqn_is_refused(env: FakeEnv, cfs: FakeConfigfs) -> None:
    bad = ExportSpec(EID, "nqn.2014-08.org.example:x", Disk(), 0, 1.0, HOSTNQN)
    with pytest.raises(BackendError, match="was not made by make_nqn"):
        backend(env, cfs).create(bad)


def test_nvmetcli_driver_end_to_end(env: FakeEnv, tmp_path: Path) -> None:
    FakeConfigfs(tmp_path / "nvmet")
    b = NvmeofBackend(
        Node(),
        driver=NvmetcliDriver(TargetPort(), runner=Runner(timeout=20), root=str(tmp_path / "nvmet"),
                              fs=FakeConfigfs(tmp_path / "nvmet"),
                              save_file=str(tmp_path / "saved.json")),
        runner=Runner(timeout=20), fs=FakeConfigfs(tmp_path / "nvmet"), dev_root=str(env.dev),
    )  # fmt: skip
    info = b.create(spec())
    with pytest.raises(AttachError):
        attach(env, info, hostnqn="nqn.2014-08.org.nvmexpress:uuid:intruder")
    assert attach(env, info).endswith("nvme0n1")
    assert b.list_exports() == [EID]
    b.delete(EID)
    assert [a[1] for a in env.calls("nvmetcli")] == ["save", "save"]
    saved = (tmp_path / "saved.json").read_text()
    assert EID not in saved and '"subsystems": []' in saved
    assert env.calls("lvremove")


def test_auto_is_configfs_even_with_nvmetcli_installed(env: FakeEnv, tmp_path: Path) -> None:
    port = TargetPort()
    assert Runner().which("nvmetcli")  # the fake is on PATH
    chosen = select_driver("auto", port, runner=Runner(), fs=FakeConfigfs(tmp_path / "c"))
    assert chosen.name == "configfs"


def test_dry_run_prints_every_step_and_executes_nothing(env: FakeEnv, tmp_path: Path) -> None:
    said: list[str] = []
    b = NvmeofBackend.from_config(
        Server(driver="configfs"),
        Node(),
        dry_run=True,
        emit=said.append,
        configfs_root=str(tmp_path / "nvmet"),
    )
    b.create(spec())
    assert said[0] == f"dry-run: lvcreate -y -L 1908m -n {EID} {VG}"
    assert any(s.endswith("/namespaces/1/device_path") and f"/dev/{VG}/{EID}" in s for s in said)
    assert env.calls() == []
    assert not (tmp_path / "nvmet").exists()


def test_list_exports_reports_only_parseable_ids(env: FakeEnv, cfs: FakeConfigfs) -> None:
    b = backend(env, cfs)
    b.create(
        ExportSpec("custom-id", make_nqn(PREFIX, "node1", "custom-id"), Disk(), 0, 1.0, HOSTNQN)
    )
    b.create(spec())
    assert b.list_exports() == [EID]


def test_server_name_does_not_change_the_nqns(env: FakeEnv, tmp_path: Path) -> None:
    b = NvmeofBackend.from_config(
        Server(name="registered-as"),
        Node(),
        dry_run=True,
        emit=lambda s: None,
        configfs_root=str(tmp_path),
    )
    assert b.nqn_for(EID) == f"{PREFIX}:node1:{EID}"
    b.create(spec())  # the NQN made from the node's hostname is accepted
