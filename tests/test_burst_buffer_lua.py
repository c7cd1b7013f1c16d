"""slurm/burst_buffer.lua's functions called one by one, as the plugin calls them, under
the Lua Slurm embeds (5.1), with a real orchestrator and client behind them: the edge
cases the end-to-end Slurm test does not reach (no directive, no capacity, teardown twice)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.procs import ROOT, run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e
LUA = shutil.which("lua5.1")
SCRIPT = ROOT / "slurm" / "burst_buffer.lua"


def call(function: str, *args: str, env: dict[str, str]) -> tuple[int, str | None]:
    """(return code, message) of one slurm_bb_ function, with a stand-in `slurm` table."""
    quoted = ", ".join(json.dumps(a) for a in args)
    program = (
        "slurm = {SUCCESS = 0, ERROR = -1, log_info = function(...) end}\n"
        f"dofile({json.dumps(str(SCRIPT))})\n"
        f"local rc, msg = {function}({quoted})\n"
        "io.write(tostring(rc), '\\n', tostring(msg))\n"
    )
    result = subprocess.run([LUA, "-e", program], capture_output=True, text=True, timeout=60,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rc, msg = result.stdout.split("\n", 1)
    return int(rc), None if msg == "nil" else msg


@pytest.fixture
def site(tmp_path):
    if LUA is None:
        if os.environ.get("STORALLOC_REQUIRE_SLURM") == "1":
            pytest.fail("lua5.1 is required here (CI installs it) but missing")
        pytest.skip("lua5.1 is not installed (.ci/install-slurm.sh installs it)")
    orch, clients, servers = start_orchestrator(verbose=False)
    server = start_server(servers)
    cfg = tmp_path / "client.yml"
    cfg.write_text(f"orchestrator: {clients}\ntimeout: 5\nretry: 5\n")
    env = {"PATH": "/usr/bin:/bin", "STORALLOC_BB_STATE": str(tmp_path / "state"),
           "STORALLOC_CLIENT": f"{sys.executable} {ROOT / 'client.py'} -c {cfg}"}
    try:
        server.wait_for("Registering to the orchestrator")
        yield env, clients, tmp_path
    finally:
        server.stop()
        orch.stop()


def test_jobs_without_the_directive_never_call_storalloc(site, tmp_path):
    env, _, _ = site
    script = tmp_path / "plain.sh"
    script.write_text("#!/bin/sh\n#SBATCH -t 5\n#BB_LUA pool=other capacity=1G\ntrue\n")
    broken = {**env, "STORALLOC_CLIENT": "false"}  # would fail if it were called
    assert call("slurm_bb_job_process", str(script), env=broken) == (0, None)
    assert call("slurm_bb_setup", "1", "0", "0", "other", "1", str(script), env=broken) == \
        (0, None)


def test_a_directive_without_capacity_is_refused(site, tmp_path):
    env, _, _ = site
    script = tmp_path / "nocap.sh"
    script.write_text("#!/bin/sh\n#BB_LUA pool=storalloc\ntrue\n")
    assert call("slurm_bb_job_process", str(script), env=env) == (
        -1, "storalloc: #BB_LUA pool=storalloc needs capacity=SIZE")


def test_pool_is_the_site_capacity_in_bytes(site):
    env, _, _ = site
    rc, pools = call("slurm_bb_pools", env=env)
    assert rc == 0
    assert json.loads(pools) == {"pools": [{"id": "storalloc", "quantity": 64000 * 10**9,
                                            "granularity": 1}]}  # fmt: skip


def test_teardown_is_idempotent(site, tmp_path):
    env, clients, _ = site
    granted = run_client(clients, "-s", "10", "-t", "60", "--json", user="root")
    grant = granted.stdout.splitlines()[-1]
    state = tmp_path / "state"
    state.mkdir()
    (state / "42.json").write_text(grant + "\n")
    job = str(json.loads(grant)["job_id"])
    assert call("slurm_bb_job_teardown", "42", "/dev/null", "false", env=env) == (0, None)
    shown = json.loads(run_client(clients, "--show", job, "--json", user="root").stdout)
    assert shown["state"] == "CANCELLED"
    assert not (state / "42.json").exists()
    # Slurm retries teardowns: a second one, or one for a lease released elsewhere, succeeds.
    assert call("slurm_bb_job_teardown", "42", "/dev/null", "false", env=env) == (0, None)
    (state / "43.json").write_text(grant + "\n")
    assert call("slurm_bb_job_teardown", "43", "/dev/null", "true", env=env) == (0, None)
