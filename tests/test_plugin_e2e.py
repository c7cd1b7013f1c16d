"""A site's own strategy, loaded by dotted path in the orchestrator process; a bug in it
fails one request with a clear reason and the orchestrator keeps serving."""

from __future__ import annotations

import json

import pytest

from tests.procs import run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e


def test_plugin_strategy_bug_fails_one_request_only(tmp_path):
    cfg = tmp_path / "orch.yml"
    cfg.write_text("sched_strategy: tests.plugin_strategy:Faulty\n")
    orch, clients, servers = start_orchestrator(config=cfg)
    server = start_server(servers)
    try:
        orch.wait_for("Server registered")
        bad = run_client(clients, "-s", "13", "-t", "60")
        assert bad.returncode == 1
        assert "the placement strategy failed: RuntimeError('unlucky size')" in bad.stderr
        good = run_client(clients, "-s", "20", "-t", "60")
        assert good.returncode == 0, good.stderr
        jobs = json.loads(run_client(clients, "--list", "--json").stdout)
        assert [(j["job_id"], j["state"]) for j in jobs] == [(1, "ALLOCATED")]
        assert orch.proc.poll() is None
    finally:
        server.stop()
        orch.stop()
