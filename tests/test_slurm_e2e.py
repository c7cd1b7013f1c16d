"""Slurm's burst_buffer/lua plugin with slurm/burst_buffer.lua, end to end on localhost:
real munged, slurmctld and slurmd (Debian's), a real orchestrator and a simulated server.

A job with `#BB_LUA pool=storalloc capacity=200G` gets a lease before it runs, sees it in
its environment, and the lease is released when the job ends; a job asking for more than
the site has is rejected by sbatch with Storalloc's reason.

Skipped, loudly and with the reason, only when the daemons are not installed (CI installs
them with .ci/install-slurm.sh and sets STORALLOC_REQUIRE_SLURM=1, so there it fails).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from tests.procs import ROOT, run_client, start_orchestrator, start_server
from tests.services.slurm import Slurm, SlurmUnavailable, missing

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]
LUA = ROOT / "slurm" / "burst_buffer.lua"
DEADLINE = 120.0  # generous: Slurm schedules on its own cycle; never asserted on


def _unavailable(reason: str) -> None:
    if os.environ.get("STORALLOC_REQUIRE_SLURM") == "1":
        pytest.fail(f"Slurm end-to-end test required but cannot run: {reason}")
    warnings.warn(f"SKIPPING the Slurm end-to-end test: {reason}", stacklevel=2)
    pytest.skip(f"Slurm end-to-end test not run: {reason} (install: .ci/install-slurm.sh)")


def poll(what: str, probe, deadline: float = DEADLINE):
    """probe() until it returns something true; fail naming `what` after the deadline."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.25)  # polling an external daemon, bounded by the deadline
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def site():
    reason = missing()
    if reason:
        _unavailable(reason)
    base = Path(tempfile.mkdtemp(prefix="storalloc-slurm-", dir="/tmp"))
    base.chmod(0o755)  # the job runs as nobody and must reach its work directory
    orch, clients, servers = start_orchestrator(verbose=False)
    server = start_server(servers)
    client_cfg = base / "client.yml"
    client_cfg.write_text(f"orchestrator: {clients}\ntimeout: 5\nretry: 5\n")
    env = {"STORALLOC_CLIENT": f"{sys.executable} {ROOT / 'client.py'} -c {client_cfg}",
           "STORALLOC_BB_STATE": str(base / "bb-state"), "STORALLOC_BB_SLACK": "60"}
    try:
        with Slurm(base / "slurm", LUA, env) as slurm:
            poll("the storalloc pool in `scontrol show burst`", lambda: "storalloc" in slurm.run(
                ["scontrol", "show", "burst"], check=False).stdout)  # fmt: skip
            yield slurm, clients, base
    except SlurmUnavailable as exc:
        _unavailable(str(exc))
    finally:
        server.stop()
        orch.stop()
        shutil.rmtree(base, ignore_errors=True)


def _script(work: Path, capacity: str) -> Path:
    script = work / "job.sh"
    script.write_text(f"""#!/bin/sh
#SBATCH -t 10
#SBATCH -o {work}/job.out
#BB_LUA pool=storalloc capacity={capacity}
echo "job=$STORALLOC_JOB_ID nqns=$STORALLOC_NQNS"
while [ ! -e {work}/go ]; do sleep 0.2; done
""")
    return script


def _workdir(base: Path, name: str) -> Path:
    work = base / name
    work.mkdir()
    work.chmod(0o777)
    return work


def test_job_gets_a_lease_that_ends_with_it(site):
    slurm, clients, base = site
    work = _workdir(base, "ok")
    submitted = slurm.run(["sbatch", "--parsable", str(_script(work, "200G"))],
                          user="nobody", cwd=work)  # fmt: skip
    slurm_job = submitted.stdout.strip().split(";")[0]
    out = work / "job.out"
    line = poll("the job's first line", lambda: out.exists() and out.read_text().strip())
    fields = dict(part.split("=", 1) for part in line.split())
    assert fields["job"].isdigit(), (line, slurm.logs())
    assert fields["nqns"].startswith("nqn.2026-11.io.storalloc:ault14:j"), line
    job = json.loads(run_client(clients, "--show", fields["job"], "--json", user="root").stdout)
    assert job["state"] == "ALLOCATED" and job["size_gb"] == 200  # held while the job runs
    assert job["user"] == "nobody"
    assert job["duration_s"] == 10 * 60 + 60  # the job's time limit plus STORALLOC_BB_SLACK
    (work / "go").touch()
    poll("the Slurm job to end", lambda: not slurm.run(
        ["squeue", "-h", "-j", slurm_job], check=False).stdout.strip())  # fmt: skip

    def released() -> bool:
        shown = run_client(clients, "--show", fields["job"], "--json", user="root")
        return json.loads(shown.stdout)["state"] == "CANCELLED"

    poll("the lease to be released by slurm_bb_job_teardown", released)
    assert not (base / "bb-state" / f"{slurm_job}.json").exists()


def test_job_larger_than_the_site_is_rejected_at_submit(site):
    slurm, _, base = site
    work = _workdir(base, "big")
    result = slurm.run(["sbatch", str(_script(work, "1000T"))], check=False, user="nobody",
                       cwd=work)  # fmt: skip
    assert result.returncode != 0
    assert ("storalloc: request of 1e+06 GB exceeds the capacity of this site (64000 GB on "
            "1 node(s))") in result.stderr, result.stderr
