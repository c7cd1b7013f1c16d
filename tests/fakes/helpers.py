"""Test helpers: config stand-ins and an environment that puts the fake tools on PATH."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FAKES_DIR = Path(__file__).resolve().parent
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
PREFIX = "nqn.2026-11.io.storalloc"


@dataclass(frozen=True)
class Transport:
    """Stand-in for storalloc.config.loader.TransportConfig."""

    trtype: str = "tcp"
    trsvcid: int = 4420
    adrfam: str = "ipv4"


@dataclass(frozen=True)
class Disk:
    """Stand-in for storalloc.config.loader.DiskConfig."""

    path: str = "/dev/nvme0n1"
    carving: str = "lvm"
    vg: str = ""
    mountpoint: str | None = None
    model: str = "FAKE SSD"
    capacity: float = 1000.0
    write_bw: float = 2.0
    read_bw: float = 3.0


@dataclass(frozen=True)
class Node:
    """Stand-in for storalloc.config.loader.NodeConfig."""

    hostname: str = "node1"
    ipv4: str = "127.0.0.1"
    transport: Transport = field(default_factory=Transport)
    disks: tuple[Disk, ...] = (Disk(),)
    network: str = "loopback"
    network_bw: float = 1.0


@dataclass(frozen=True)
class Server:
    """Stand-in for storalloc.config.loader.ServerConfig."""

    driver: str = "configfs"
    name: str | None = None
    allow_any_host: bool = False
    nqn_prefix: str = PREFIX
    command_timeout: float = 20.0


@dataclass
class FakeEnv:
    """Where the fakes keep their state; `calls()` lists every fake tool invocation."""

    state: Path
    sysfs: Path
    dev: Path

    def calls(self, tool: str | None = None) -> list[list[str]]:
        """argv of each fake call so far (optionally only of `tool`)."""
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        argvs = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
        return [a for a in argvs if tool is None or a[0] == tool]

    def nvmetcli_state(self) -> dict:
        """The fake nvmetcli's current target state."""
        path = self.state / "nvmetcli.json"
        return json.loads(path.read_text()) if path.exists() else {}


def install_fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, vgs: str = "") -> FakeEnv:
    """Put tests/fakes first on PATH and point their state at `tmp_path`."""
    tools = ("nvme", "nvmetcli", "lvcreate", "lvremove", "lvs", "lvchange", "vgs", "blkdiscard")
    for tool in tools:
        if not os.access(FAKES_DIR / tool, os.X_OK):
            raise RuntimeError(f"{FAKES_DIR / tool} is not executable: chmod +x it (git mode 755)")
    env = FakeEnv(tmp_path / "fakestate", tmp_path / "sysfs", tmp_path / "dev")
    for d in (env.state, env.sysfs, env.dev):
        d.mkdir()
    monkeypatch.setenv("PATH", f"{FAKES_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STORALLOC_FAKE_STATE", str(env.state))
    monkeypatch.setenv("STORALLOC_FAKE_SYSFS", str(env.sysfs))
    monkeypatch.setenv("STORALLOC_FAKE_DEV", str(env.dev))
    monkeypatch.setenv("STORALLOC_FAKE_VGS", vgs)
    monkeypatch.setenv("STORALLOC_FAKE_CTRL_SYSFS", str(tmp_path / "ctrl-sysfs"))
    for var in ("FAIL", "HANG", "CONFIGFS", "DEVICE_DELAY", "NO_DEVICE", "NVMETCLI_SKIP",
                "MULTIPATH", "GATE"):  # fmt: skip
        monkeypatch.delenv(f"STORALLOC_FAKE_{var}", raising=False)
    return env
