"""The no-root attach helper (storalloc-nvme-helper) against a real orchestrator and a real
`server.py --dry-run` (which returns full NVMe/TCP connection info with a secret), with the
fake nvme-cli: only the job's owner can connect, only to the granted NQN, with its secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from storalloc.client.nvme_helper import HelperError, check_connection, granted_connections
from tests.fakes.helpers import FAKES_DIR
from tests.procs import ROOT, env, run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:0e3c1f9a-5b7d-4a7e-9b1d-2f4c6a8e0b13"
CONN = {"type": "nvme", "nqn": "nqn.2026-11.io.storalloc:n:j1-p0-abcdef", "trtype": "tcp",
        "traddr": "127.0.0.1", "trsvcid": "4420"}  # fmt: skip


def helper(tmp_path: Path, *args: str, user: str) -> subprocess.CompletedProcess[str]:
    fakes = {"PATH": f"{FAKES_DIR}{os.pathsep}{os.environ['PATH']}",
             "STORALLOC_FAKE_STATE": str(tmp_path / "fakes"),
             "STORALLOC_FAKE_SYSFS": str(tmp_path / "sysfs"),
             "STORALLOC_FAKE_DEV": str(tmp_path / "dev"),
             "STORALLOC_FAKE_CTRL_SYSFS": str(tmp_path / "ctrl"),
             "STORALLOC_FAKE_NO_DEVICE": "1"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "storalloc.client.nvme_helper", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=env(SUDO_USER=user, **fakes),
    )  # fmt: skip


def nvme_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "fakes" / "calls.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line)["argv"] for line in lines if json.loads(line)["argv"][0] == "nvme"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the helper is meant to run as root (sudo)")
def test_only_the_owner_attaches_and_only_the_grant(tmp_path: Path) -> None:
    orch, clients, servers = start_orchestrator()
    server = start_server(servers, "--dry-run", simulate=False)
    try:
        orch.wait_for("Server registered")
        got = run_client(clients, "-s", "10", "-t", "30", "--hostnqn", HOSTNQN, user="alice")
        assert got.returncode == 0, got.stderr
        job = int(re.search(r"'job_id': (\d+)", got.stdout).group(1))
        secret = re.search(r"'dhchap_secret': '([^']+)'", got.stdout).group(1)
        cfg = tmp_path / "client.yml"
        cfg.write_text(f"orchestrator: {clients}\ntimeout: 10\n")
        cfg.chmod(0o644)

        bob = helper(tmp_path, "connect", str(job), "-c", str(cfg), user="bob")
        # The orchestrator shows a job to its owner only; the helper checks again itself.
        assert bob.returncode == 1
        assert re.search(rf"job {job} (is not yours|belongs to alice)", bob.stderr), bob.stderr
        assert nvme_calls(tmp_path) == []

        # The helper reads the real /sys (no way to redirect a root helper), where the fake's
        # device never appears: so it must run the granted connect, then undo it and say why.
        alice = helper(tmp_path, "connect", str(job), "-c", str(cfg), user="alice")
        assert alice.returncode == 1 and "no block device appeared" in alice.stderr
        assert [a[1] for a in nvme_calls(tmp_path)] == ["connect", "disconnect"]
        argv = nvme_calls(tmp_path)[0]
        assert argv[argv.index("-n") + 1].startswith("nqn.2026-11.io.storalloc:")
        assert argv[argv.index("--dhchap-secret") + 1] == secret
        assert argv[argv.index("--ctrl-loss-tmo") + 1] == "60"

        off = helper(tmp_path, "disconnect", str(job), "-c", str(cfg), user="alice")
        assert off.returncode == 0 and "disconnected nqn." in off.stdout
        assert [a[1] for a in nvme_calls(tmp_path)] == ["connect", "disconnect", "disconnect"]

        cfg.chmod(0o666)  # anyone could point the helper at their own "orchestrator"
        loose = helper(tmp_path, "connect", str(job), "-c", str(cfg), user="alice")
        assert loose.returncode == 1 and "must be writable by root only" in loose.stderr
        assert "Traceback" not in loose.stderr + bob.stderr
    finally:
        server.stop()
        orch.stop()


@pytest.mark.parametrize(
    ("conn", "why"),
    [
        ({**CONN, "nqn": "nqn.x/../../etc"}, "invalid NQN"),
        ({**CONN, "trtype": "loop"}, "transport 'loop'"),
        ({**CONN, "traddr": "evil.example.org"}, "traddr is not an IP address"),
        ({**CONN, "trsvcid": "4420 -o x"}, "trsvcid must be a port number"),
        ({**CONN, "dhchap_secret": "DHHC-1:00:bm90IGEga2V5:"}, "DH-HMAC-CHAP"),
    ],
)
def test_a_grant_with_odd_fields_is_refused(conn: dict, why: str) -> None:
    with pytest.raises(HelperError, match=re.escape(why)):
        check_connection(conn)


def test_ended_or_empty_jobs_are_refused() -> None:
    base = {"job_id": 4, "user": "alice", "state": "ALLOCATED", "connections": [CONN]}
    assert granted_connections(base, "alice") == [CONN]
    with pytest.raises(HelperError, match="has ended"):
        granted_connections({**base, "state": "CANCELLED"}, "alice")
    with pytest.raises(HelperError, match="no export to attach yet"):
        granted_connections({**base, "connections": []}, "alice")


@pytest.mark.skipif(os.geteuid() != 0, reason="as a user, client.py goes through sudo")
def test_a_failed_attach_disconnects_and_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{FAKES_DIR}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STORALLOC_FAKE_STATE", str(tmp_path / "fakes"))
    monkeypatch.setenv("STORALLOC_FAKE_SYSFS", str(tmp_path / "sysfs"))
    monkeypatch.setenv("STORALLOC_FAKE_DEV", str(tmp_path / "dev"))
    monkeypatch.setenv("STORALLOC_FAKE_NO_DEVICE", "1")  # the namespace never shows up
    if os.geteuid() != 0:  # as a user, the same goes through the helper (here without sudo)
        monkeypatch.setenv(
            "STORALLOC_NVME_HELPER", f"{sys.executable} -m storalloc.client.nvme_helper"
        )
    orch, clients, servers = start_orchestrator()
    server = start_server(servers, "--dry-run", simulate=False)
    try:
        orch.wait_for("Server registered")
        got = run_client(clients, "-s", "10", "-t", "30", "--hostnqn", HOSTNQN, "--attach")
        assert got.returncode == 1
        assert "no block device appeared" in got.stderr and "Traceback" not in got.stderr
        assert [a[1] for a in nvme_calls(tmp_path)] == ["connect", "disconnect"]
        jobs = json.loads(run_client(clients, "--list", "--json").stdout)
        assert jobs == [], jobs  # the lease was released, not left to run out
    finally:
        server.stop()
        orch.stop()


def test_without_root_client_py_goes_through_the_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storalloc.client import local
    from storalloc.client.attach import AttachError

    script = tmp_path / "helper"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/argv\n'
        '[ "$2" = 7 ] || { echo "helper: error: job $2 is not yours" >&2; exit 1; }\n'
        'echo "storalloc: job 7 attached as /dev/nvme3n1"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("STORALLOC_NVME_HELPER", str(script))
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    assert local.attach_job(7, [CONN], HOSTNQN) == ["/dev/nvme3n1"]
    with pytest.raises(AttachError, match=r"job 8 is not yours.*Clients without root"):
        local.attach_job(8, [CONN], HOSTNQN)
    assert (tmp_path / "argv").read_text().splitlines() == ["connect 7", "connect 8"]
