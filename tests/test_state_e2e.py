"""An orchestrator restarted on its state file keeps its allocations and reconciles servers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tests.procs import ROOT, Proc, run_client, start_server

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _orchestrator(cfg, clients: str, servers: str) -> Proc:
    proc = Proc(["orchestrator.py", "-c", str(cfg), "--client-endpoint", clients,
                 "--server-endpoint", servers, "-v"])
    return proc


def test_restart_keeps_allocations(tmp_path):
    state = tmp_path / "state.json"
    cfg = tmp_path / "orch.yml"
    cfg.write_text(f"state_file: {state}\nheartbeat_interval: 0.2\nheartbeat_timeout: 2\n")
    clients = f"tcp://127.0.0.1:{_free_port()}"
    servers = f"tcp://127.0.0.1:{_free_port()}"
    srv_cfg = tmp_path / "server.yml"
    srv_cfg.write_text("heartbeat_interval: 0.2\n")
    orch = _orchestrator(cfg, clients, servers)
    server = start_server(servers, config=srv_cfg)
    try:
        orch.wait_for("Server registered")
        granted = run_client(clients, "-s", "300", "-t", "60")
        assert granted.returncode == 0, granted.stderr
        assert orch.stop() == 0
        saved = json.loads(state.read_text())
        assert [j["id"] for j in saved["jobs"]] == [0]
        assert saved["nodes"][0]["name"] == "ault14:0"

        orch = _orchestrator(cfg, clients, servers)
        orch.wait_for("Server registered")  # the server was asked to register again
        listing = run_client(clients, "--list", "--json")
        jobs = json.loads(listing.stdout)
        assert [(j["job_id"], j["state"], j["size_gb"]) for j in jobs] == [(0, "ALLOCATED", 300)]
        again = run_client(clients, "-s", "1", "-t", "1")
        assert "Granted job allocation 1" in again.stdout  # ids go on, never reused
        assert run_client(clients, "--release", "0").returncode == 0
        server.wait_for("would tear down j0-p0")
    finally:
        server.stop()
        orch.stop()


def test_damaged_state_file_is_a_clear_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    cfg = tmp_path / "orch.yml"
    cfg.write_text(f"state_file: {state}\n")
    result = subprocess.run(
        [sys.executable, "orchestrator.py", "-c", str(cfg), "--client-endpoint",
         "tcp://127.0.0.1:*", "--server-endpoint", "tcp://127.0.0.1:*"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert str(state) in result.stderr and "not a Storalloc state file" in result.stderr
