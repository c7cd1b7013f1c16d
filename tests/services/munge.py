"""A private, real munged for tests: its own key, socket, pid, log and seed files in a
temporary directory, so it never touches (or needs) the host's MUNGE setup. Shared by the
trust tests (user credentials) and the Slurm tests (Slurm's own auth).

    with Munged(tmp_path) as munged:
        munged.socket   # pass as --socket / munge_socket
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

START_DEADLINE = 20.0


def munge_missing() -> str | None:
    """Why MUNGE tests cannot run here, or None."""
    for tool in ("munged", "munge", "unmunge", "mungekey"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (tests/services/install-munge.sh installs munge)"
    return None


class MungeUnavailable(RuntimeError):
    """munged is not installed or cannot run here (the reason is the message)."""


class Munged:
    """munged in the foreground as a child process; stopped (and reaped) on exit."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "munge"
        self.socket = str(self.dir / "munge.socket")
        self.key = self.dir / "munge.key"
        self.log = self.dir / "munged.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Munged:
        why = munge_missing()
        if why:
            raise MungeUnavailable(why)
        # munged refuses a socket directory others cannot traverse, and a key others read.
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        subprocess.run(["mungekey", "--create", f"--keyfile={self.key}"], check=True,
                       capture_output=True)  # fmt: skip
        argv = ["munged", "--foreground", "--force", f"--socket={self.socket}",
                f"--key-file={self.key}", f"--pid-file={self.dir / 'munged.pid'}",
                f"--log-file={self.log}", f"--seed-file={self.dir / 'munged.seed'}"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Poll with a deadline until a credential round-trips through the socket."""
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise MungeUnavailable(f"munged exited with {self.proc.returncode}: {err}")
            done = subprocess.run(["munge", f"--socket={self.socket}", "-n"],
                                  capture_output=True)  # fmt: skip
            if done.returncode == 0:
                return
            time.sleep(0.05)  # waiting for a daemon's socket to appear: nothing to poll on
        raise MungeUnavailable(f"munged did not answer on {self.socket} within {START_DEADLINE} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> Munged:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def munged():
    """A running private munged (the test is skipped where munge is not installed).

    Its directory is under /tmp, not pytest's private tmp_path: clients of other uids
    (tests make credentials as `nobody`) must reach the socket.
    """
    why = munge_missing()
    if why:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="storalloc-munge-"))
    root.chmod(0o755)
    try:
        with Munged(root) as daemon:
            yield daemon
    finally:
        shutil.rmtree(root, ignore_errors=True)
