"""Client-side attach: `nvme connect` through the fake nvme-cli and polling for the device."""

from __future__ import annotations

from pathlib import Path

import pytest

from storalloc.client.attach import (
    AttachError,
    attach_all,
    connect,
    disconnect,
    find_device,
    read_hostnqn,
)
from storalloc.server.runner import Runner
from tests.fakes.helpers import HOSTNQN, FakeEnv, install_fakes

NQN = "nqn.2026-11.io.storalloc:node1:j1-p0-abcdef"
CONN = {"type": "nvme", "nqn": NQN, "trtype": "tcp", "traddr": "127.0.0.1", "trsvcid": "4420"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEnv:
    return install_fakes(monkeypatch, tmp_path)


def where(env: FakeEnv) -> dict[str, str]:
    return {"sysfs_root": str(env.sysfs), "dev_root": str(env.dev),
            "ctrl_root": str(env.sysfs.parent / "ctrl-sysfs")}  # fmt: skip


def attach(
    env: FakeEnv, hostnqn: str | None = HOSTNQN, timeout: float = 10.0, conn: dict | None = None
) -> str:
    return connect(conn or CONN, hostnqn, runner=Runner(timeout=20), timeout=timeout, **where(env))


def test_read_hostnqn(tmp_path: Path) -> None:
    (tmp_path / "hostnqn").write_text(HOSTNQN + "\n")
    (tmp_path / "empty").write_text("\n")
    assert read_hostnqn(str(tmp_path / "hostnqn")) == HOSTNQN
    assert read_hostnqn(str(tmp_path / "empty")) is None
    assert read_hostnqn(str(tmp_path / "absent")) is None


def test_connect_runs_nvme_connect_and_returns_the_device(env: FakeEnv) -> None:
    assert attach(env) == f"{env.dev}/nvme0n1"
    assert env.calls() == [
        ["nvme", "connect", "-t", "tcp", "-a", "127.0.0.1", "-s", "4420", "-n", NQN, "-q", HOSTNQN]
    ]


def test_connect_without_hostnqn_omits_q(env: FakeEnv) -> None:
    attach(env, hostnqn=None)
    assert "-q" not in env.calls()[0]


def test_connect_waits_for_a_device_that_appears_late(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_DEVICE_DELAY", "0.5")
    assert attach(env) == f"{env.dev}/nvme0n1"


def test_connect_fails_clearly_when_no_device_appears(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_NO_DEVICE", "1")
    with pytest.raises(
        AttachError, match=rf"connect to {NQN} succeeded but no block device .*0\.3s"
    ):
        attach(env, timeout=0.3)
    # ... and does not leave the controller connected behind it.
    assert [a[:2] for a in env.calls("nvme")] == [["nvme", "connect"], ["nvme", "disconnect"]]
    assert list(env.sysfs.iterdir()) == []


def test_connect_failure_carries_nvme_cli_message(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvme:connect")
    with pytest.raises(AttachError) as info:
        attach(env)
    msg = str(info.value)
    assert f"cannot connect to {NQN}" in msg
    assert "exited with code 1" in msg
    assert "could not add new controller" in msg


def test_connect_is_a_no_op_when_already_connected(env: FakeEnv) -> None:
    first = attach(env)
    assert attach(env) == first
    assert len(env.calls("nvme")) == 1


def test_connect_finds_the_right_subsystem_among_several(env: FakeEnv) -> None:
    other = env.sysfs / "nvme-subsys0"
    (other / "nvme0n1").mkdir(parents=True)
    (other / "subsysnqn").write_text("nqn.other\n")
    (env.dev / "nvme0n1").touch()
    assert attach(env) == f"{env.dev}/nvme1n1"


def test_find_device_maps_multipath_names_to_the_block_device(tmp_path: Path) -> None:
    sub = tmp_path / "sys" / "nvme-subsys3"
    (sub / "nvme3c3n1").mkdir(parents=True)
    (sub / "subsysnqn").write_text(NQN)
    (tmp_path / "dev").mkdir()
    assert find_device(NQN, str(tmp_path / "sys"), str(tmp_path / "dev")) is None
    (tmp_path / "dev" / "nvme3n1").touch()
    assert (
        find_device(NQN, str(tmp_path / "sys"), str(tmp_path / "dev")) == f"{tmp_path}/dev/nvme3n1"
    )


def test_incomplete_connection_info_is_reported(env: FakeEnv) -> None:
    with pytest.raises(AttachError, match="connection info has no 'traddr'"):
        connect(
            {"type": "nvme", "nqn": NQN, "trtype": "tcp"},
            None,
            runner=Runner(),
            sysfs_root=str(env.sysfs),
            dev_root=str(env.dev),
        )
    assert env.calls() == []


def test_disconnect_reports_the_controller_count(env: FakeEnv) -> None:
    attach(env)
    assert disconnect(NQN, runner=Runner(timeout=20)) == 1
    assert env.calls()[-1] == ["nvme", "disconnect", "-n", NQN]
    assert not (env.dev / "nvme0n1").exists()
    assert disconnect(NQN, runner=Runner(timeout=20)) == 0


def test_disconnect_failure_is_an_attach_error(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    attach(env)
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvme:disconnect")
    with pytest.raises(AttachError, match=rf"cannot disconnect {NQN}: .*Device or resource busy"):
        disconnect(NQN, runner=Runner(timeout=20))


def test_multipath_off_finds_the_namespace_under_its_controller(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_MULTIPATH", "N")
    assert attach(env) == f"{env.dev}/nvme0n1"
    assert not list((env.sysfs / "nvme-subsys0").glob("nvme0n*"))  # not listed there
    assert find_device(NQN, **where(env)) == f"{env.dev}/nvme0n1"
    assert disconnect(NQN, runner=Runner(timeout=20)) == 1
    assert find_device(NQN, **where(env)) is None


def test_secret_and_ctrl_loss_tmo_reach_nvme_connect(env: FakeEnv) -> None:
    conn = {**CONN, "dhchap_secret": "DHHC-1:00:c2VjcmV0:", "ctrl_loss_tmo": 30}
    attach(env, conn=conn)
    argv = env.calls("nvme")[0]
    assert argv[argv.index("--dhchap-secret") + 1] == "DHHC-1:00:c2VjcmV0:"
    assert argv[argv.index("--ctrl-loss-tmo") + 1] == "30"


def test_a_refused_connect_hides_the_secret(env: FakeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvme:connect")
    conn = {**CONN, "dhchap_secret": "DHHC-1:00:c2VjcmV0:"}
    with pytest.raises(AttachError) as info:
        attach(env, conn=conn)
    assert "<secret>" in str(info.value) and "c2VjcmV0" not in str(info.value)


@pytest.mark.parametrize("tmo", ["30", -2, True])
def test_bad_ctrl_loss_tmo_is_refused(env: FakeEnv, tmo: object) -> None:
    with pytest.raises(AttachError, match="ctrl_loss_tmo must be an integer"):
        attach(env, conn={**CONN, "ctrl_loss_tmo": tmo})
    assert env.calls("nvme") == []


def test_attach_all_undoes_earlier_parts_when_one_fails(
    env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "nvme:connect@2")
    second = {**CONN, "nqn": NQN.replace("j1-p0", "j1-p1")}
    with pytest.raises(AttachError, match="part 1: cannot connect"):
        attach_all([CONN, second], HOSTNQN, runner=Runner(timeout=20), **where(env))
    assert find_device(NQN, **where(env)) is None
    assert [a[1] for a in env.calls("nvme")].count("disconnect") == 2
