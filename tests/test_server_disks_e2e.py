"""A real server (fake LVM tools) whose node has one missing volume group and one too small:
those two disks are disabled with their reasons, the node registers with the other six."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.fakes.helpers import FAKES_DIR
from tests.procs import AULT14, SERVER_CFG, run_client, start_orchestrator, start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="a real-mode server needs root"),
]


def test_bad_disks_are_disabled_not_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    good = [f"storalloc-nvme{i}n1=8000" for i in (0, 2, 3, 6, 7, 8)]  # GiB, > 8000 GB
    monkeypatch.setenv("PATH", f"{FAKES_DIR}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STORALLOC_FAKE_STATE", str(tmp_path / "fakes"))
    monkeypatch.setenv("STORALLOC_FAKE_VGS", ",".join([*good, "storalloc-nvme9n1=100"]))
    root = tmp_path / "nvmet"
    for group in ("subsystems", "ports", "hosts"):
        (root / group).mkdir(parents=True)
    settings = yaml.safe_load(SERVER_CFG.read_text())
    settings.update(configfs_root=str(root), state_dir=str(tmp_path / "state"))
    config = tmp_path / "server.yml"
    config.write_text(yaml.safe_dump(settings))
    orch, clients, servers = start_orchestrator()
    server = start_server(servers, system=AULT14, simulate=False, config=config)
    try:
        orch.wait_for("Server registered")
        server.wait_for("disk 7 (/dev/nvme9n1) disabled")
        missing = server.wait_for("disk 1 (/dev/nvme1n1) disabled")
        assert 'Volume group "storalloc-nvme1n1" not found' in missing
        small = server.wait_for("disk 7 (/dev/nvme9n1) disabled")
        assert "107.374 GB, less than the configured capacity 8000 GB" in small
        nodes = json.loads(run_client(clients, "--nodes", "--json").stdout)
        assert nodes[0]["disks"] == 6 and nodes[0]["capacity_gb"] == 6 * 8000
    finally:
        server.stop()
        orch.stop()
