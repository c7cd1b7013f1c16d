"""Issue 13 on the server side, with the fakes: per-lease DH-HMAC-CHAP secrets, wipe of
released LVs off the server's loop, the export record and re-export after a reboot, and
clean-up of stale nvmet host entries."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from storalloc.client.attach import AttachError, connect
from storalloc.server.backends.base import BackendError, ExportSpec, make_nqn
from storalloc.server.backends.configfs import ConfigfsDriver
from storalloc.server.backends.dhchap import generate_secret, validate_secret
from storalloc.server.backends.nvmeof import NvmeofBackend
from storalloc.server.backends.record import ExportBook
from storalloc.server.backends.target import TargetPort
from storalloc.server.backends.wipe import Wiper
from storalloc.server.runner import Runner
from tests.fakes.configfs import FakeConfigfs
from tests.fakes.helpers import HOSTNQN, PREFIX, Disk, FakeEnv, Node, install_fakes

VG = "storalloc-nvme0n1"
EID, EID2 = "j3-p0-abcdef", "j4-p0-abcdef"
OTHER = "nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEnv:
    e = install_fakes(monkeypatch, tmp_path, vgs=f"{VG}=1")
    monkeypatch.setenv("STORALLOC_FAKE_CONFIGFS", str(tmp_path / "nvmet"))
    return e


@pytest.fixture
def cfs(tmp_path: Path) -> FakeConfigfs:
    return FakeConfigfs(tmp_path / "nvmet")


def backend(env: FakeEnv, cfs: FakeConfigfs, **kw: object) -> NvmeofBackend:
    runner = Runner(timeout=20)
    kw.setdefault("dhchap", "auto")
    kw.setdefault("book", ExportBook(str(env.state / "server-state")))
    return NvmeofBackend(
        Node(), driver=ConfigfsDriver(TargetPort(), root=str(cfs.root), fs=cfs), runner=runner,
        fs=cfs, dev_root=str(env.dev), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def spec(eid: str = EID, hostnqn: str = HOSTNQN, size_gb: float = 0.5) -> ExportSpec:
    return ExportSpec(eid, make_nqn(PREFIX, "node1", eid), Disk(), 0, size_gb, hostnqn)


def attach(env: FakeEnv, conn: dict, hostnqn: str = HOSTNQN) -> str:
    return connect(conn, hostnqn, runner=Runner(timeout=20), sysfs_root=str(env.sysfs),
                   dev_root=str(env.dev), ctrl_root=str(env.sysfs.parent / "ctrl-sysfs"),
                   timeout=5)  # fmt: skip


# -- DH-HMAC-CHAP ---------------------------------------------------------------------------


def test_secrets_have_the_nvme_text_form_and_a_checked_crc() -> None:
    secret = generate_secret()
    assert secret.startswith("DHHC-1:00:") and secret.endswith(":")
    assert validate_secret(secret) == secret
    assert generate_secret() != secret
    broken = secret[:12] + ("A" if secret[12] != "A" else "B") + secret[13:]
    with pytest.raises(ValueError, match="CRC-32"):
        validate_secret(broken)


def test_each_lease_gets_a_secret_that_only_its_holder_can_use(
    env: FakeEnv, cfs: FakeConfigfs
) -> None:
    conn = backend(env, cfs).create(spec())
    secret = str(conn["dhchap_secret"])
    assert validate_secret(secret)
    assert (cfs.root / "hosts" / HOSTNQN / "dhchap_key").read_text().strip() == secret
    without = {k: v for k, v in conn.items() if k != "dhchap_secret"}
    with pytest.raises(AttachError, match="nvme-fabrics: Required key not available"):
        attach(env, without)
    with pytest.raises(AttachError, match="nvme-fabrics: Key was rejected by service"):
        attach(env, {**conn, "dhchap_secret": generate_secret()})
    with pytest.raises(AttachError, match="nvme-fabrics: Input/output error"):
        attach(env, conn, hostnqn=OTHER)  # the secret does not open it to another host
    assert attach(env, conn) == f"{env.dev}/nvme0n1"


def test_the_secret_is_revoked_with_the_last_lease_of_its_host(
    env: FakeEnv, cfs: FakeConfigfs
) -> None:
    b = backend(env, cfs)
    first = b.create(spec())
    second = b.create(spec(EID2))
    # nvmet keys hosts, not host/subsystem pairs: a live key is kept, not rotated under a client.
    assert second["dhchap_secret"] == first["dhchap_secret"]
    b.delete(EID)
    assert (cfs.root / "hosts" / HOSTNQN / "dhchap_key").exists()
    b.delete(EID2)
    assert not (cfs.root / "hosts" / HOSTNQN).exists()
    third = b.create(spec("j5-p0-abcdef"))
    assert third["dhchap_secret"] != first["dhchap_secret"]


def test_a_kernel_without_authentication_exports_without_secret(
    env: FakeEnv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfs = FakeConfigfs(tmp_path / "nvmet", auth=False)
    conn = backend(env, cfs).create(spec())
    assert "dhchap_secret" not in conn
    assert "cannot authenticate hosts" in caplog.text
    assert os.listdir(cfs.root / "hosts") == [HOSTNQN]  # the probe host is gone


def test_dhchap_true_on_such_a_kernel_names_the_fix(env: FakeEnv, tmp_path: Path) -> None:
    cfs = FakeConfigfs(tmp_path / "nvmet", auth=False)
    with pytest.raises(BackendError, match=r"CONFIG_NVME_TARGET_AUTH.*dhchap: false"):
        backend(env, cfs, dhchap=True).create(spec())
    assert cfs.tree() == [] and env.calls("lvremove")


def test_ctrl_loss_tmo_travels_in_the_connection(env: FakeEnv, cfs: FakeConfigfs) -> None:
    conn = backend(env, cfs, ctrl_loss_tmo=45).create(spec())
    assert conn["ctrl_loss_tmo"] == 45
    attach(env, conn)
    argv = env.calls("nvme")[0]
    assert argv[argv.index("--ctrl-loss-tmo") + 1] == "45"


# -- wipe before reuse ----------------------------------------------------------------------


def lv_file(env: FakeEnv, eid: str) -> Path:
    return env.dev / VG / eid


def test_release_returns_before_the_wipe_and_frees_only_after_it(
    env: FakeEnv, cfs: FakeConfigfs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("STORALLOC_FAKE_GATE", str(gate))
    wiper = Wiper(Runner(timeout=20), timeout=60)
    b = backend(env, cfs, wiper=wiper)
    b.create(spec())
    with lv_file(env, EID).open("r+b") as f:
        f.seek(1 << 20)
        f.write(b"TENANT-A-SECRET!")
    b.delete(EID)  # returns while blkdiscard waits at the gate
    assert wiper.pending(VG) == 1
    assert cfs.tree() == []  # the export is gone at once
    assert env.calls("lvremove") == []  # but its space is not handed back unwiped
    gate.touch()
    assert wiper.wait(VG, timeout=30)
    assert [a[0] for a in env.calls() if a[0] in ("lvchange", "blkdiscard", "lvremove")] == [
        "lvchange", "blkdiscard", "lvremove"]  # fmt: skip
    assert env.calls("blkdiscard") == [["blkdiscard", "--zeroout", str(lv_file(env, EID))]]
    assert not lv_file(env, EID).exists()


def test_a_failed_wipe_keeps_the_space_allocated(
    env: FakeEnv, cfs: FakeConfigfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "blkdiscard")
    wiper = Wiper(Runner(timeout=20), timeout=60)
    b = backend(env, cfs, wiper=wiper)
    b.create(spec())
    b.delete(EID)
    assert wiper.wait(timeout=30)
    assert env.calls("lvremove") == []
    assert b.list_exports() == [EID]  # an orphan: the next reconcile tries again


def test_a_full_vg_waits_for_pending_wipes_instead_of_failing(
    env: FakeEnv,
    cfs: FakeConfigfs,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("STORALLOC_FAKE_GATE", str(gate))
    wiper = Wiper(Runner(timeout=20), timeout=60)
    b = backend(env, cfs, wiper=wiper)
    b.create(spec(size_gb=0.9))  # the VG holds 1 GiB
    b.delete(EID)

    def open_gate_once_refused() -> None:
        # Let the wipe finish only after the second lvcreate was refused for lack of space.
        deadline = time.monotonic() + 30
        while len(env.calls("lvcreate")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        gate.touch()

    opener = threading.Thread(target=open_gate_once_refused)
    opener.start()
    with caplog.at_level(logging.INFO):
        conn = b.create(spec(EID2, size_gb=0.9))
    opener.join()
    assert str(conn["nqn"]).endswith(EID2)
    assert "waiting for 1 wipe(s) in VG storalloc-nvme0n1" in caplog.text
    assert len(env.calls("lvcreate")) == 3  # first lease, refused, retried after the wipe


# -- record and re-export after a reboot ----------------------------------------------------


def reboot(cfs: FakeConfigfs, tmp_path: Path) -> FakeConfigfs:
    """The kernel forgets nvmet's configuration; LVs and the state directory survive."""
    d = ConfigfsDriver(TargetPort(), root=str(cfs.root), fs=cfs)
    for nqn in d.list_nqns():
        d.unexport(nqn)
    return FakeConfigfs(tmp_path / "nvmet")


