"""After a grant, as salloc: the command's environment and exit code, detach and release
in every outcome. The attach itself is a stand-in (real attaches are in the VM tests);
`nvme disconnect` goes to a dry-run runner that records it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from storalloc.client import salloc
from storalloc.client.attach import AttachError
from storalloc.client.salloc import allocation_env, hold
from storalloc.server.runner import DryRunRunner
from storalloc.wire import protocol as p

NQN = "nqn.2026-11.io.storalloc:ault14:j7-p0-abcdef"


def grant(end: float | None = None) -> p.Granted:
    return p.Granted(request_id="r", job_id=7, connections=[{"type": "nvme", "nqn": NQN}],
                     end=time.time() + 3600 if end is None else end)  # fmt: skip


class Record:
    def __init__(self) -> None:
        self.released: list[int] = []
        self.commands: list[str] = []
        self.runner = DryRunRunner(emit=self.commands.append, prefix="")

    def release(self, job_id: int) -> None:
        self.released.append(job_id)


def test_the_command_sees_its_devices_and_its_code_is_the_exit_code(tmp_path):
    seen = tmp_path / "env"
    rec = Record()
    command = [sys.executable, "-c", "import os, sys; open(sys.argv[1], 'w').write("
               "os.environ['STORALLOC_DEVICES'] + ' ' + os.environ['STORALLOC_JOB_ID']); "
               "sys.exit(4)", str(seen)]  # fmt: skip
    code = hold(grant(), command, lambda g: ["/dev/nvme9n1"], rec.release, rec.runner)
    assert code == 4
    assert seen.read_text() == "/dev/nvme9n1 7"
    assert rec.commands == [f"nvme disconnect -n {NQN}"]  # detached before the release
    assert rec.released == [7]


def test_a_failed_attach_releases_and_runs_nothing(tmp_path):
    rec = Record()

    def failing(granted: p.Granted) -> list[str]:
        raise AttachError("cannot connect to it")

    code = hold(grant(), [sys.executable, "-c", f"open({str(tmp_path / 'ran')!r}, 'w')"],
                failing, rec.release, rec.runner)  # fmt: skip
    assert code == 1 and rec.released == [7]
    assert not (tmp_path / "ran").exists()


def test_attached_without_a_command_keeps_the_lease():
    rec = Record()
    assert hold(grant(), None, lambda g: ["/dev/nvme9n1"], rec.release, rec.runner) == 0
    assert rec.released == [] and rec.commands == []


def test_the_command_is_stopped_when_the_lease_ends():
    rec = Record()
    code = hold(grant(end=time.time() + 0.5), [sys.executable, "-c",
                "import time; time.sleep(600)"], None, rec.release, rec.runner)  # fmt: skip
    assert code == 128 + 15  # SIGTERM, as a shell reports it
    assert rec.released == [7]


def test_environment_lists_every_part():
    two = p.Granted(request_id="r", job_id=3, end=1e9, connections=[
        {"type": "nvme", "nqn": "a"}, {"type": "nvme", "nqn": "b"}])  # fmt: skip
    env = allocation_env(two, ["/dev/nvme1n1", "/dev/nvme2n1"])
    assert env["STORALLOC_NQNS"] == "a,b"
    assert env["STORALLOC_DEVICES"] == "/dev/nvme1n1,/dev/nvme2n1"
    assert env["STORALLOC_END"] == "1000000000"
    assert "STORALLOC_DEVICES" not in allocation_env(two, [])


def test_a_signal_while_the_command_starts_still_stops_it(monkeypatch):
    """SIGTERM lands while Popen is still returning (the command already runs): the
    client must know the command's pid and stop it, not leave it running orphaned."""
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen_then_signal(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        os.kill(os.getpid(), signal.SIGTERM)  # handled before Popen returns to the caller
        return proc

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(salloc.subprocess, "Popen", popen_then_signal)
    salloc.raise_on_signals()
    try:
        with pytest.raises(salloc.Interrupted) as caught:
            salloc.run_command(["sleep", "600"], {"STORALLOC_JOB_ID": "7"}, time.time() + 60)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
    assert caught.value.signum == signal.SIGTERM
    assert started[0].poll() == -signal.SIGTERM  # stopped by the client, not left running
