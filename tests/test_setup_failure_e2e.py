"""A real server whose storage commands fail (faithful fakes of lvcreate, lvremove...):
the orchestrator tries other disks, then refuses with the server's reason; nothing is left."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.fakes.helpers import FAKES_DIR
from tests.procs import AULT14, ROOT, SERVER_CFG, run_client, start_orchestrator, start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="a real-mode server needs root"),
]

HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:0e3c1f9a-5b7d-4a7e-9b1d-2f4c6a8e0b13"
VGS = ",".join(f"storalloc-nvme{i}n1=8000" for i in (0, 1, 2, 3, 6, 7, 8, 9))  # GiB


def test_failing_setup_is_retried_on_other_disks_then_refused(tmp_path, monkeypatch):
    state = tmp_path / "fakes"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{FAKES_DIR}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STORALLOC_FAKE_STATE", str(state))
    monkeypatch.setenv("STORALLOC_FAKE_VGS", VGS)
    monkeypatch.setenv("STORALLOC_FAKE_FAIL", "lvcreate@1")  # the first carve fails
    orch, clients, servers = start_orchestrator()
    # Real mode, configfs driver on a plain directory standing in for configfs: it lacks the
    # attribute files the kernel would create, so every export fails after its carve.
    root = tmp_path / "nvmet"
    for group in ("subsystems", "ports", "hosts"):
        (root / group).mkdir(parents=True)
    config = tmp_path / "server.yml"
    settings = yaml.safe_load(SERVER_CFG.read_text())
    settings.update(configfs_root=str(root), state_dir=str(tmp_path / "state"), wipe=False)
    config.write_text(yaml.safe_dump(settings))
    server = start_server(servers, "--driver", "configfs", system=AULT14, simulate=False,
                          config=config)  # fmt: skip
    try:
        orch.wait_for("Server registered")
        result = run_client(clients, "-s", "200", "-t", "60", "--hostnqn", HOSTNQN)
        assert result.returncode == 1
        assert "Unable to allocate resources: setting up the export failed:" in result.stderr
        assert "cannot set allow_any_host" in result.stderr  # the server's reason reaches the user
        orch.wait_for("node 0 disk 2 failed")
        failures = [line for line in orch.lines if "failed:" in line]
        disks = [re.search(r"node 0 disk (\d+) failed", line).group(1) for line in failures]
        assert disks == ["0", "1", "2"]  # three different disks were tried
        assert "insufficient free space" in failures[0]
        # Every volume that was created was removed again, and the target is empty.
        log = (state / "calls.jsonl").read_text().splitlines()
        calls = [json.loads(line)["argv"] for line in log]
        created = [a[a.index("-n") + 1] for a in calls if a[0] == "lvcreate"]
        removed = [a[-1].split("/")[-1] for a in calls if a[0] == "lvremove"]
        assert len(created) == 3 and sorted(removed) == sorted(created[1:])
        assert json.loads(run_client(clients, "--list", "--json").stdout) == []
        assert [p.name for p in (root / "subsystems").iterdir()] == []
    finally:
        server.stop()
        orch.stop()


@pytest.mark.skipif(os.path.exists("/sys/kernel/config/nvmet"), reason="nvmet is loaded here")
def test_real_server_without_nvmet_says_what_to_load():
    result = subprocess.run(
        [sys.executable, "server.py", "-c", "config/server/config.yml", "-s", str(AULT14),
         "--driver", "configfs"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "server: error: /sys/kernel/config/nvmet not found" in result.stderr
    assert "modprobe nvmet nvmet-tcp" in result.stderr and "Traceback" not in result.stderr
