"""A private munged: its own key, socket, pid and log files in a directory, so tests never
touch (or depend on) a system munge. Shared by every test that needs Slurm's auth."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

START_WAIT = 20.0  # deadline for the socket to appear; never a timing assertion


class MungeUnavailable(Exception):
    """munged is not installed or cannot run here (the reason is the message)."""


class Munge:
    """`with Munge(dir) as m:` runs munged on `m.socket` until the block ends."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.socket = self.dir / "munge.socket"
        self.key = self.dir / "munge.key"
        self.log = self.dir / "munged.log"
        self.pid_file = self.dir / "munged.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Munge:
        munged = shutil.which("munged") or ("/usr/sbin/munged" if os.path.exists(
            "/usr/sbin/munged") else None)  # fmt: skip
        if munged is None:
            raise MungeUnavailable("munged is not installed (Debian package munge)")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key.write_bytes(os.urandom(1024))
        self.key.chmod(0o400)
        self.proc = subprocess.Popen(
            [munged, "--foreground", "--force", f"--socket={self.socket}",
             f"--key-file={self.key}", f"--log-file={self.log}", f"--pid-file={self.pid_file}",
             f"--seed-file={self.dir / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + START_WAIT
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.stop()
                raise MungeUnavailable(f"munged did not start: {err.strip()}")
            time.sleep(0.05)  # polling for the socket file, bounded by the deadline
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> Munge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
