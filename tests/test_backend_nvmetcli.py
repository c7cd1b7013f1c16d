"""The nvmetcli target driver: configfs changes per lease, then `nvmetcli save` to persist."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.nvmetcli import NvmetcliDriver
from storalloc.server.backends.target import Namespace, TargetPort
from storalloc.server.runner import Runner
from tests.fakes.configfs import FakeConfigfs
from tests.fakes.helpers import HOSTNQN, FakeEnv, install_fakes

NQN = "nqn.2026-11.io.storalloc:node1:j1-p0-abcdef"
NQN2 = "nqn.2026-11.io.storalloc:node1:j2-p0-abcdef"
ADMIN = "nqn.2020-01.org.admin:vol"
PORT = TargetPort("tcp", "ipv4", "127.0.0.1", "4420")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEnv:
    e = install_fakes(monkeypatch, tmp_path)
    monkeypatch.setenv("STORALLOC_FAKE_CONFIGFS", str(tmp_path / "nvmet"))
    return e


@pytest.fixture
def cfs(tmp_path: Path, env: FakeEnv) -> FakeConfigfs:
    return FakeConfigfs(tmp_path / "nvmet")


@pytest.fixture
def backing(tmp_path: Path) -> str:
    path = tmp_path / "backing.img"
    path.write_bytes(b"\0" * 4096)
    return str(path)


def driver(cfs: FakeConfigfs, tmp_path: Path) -> NvmetcliDriver:
    save = str(tmp_path / "etc-nvmet-config.json")
    return NvmetcliDriver(PORT, runner=Runner(timeout=20), root=str(cfs.root), fs=cfs,
                          save_file=save)  # fmt: skip


def admin_export(cfs: FakeConfigfs, backing: str) -> Path:
    """An admin's own subsystem with buffered_io=1, which nvmetcli restore would reset."""
    sub = cfs.root / "subsystems" / ADMIN
    cfs.mkdir(str(sub))
    cfs.mkdir(str(sub / "namespaces/1"))
    cfs.write(str(sub / "namespaces/1/device_path"), backing)
    cfs.write(str(sub / "namespaces/1/buffered_io"), "1")
    cfs.write(str(sub / "namespaces/1/enable"), "1")
    return sub


def test_export_touches_only_its_lease_then_saves(
    env: FakeEnv, cfs: FakeConfigfs, backing: str, tmp_path: Path
) -> None:
    sub = admin_export(cfs, backing)
    before = len(cfs.configfs_ops())
    driver(cfs, tmp_path).export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    changed = [p for _, p in cfs.configfs_ops()[before:]]
    assert changed and all(ADMIN not in p for p in changed)  # no restore of the whole target
    assert (sub / "namespaces/1/buffered_io").read_text().strip() == "1"
    assert env.calls("nvmetcli") == [["nvmetcli", "save", str(tmp_path / "etc-nvmet-config.json")]]
    saved = json.loads((tmp_path / "etc-nvmet-config.json").read_text())
    assert sorted(s["nqn"] for s in saved["subsystems"]) == sorted([ADMIN, NQN])


def test_unexport_saves_only_when_something_went(
    env: FakeEnv, cfs: FakeConfigfs, backing: str, tmp_path: Path
) -> None:
    d = driver(cfs, tmp_path)
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert d.unexport(NQN) == [backing]
    assert d.unexport(NQN2) == []
    assert [a[1] for a in env.calls("nvmetcli")] == ["save", "save"]
    saved = json.loads((tmp_path / "etc-nvmet-config.json").read_text())
    assert saved["subsystems"] == [] and saved["hosts"] == []


def test_failed_save_keeps_the_export_and_is_logged(
    env: FakeEnv,
    cfs: FakeConfigfs,
    backing: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvmetcli:save")
    with caplog.at_level(logging.ERROR):
        driver(cfs, tmp_path).export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert (cfs.root / "subsystems" / NQN / "namespaces/1/enable").read_text().strip() == "1"
    assert "nvmetcli could not save" in caplog.text and "Permission denied" in caplog.text


def test_buffered_io_works_through_nvmetcli_too(
    env: FakeEnv, cfs: FakeConfigfs, backing: str, tmp_path: Path
) -> None:
    driver(cfs, tmp_path).export(NQN, Namespace(backing, True), HOSTNQN, allow_any_host=False)
    assert (cfs.root / "subsystems" / NQN / "namespaces/1/buffered_io").read_text().strip() == "1"


def test_missing_nvmetcli_names_the_fix(cfs: FakeConfigfs, tmp_path: Path) -> None:
    d = NvmetcliDriver(PORT, runner=Runner(timeout=5), root=str(cfs.root), fs=cfs,
                       command="nvmetcli-not-installed")  # fmt: skip
    with pytest.raises(BackendError, match="not found on PATH: install nvmetcli or set driver"):
        d.check()
