"""The nvmetcli target driver (save → merge → restore → verify) against the fake nvmetcli."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.nvmetcli import (
    NvmetcliDriver,
    add_export,
    empty_state,
    export_problems,
    remove_export,
)
from storalloc.server.backends.target import Namespace, TargetPort
from storalloc.server.runner import DryRunRunner, Runner
from tests.fakes.helpers import HOSTNQN, FakeEnv, install_fakes

NQN = "nqn.2026-11.io.storalloc:node1:j1-p0-abcdef"
NQN2 = "nqn.2026-11.io.storalloc:node1:j2-p0-abcdef"
PORT = TargetPort("tcp", "ipv4", "127.0.0.1", "4420")
ADMIN = {
    "hosts": [{"nqn": "nqn.admin:host"}],
    "ports": [
        {
            "portid": 7,
            "addr": {"trtype": "rdma", "adrfam": "ipv4", "traddr": "10.0.0.1", "trsvcid": "4420"},
            "param": {},
            "subsystems": ["nqn.2020-01.org.admin:vol"],
            "referrals": [],
            "ana_groups": [],
        }
    ],
    "subsystems": [
        {
            "nqn": "nqn.2020-01.org.admin:vol",
            "attr": {"allow_any_host": "0"},
            "allowed_hosts": ["nqn.admin:host"],
            "namespaces": [],
        }
    ],
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEnv:
    return install_fakes(monkeypatch, tmp_path)


@pytest.fixture
def backing(tmp_path: Path) -> str:
    path = tmp_path / "backing.img"
    path.write_bytes(b"\0" * 4096)
    return str(path)


def driver() -> NvmetcliDriver:
    return NvmetcliDriver(PORT, runner=Runner(timeout=20))


def seed(env: FakeEnv, state: dict) -> None:
    (env.state / "nvmetcli.json").write_text(json.dumps(state))


def test_export_saves_merges_restores_and_verifies(env: FakeEnv, backing: str) -> None:
    driver().export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    cmds = [a[1] for a in env.calls("nvmetcli")]
    assert cmds == ["save", "restore", "save"]
    st = env.nvmetcli_state()
    sub = next(s for s in st["subsystems"] if s["nqn"] == NQN)
    assert sub["allowed_hosts"] == [HOSTNQN]
    assert sub["attr"]["allow_any_host"] == "0"
    assert sub["namespaces"][0]["device"]["path"] == backing
    assert sub["namespaces"][0]["enable"] == 1
    assert st["hosts"] == [{"nqn": HOSTNQN}]
    assert st["ports"][0]["addr"]["traddr"] == "127.0.0.1"
    assert st["ports"][0]["subsystems"] == [NQN]


def test_export_keeps_the_admins_configuration(env: FakeEnv, backing: str) -> None:
    seed(env, ADMIN)
    driver().export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    st = env.nvmetcli_state()
    assert [s["nqn"] for s in st["subsystems"]] == ["nqn.2020-01.org.admin:vol", NQN]
    assert [p["portid"] for p in st["ports"]] == [7, 1]
    assert st["ports"][0]["subsystems"] == ["nqn.2020-01.org.admin:vol"]


def test_unexport_restores_everything_else(env: FakeEnv, backing: str) -> None:
    seed(env, ADMIN)
    d = driver()
    d.export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    d.export(NQN2, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert d.unexport(NQN) == [backing]
    st = env.nvmetcli_state()
    assert [s["nqn"] for s in st["subsystems"]] == ["nqn.2020-01.org.admin:vol", NQN2]
    assert {h["nqn"] for h in st["hosts"]} == {"nqn.admin:host", HOSTNQN}
    d.unexport(NQN2)
    assert env.nvmetcli_state() == ADMIN


def test_unexport_of_unknown_nqn_does_not_restore(env: FakeEnv) -> None:
    assert driver().unexport(NQN) == []
    assert [a[1] for a in env.calls("nvmetcli")] == ["save"]


def test_failed_restore_rolls_back_to_the_saved_state(
    env: FakeEnv, backing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(env, ADMIN)
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvmetcli:restore@1")
    with pytest.raises(BackendError, match=r"nvmetcli restore .* exited with code 1.*CFSError"):
        driver().export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert [a[1] for a in env.calls("nvmetcli")] == ["save", "restore", "restore"]
    assert env.nvmetcli_state() == ADMIN


def test_failed_rollback_is_reported_too(
    env: FakeEnv, backing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvmetcli:restore")
    with pytest.raises(BackendError, match="restoring the previous target state failed too"):
        driver().export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)


def test_missing_backing_aborts_restore_and_is_rolled_back(env: FakeEnv, tmp_path: Path) -> None:
    seed(env, ADMIN)
    with pytest.raises(BackendError, match="Cannot enable"):
        driver().export(NQN, Namespace(str(tmp_path / "gone")), HOSTNQN, allow_any_host=False)
    assert env.nvmetcli_state() == ADMIN


def test_skipped_attribute_is_caught_by_verification(
    env: FakeEnv, backing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(env, ADMIN)
    monkeypatch.setenv("STORALLOC_FAKE_NVMETCLI_SKIP", "j1-p0")
    with pytest.raises(BackendError, match=rf"exited 0 but host {HOSTNQN} is not allowed.*skipped"):
        driver().export(NQN, Namespace(backing), HOSTNQN, allow_any_host=False)
    assert env.nvmetcli_state() == ADMIN


def test_save_failure_is_reported_with_command_and_stderr(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvmetcli:save")
    with pytest.raises(
        BackendError, match=r"`nvmetcli save /\S+` exited with code 1: .*Permission"
    ):
        driver().list_nqns()


def test_hung_nvmetcli_times_out(env: FakeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_HANG", "nvmetcli:save")
    d = NvmetcliDriver(PORT, runner=Runner(timeout=0.5))
    with pytest.raises(BackendError, match=r"nvmetcli save .* timed out after 0.5s"):
        d.list_nqns()


def test_buffered_io_is_refused_with_advice(env: FakeEnv, backing: str) -> None:
    with pytest.raises(BackendError, match="use driver configfs"):
        driver().export(NQN, Namespace(backing, buffered_io=True), HOSTNQN, allow_any_host=False)
    assert env.calls() == []


def test_missing_nvmetcli_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendError, match=r"nvmetcli not found on PATH.*driver: configfs"):
        driver().check()


def test_dry_run_prints_save_and_restore(tmp_path: Path) -> None:
    said: list[str] = []
    d = NvmetcliDriver(PORT, runner=DryRunRunner(said.append))
    d.export(NQN, Namespace("/dev/vg/j1"), HOSTNQN, allow_any_host=False)
    assert said[0].startswith("dry-run: nvmetcli save /")
    assert any(s.startswith("dry-run: nvmetcli restore /") for s in said)
    assert any(NQN in s and "/dev/vg/j1" in s for s in said if s.startswith("dry-run: # "))


def test_add_and_remove_are_inverse_on_an_empty_target() -> None:
    st = add_export(empty_state(), NQN, Namespace("/d"), HOSTNQN, False, PORT)
    assert export_problems(st, NQN, Namespace("/d"), HOSTNQN, False, PORT) == []
    back, paths, changed = remove_export(st, NQN, PORT)
    assert (back, paths, changed) == (empty_state(), ["/d"], True)


def test_allow_any_host_state_has_no_hosts() -> None:
    st = add_export(empty_state(), NQN, Namespace("/d"), None, True, PORT)
    assert st["hosts"] == []
    assert st["subsystems"][0]["attr"]["allow_any_host"] == "1"
    assert export_problems(st, NQN, Namespace("/d"), None, True, PORT) == []


def test_problems_are_named() -> None:
    st = add_export(empty_state(), NQN, Namespace("/d"), HOSTNQN, False, PORT)
    st["subsystems"][0]["namespaces"][0]["enable"] = 0
    st["ports"] = []
    problems = export_problems(st, NQN, Namespace("/d"), HOSTNQN, False, PORT)
    assert problems == [
        "namespace with device /d is missing or not enabled",
        "no port on tcp 127.0.0.1:4420 links it",
    ]