def test_the_record_is_private_and_holds_what_a_reexport_needs(
    env: FakeEnv, cfs: FakeConfigfs
) -> None:
    conn = backend(env, cfs).create(spec())
    path = env.state / "server-state" / "exports.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rec = ExportBook(str(env.state / "server-state")).get(EID)
    assert rec is not None and rec.dhchap_key == conn["dhchap_secret"]
    assert rec.device_path == str(lv_file(env, EID)) and rec.hostnqn == HOSTNQN


def test_held_exports_are_recreated_after_a_reboot_with_the_same_secret(
    env: FakeEnv, cfs: FakeConfigfs, tmp_path: Path
) -> None:
    b = backend(env, cfs)
    conn = b.create(spec())
    b.create(spec(EID2))
    cfs = reboot(cfs, tmp_path)
    restarted = backend(env, cfs)
    assert restarted.list_exports() == [EID, EID2]  # the LVs are still there
    assert restarted.restore({EID}) == [EID]  # EID2 is not held: the caller tears it down
    assert env.calls("lvchange")[-1] == ["lvchange", "-ay", f"{VG}/{EID}"]
    assert attach(env, conn) == f"{env.dev}/nvme0n1"
    assert restarted.restore({EID}) == []  # already exported: nothing to do


def test_an_unrecoverable_export_is_skipped_not_fatal(
    env: FakeEnv, cfs: FakeConfigfs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    b = backend(env, cfs)
    b.create(spec())
    b.create(spec(EID2))
    cfs = reboot(cfs, tmp_path)
    Runner().run(["lvremove", "-y", f"{VG}/{EID}"])  # lost with its disk
    assert backend(env, cfs).restore({EID, EID2}) == [EID2]
    assert f"cannot re-export {EID}" in caplog.text


def test_a_corrupt_record_names_the_file_and_the_way_out(env: FakeEnv, tmp_path: Path) -> None:
    (tmp_path / "exports.json").write_text("{not json")
    with pytest.raises(BackendError, match=r"exports\.json.*move it away"):
        ExportBook(str(tmp_path))


def test_stale_host_entries_are_removed_and_used_ones_kept(env: FakeEnv, cfs: FakeConfigfs) -> None:
    b = backend(env, cfs)
    b.create(spec())
    cfs.mkdir(str(cfs.root / "hosts" / OTHER))  # left by a crash
    assert b.clean_stale_hosts() == [OTHER]
    assert os.listdir(cfs.root / "hosts") == [HOSTNQN]


# -- site realism ---------------------------------------------------------------------------


def test_lvm_devices_keeps_every_lvm_command_to_the_disk(
    env: FakeEnv, cfs: FakeConfigfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_VG_PVS", f"{VG}=/dev/nvme0n1")
    b = NvmeofBackend(Node(disks=(Disk(capacity=0.5),)), lvm_devices=True,
                      driver=ConfigfsDriver(TargetPort(), root=str(cfs.root), fs=cfs),
                      runner=Runner(timeout=20), fs=cfs, dev_root=str(env.dev),
                      wiper=Wiper(Runner(timeout=20)))  # fmt: skip
    assert b.disk_problems() == {}  # the VG is found through its PV
    b.create(spec())
    b.delete(EID)
    assert b.wiper is not None and b.wiper.wait(timeout=30)
    lvm = [a for a in env.calls() if a[0] in ("vgs", "lvcreate", "lvs", "lvchange", "lvremove")]
    assert [a[0] for a in lvm] == ["vgs", "lvcreate", "lvs", "lvchange", "lvremove"]
    assert all(a[1:3] == ["--devices", "/dev/nvme0n1"] for a in lvm), lvm


def test_a_disk_whose_pv_is_not_its_path_is_disabled_with_its_reason(
    env: FakeEnv, cfs: FakeConfigfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_VG_PVS", f"{VG}=/dev/sdz")
    problems = backend(env, cfs, lvm_devices=True).disk_problems()
    assert list(problems) == [0]
    assert f'Volume group "{VG}" not found' in problems[0]


def test_a_disk_smaller_than_its_capacity_is_disabled(env: FakeEnv, cfs: FakeConfigfs) -> None:
    # The fake VG holds 1 GiB; the configured disk says 1000 GB.
    problems = backend(env, cfs).disk_problems()
    assert "has 1.074 GB, less than the configured capacity 1000 GB" in problems[0]


def test_a_disk_can_listen_on_its_own_address_and_port(env: FakeEnv, cfs: FakeConfigfs) -> None:
    @dataclass(frozen=True)
    class PortDisk(Disk):
        traddr: str | None = None
        trsvcid: int | None = None

    own = PortDisk(path="/dev/nvme1n1", vg="storalloc-nvme0n1", traddr="127.0.0.2", trsvcid=4421)
    node = Node(disks=(Disk(), own))
    b = NvmeofBackend(node, driver=ConfigfsDriver(TargetPort(), root=str(cfs.root), fs=cfs),
                      runner=Runner(timeout=20), fs=cfs, dev_root=str(env.dev))  # fmt: skip
    first = b.create(spec())
    second = b.create(ExportSpec(EID2, make_nqn(PREFIX, "node1", EID2), own, 1, 0.1, HOSTNQN))
    assert (first["traddr"], first["trsvcid"]) == ("127.0.0.1", "4420")
    assert (second["traddr"], second["trsvcid"]) == ("127.0.0.2", "4421")
    dirs = [cfs.root / "ports" / p for p in os.listdir(cfs.root / "ports")]
    ports = {(cfs.read(f"{d}/addr_traddr"), cfs.read(f"{d}/addr_trsvcid")) for d in dirs}
    assert ports == {("127.0.0.1", "4420"), ("127.0.0.2", "4421")}
    assert attach(env, second) == f"{env.dev}/nvme0n1"
    b.delete(EID2)
    assert len(os.listdir(cfs.root / "ports")) == 1  # its own port went with its last export


def test_reset_waits_for_its_wipes(env: FakeEnv, cfs: FakeConfigfs) -> None:
    from storalloc.server.backends import reset

    b = backend(env, cfs, wiper=Wiper(Runner(timeout=20)))
    b.create(spec())
    b.create(spec(EID2))
    assert sorted(reset(b)) == [EID, EID2]
    # `server.py --reset` exits right after: every LV must be wiped and gone by then.
    assert [a[0] for a in env.calls() if a[0] in ("blkdiscard", "lvremove")].count("lvremove") == 2
    assert b.list_exports() == []


def test_one_missing_vg_disables_only_its_disk(env: FakeEnv, cfs: FakeConfigfs) -> None:
    small = Disk(capacity=0.5)
    node = Node(disks=(small, Disk(path="/dev/nvme7n1", capacity=0.5)))
    b = NvmeofBackend(node, driver=ConfigfsDriver(TargetPort(), root=str(cfs.root), fs=cfs),
                      runner=Runner(timeout=20), fs=cfs, dev_root=str(env.dev))  # fmt: skip
    problems = b.disk_problems()
    assert list(problems) == [1]
    assert (
        'volume group storalloc-nvme7n1 is not usable: Volume group "storalloc-nvme7n1" not found'
        in problems[1]
    )
    assert len(env.calls("vgs")) == 1  # one call for the whole node


def test_records_of_exports_gone_everywhere_are_dropped(
    env: FakeEnv, cfs: FakeConfigfs, tmp_path: Path
) -> None:
    b = backend(env, cfs)
    b.create(spec())
    cfs = reboot(cfs, tmp_path)
    Runner().run(["lvremove", "-y", f"{VG}/{EID}"])  # its LV went too (disk replaced)
    restarted = backend(env, cfs)
    assert restarted.restore(set()) == []
    assert ExportBook(str(env.state / "server-state")).ids() == []
