"""Durable state with real processes: an orchestrator killed (-9) in the middle of a burst
and restarted on its database loses no grant, answers every waiting client exactly once,
and no export is torn down early; a damaged database is a clear error."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import ROOT, WAIT, Proc, run_client, start_server

pytestmark = pytest.mark.e2e

GRANTED = re.compile(r"Granted job allocation (\d+)")
EXPORT = re.compile(r"'nqn': 'nqn[^']*:(j\d+-p\d+-[0-9a-f]{6})'")
BURST = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _orchestrator(cfg: Path, state: Path, clients: str, servers: str) -> Proc:
    return Proc(["orchestrator.py", "-c", str(cfg), "--client-endpoint", clients,
                 "--server-endpoint", servers, "--state-dir", str(state), "-v"])


@pytest.fixture
def site(tmp_path):
    cfg = tmp_path / "orch.yml"
    cfg.write_text("heartbeat_interval: 0.2\nheartbeat_timeout: 5\naudit_log: '-'\n")
    client_cfg = tmp_path / "client.yml"
    client_cfg.write_text("timeout: 1\nkeepalive: 0.5\nretry: 40\n")
    srv_cfg = tmp_path / "server.yml"
    srv_cfg.write_text("heartbeat_interval: 0.2\n")
    clients = f"tcp://127.0.0.1:{_free_port()}"
    servers = f"tcp://127.0.0.1:{_free_port()}"
    return cfg, client_cfg, srv_cfg, tmp_path / "state", clients, servers


def test_kill_9_during_a_burst_loses_no_grant_and_answers_every_client_once(site):
    """One client is granted before the crash; the burst's requests are all received
    (committed) but not answered: the server is stopped, so they wait for their setup.
    Then kill -9, restart on the same database, resume the server."""
    cfg, client_cfg, srv_cfg, state, clients, servers = site
    orch = _orchestrator(cfg, state, clients, servers)
    server = start_server(servers, config=srv_cfg)

    def client(i: int) -> Proc:
        return Proc(["client.py", "-c", str(client_cfg), "--orchestrator", clients, "-s", "10",
                     "-t", "30:00", "-v"], STORALLOC_USER=f"user{i}")  # fmt: skip

    burst: list[Proc] = []
    try:
        orch.wait_for("Server registered")
        burst.append(client(0))
        burst[0].wait_for("Granted job allocation 0")
        os.kill(server.proc.pid, signal.SIGSTOP)
        burst += [client(i) for i in range(1, BURST)]
        orch.wait_for(f"[{BURST - 1:05d}] New incoming request")  # every one received
        orch.kill()  # SIGKILL: nothing of this turn was answered
        orch = _orchestrator(cfg, state, clients, servers)
        os.kill(server.proc.pid, signal.SIGCONT)
        for proc in burst:
            try:
                code = proc.proc.wait(timeout=WAIT * 3)
            except subprocess.TimeoutExpired:
                code = None
            proc.stop()  # collects the rest of its output
            assert code == 0, (proc.lines, orch.lines[-60:], server.lines[-40:])
        granted = [GRANTED.findall("\n".join(c.lines)) for c in burst]
        assert all(len(ids) == 1 for ids in granted), [c.lines for c in burst]  # once each
        ids = sorted(int(i[0]) for i in granted)
        assert ids == list(range(BURST))  # no request made a second job
        jobs = json.loads(run_client(clients, "--list", "--json").stdout)
        assert sorted(j["job_id"] for j in jobs) == ids
        assert {j["state"] for j in jobs} == {"ALLOCATED"}
        told = {m.group(1) for c in burst for m in map(EXPORT.search, c.lines) if m}
        assert len(told) == BURST
        torn = {line.split()[-1] for line in server.lines if "would tear down" in line}
        assert not told & torn  # no export a client was given was torn down
    finally:
        for proc in burst:
            proc.stop()
        server.stop()
        orch.stop()


def test_restart_keeps_allocations_and_numbering_and_the_archive(site):
    cfg, _, srv_cfg, state, clients, servers = site
    orch = _orchestrator(cfg, state, clients, servers)
    server = start_server(servers, config=srv_cfg)
    try:
        orch.wait_for("Server registered")
        assert run_client(clients, "-s", "300", "-t", "60").returncode == 0
        assert run_client(clients, "-s", "5", "-t", "60").returncode == 0
        assert run_client(clients, "--release", "1").returncode == 0
        assert orch.stop() == 0
        assert (state / "storalloc.db").exists()

        orch = _orchestrator(cfg, state, clients, servers)
        orch.wait_for("Server registered")  # the server was asked to register again
        jobs = json.loads(run_client(clients, "--list", "--json").stdout)
        assert [(j["job_id"], j["state"], j["size_gb"]) for j in jobs] == [(0, "ALLOCATED", 300)]
        ended = json.loads(run_client(clients, "--show", "1", "--json").stdout)
        assert ended["state"] == "CANCELLED"  # the archive survives too
        again = run_client(clients, "-s", "1", "-t", "1")
        assert "Granted job allocation 2" in again.stdout  # ids go on, never reused
        assert not [line for line in server.lines if "would tear down j0-" in line]
        assert run_client(clients, "--release", "0").returncode == 0
        server.wait_for("would tear down j0-p0")
    finally:
        server.stop()
        orch.stop()


def test_damaged_database_is_a_clear_error(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "storalloc.db").write_bytes(b"not a database at all" * 100)
    cfg = tmp_path / "orch.yml"
    cfg.write_text("audit_log: '-'\n")
    result = subprocess.run(
        [sys.executable, "orchestrator.py", "-c", str(cfg), "--client-endpoint",
         "tcp://127.0.0.1:*", "--server-endpoint", "tcp://127.0.0.1:*", "--state-dir",
         str(state)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"state database {state / 'storalloc.db'}" in result.stderr
    assert "Traceback" not in result.stderr
