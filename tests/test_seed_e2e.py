"""The seed README's three commands, as real processes, print the seed's lines."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest

from tests.procs import ROOT, client_proc, run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e

SEED_ORCHESTRATOR = [
    "[D] Server registered. New resources available.",
    "[D] [00000] New incoming request: [200 GB, 60 m]",
    *[f"[D] Access bandwidth for disk {d} (node 0, 8000 GB): 2.93 GBps" for d in range(8)],
    "[D] Access bandwidth for box 0: 12.50 GBps",
    "[D] [00000] Add [200 GB, 60 m] on node 0, disk 0",
    "┌───┬────────────",
    "│  0│□□□□□□□□□□□□",
    *[line for d in range(1, 8) for line in ("├---┼------------", f"│  {d}│")],
    "└───┴────────────",
]
NQN = re.compile(r"^nqn\.\d{4}-\d{2}\.[a-z0-9-]+(\.[a-z0-9-]+)+:.+$")


@pytest.fixture
def site():
    orch, clients, servers = start_orchestrator()
    server = start_server(servers)
    try:
        orch.wait_for("Server registered")
        yield orch, server, clients
    finally:
        assert server.stop() == 0
        assert orch.stop() == 0


def test_seed_commands_print_the_seed_lines(site):
    orch, server, clients = site
    result = run_client(clients, "-s", "200", "-t", "60", "-v")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "[D] Submitting request [200,60]",
        "storalloc: Pending job allocation 0",
        "storalloc: job 0 queued and waiting for resources",
        "storalloc: Granted job allocation 0",
    ]
    grant = re.fullmatch(r"storalloc: \{'job_id': 0, 'type': 'nvme', 'nqn': '(.+)'\}", lines[4])
    assert grant and NQN.match(grant.group(1)) and len(grant.group(1).encode()) <= 223
    assert len(lines) == 5

    orch.wait_for("└───┴")
    # stdout and stderr together, as a terminal shows them: nothing more than the seed's.
    assert orch.lines[1 : 1 + len(SEED_ORCHESTRATOR)] == SEED_ORCHESTRATOR
    server.wait_for("storalloc: {")
    assert server.lines[:2] == [
        f"[D] Registering to the orchestrator ({server.argv[6]})",
        "storalloc: {'job_id': 0, 'disk': 0, 'capacity': 200, 'duration': 60}",
    ]


def test_each_allocation_gets_its_own_nqn(site):
    _, _, clients = site
    nqns = set()
    for _ in range(3):
        result = run_client(clients, "-s", "1", "-t", "5")
        assert result.returncode == 0, result.stderr
        nqns.add(re.search(r"'nqn': '([^']+)'", result.stdout).group(1))
    assert len(nqns) == 3


def test_without_verbose_no_debug_line(site):
    _, _, clients = site
    result = run_client(clients, "-s", "500M", "-t", "1:00:00")
    assert result.returncode == 0, result.stderr
    assert "[D]" not in result.stdout
    assert result.stdout.startswith("storalloc: Pending job allocation")


def test_nodes_lists_servers_like_sinfo(site):
    _, _, clients = site
    assert run_client(clients, "-s", "2T", "-t", "60").returncode == 0
    table = run_client(clients, "--nodes").stdout.splitlines()
    assert table[0].split() == ["NODE", "NAME", "STATE", "DISKS", "SIZE", "USED", "FREE",
                                "NETWORK"]
    assert table[1].split() == ["0", "ault14:0", "UP", "8", "64T", "2T", "62T", "12.5", "GBps"]
    data = json.loads(run_client(clients, "--nodes", "--json").stdout)
    assert data[0]["used_gb"] == 2000 and data[0]["capacity_gb"] == 64000


def test_seed_demo_runs_the_three_commands():
    """`make demo`'s runner uses the seed's configs and ports, verbatim."""
    result = subprocess.run([sys.executable, "-m", "storalloc.cli.demo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    if "Address already in use" in result.stdout + result.stderr:
        pytest.skip("ports 35000/35001 are busy on this machine")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in SEED_ORCHESTRATOR:
        assert line in result.stdout.splitlines()
    assert "$ ./client.py -c config/client/config.yml -s 200 -t 60 -v" in result.stdout
    assert "exit codes 0 and 0" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["-s", "-3", "-t", "60"], "invalid size"),
        (["-s", "200", "-t", "1-99"], "-t/--time"),
        (["-s", "lots", "-t", "60"], "invalid size"),
        (["-s", "200"], "needs both"),
        (["-s", "200", "-t", "60", "--begin", "yesterdayish"], "--begin"),
        (["--release", "abc"], "invalid id"),
    ],
)
def test_bad_values_are_usage_errors(args, message):
    result = run_client("tcp://127.0.0.1:1", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_orchestrator_fails_fast(tmp_path):
    cfg = tmp_path / "client.yml"
    cfg.write_text("orchestrator: tcp://127.0.0.1:9\ntimeout: 0.5\nretry: 0\n")
    result = subprocess.run(
        [sys.executable, "client.py", "-c", str(cfg), "-s", "1", "-t", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "no answer from the orchestrator at tcp://127.0.0.1:9 within 0.5 s" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_daemons_stop_cleanly(sig):
    orch, _, servers = start_orchestrator()
    server = start_server(servers)
    orch.wait_for("Server registered")
    assert server.stop(sig) == 0
    assert orch.stop(sig) == 0
    for proc in (orch, server):
        assert not any("Traceback" in line for line in proc.lines)


def test_bad_config_names_file_and_key(tmp_path):
    cfg = tmp_path / "orch.yml"
    cfg.write_text("sched_strategy: wrost_case\n")
    result = subprocess.run([sys.executable, "orchestrator.py", "-c", str(cfg)], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert str(cfg) in result.stderr and "sched_strategy" in result.stderr
    assert "worst_case" in result.stderr  # the valid names are listed


def test_admin_drains_and_resumes_a_node(site):
    _, _, clients = site
    refused = run_client(clients, "--drain", "0", user="alice")
    assert refused.returncode == 1 and "permission denied" in refused.stderr
    drained = run_client(clients, "--drain", "0", user="root")
    assert drained.returncode == 0
    assert "storalloc: node 0 (ault14:0) drained" in drained.stdout
    assert run_client(clients, "--nodes").stdout.splitlines()[1].split()[2] == "DRAIN"
    waiting = client_proc(clients, "-s", "10", "-t", "60")
    try:
        waiting.wait_for("queued and waiting for resources")
        assert "Granted" not in "\n".join(waiting.lines)
        resumed = run_client(clients, "--resume", "0", user="root")
        assert "storalloc: node 0 (ault14:0) resumed" in resumed.stdout
        waiting.wait_for("Granted job allocation 0")
    finally:
        waiting.stop()
    assert run_client(clients, "--drain", "7", user="root").stderr.strip().endswith(
        "invalid node specified: 7; known nodes: ault14:0 (0)")
