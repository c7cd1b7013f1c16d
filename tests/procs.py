"""Start the real scripts as subprocesses on free loopback ports, and read their output."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
ORCH_CFG = CONFIG / "orchestrator" / "config.yml"
SERVER_CFG = CONFIG / "server" / "config.yml"
CLIENT_CFG = CONFIG / "client" / "config.yml"
AULT14 = CONFIG / "server" / "systems" / "ault14.yml"
# Inside the session's STORALLOC_STATE_DIR (tests/conftest.py), or the system's temp dir.
STATE_ROOT = os.environ.get("STORALLOC_STATE_DIR")
WAIT = 20.0  # generous deadline for a line to appear; tests never assert on durations


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **extra}


class Proc:
    """A running script whose output lines are collected as they come."""

    def __init__(self, argv: list[str], **extra_env: str) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env(**extra_env),
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _pull(self, timeout: float) -> bool:
        try:
            line = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
        except queue.Empty:
            return True
        if line is None:
            self._queue.put(None)
            return False
        self.lines.append(line)
        return True

    def wait_for(self, text: str, timeout: float = WAIT, start: int = 0) -> str:
        """The first line (from index `start`) containing `text`; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[start:]:
                if text in line:
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or not self._pull(min(left, 0.2)):
                if any(text in line for line in self.lines[start:]):
                    continue
                raise AssertionError(
                    f"{self.argv[0]} did not print {text!r}; output:\n" + "\n".join(self.lines)
                )

    def count(self, text: str, timeout: float = 0.5) -> int:
        while self._pull(timeout):
            if self._queue.empty():
                break
        return sum(text in line for line in self.lines)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._close()
        return code

    def _close(self) -> None:
        self._reader.join(timeout=10)
        # What was read so far; a pipe still held open by a stray grandchild never ends.
        while not self._queue.empty() and self._pull(0):
            pass
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._close()


def start_orchestrator(
    *extra: str, config: Path = ORCH_CFG, verbose: bool = True
) -> tuple[Proc, str, str]:
    """An orchestrator on free ports; returns (proc, client endpoint, server endpoint)."""
    argv = ["orchestrator.py", "-c", str(config), "--client-endpoint", "tcp://127.0.0.1:*",
            "--server-endpoint", "tcp://127.0.0.1:*", "--print-endpoints", *extra]
    if "--state-dir" not in extra:  # a site of its own: no jobs restored from another test
        argv += ["--state-dir", tempfile.mkdtemp(prefix="orchestrator-", dir=STATE_ROOT)]
    if verbose:
        argv.append("-v")
    proc = Proc(argv)
    line = proc.wait_for("listening ")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return proc, fields["clients"], fields["servers"]


def start_server(endpoint: str, *extra: str, system: Path = AULT14, config: Path = SERVER_CFG,
                 simulate: bool = True) -> Proc:
    argv = ["server.py", "-c", str(config), "-s", str(system), "--orchestrator", endpoint, "-v"]
    if simulate:
        argv.append("--simulate")
    return Proc([*argv, *extra])


def run_client(endpoint: str, *args: str, user: str = "alice", timeout: float = 60,
               config: Path = CLIENT_CFG) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "client.py", "-c", str(config), "--orchestrator", endpoint, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=env(STORALLOC_USER=user),
    )  # fmt: skip


def client_proc(endpoint: str, *args: str, user: str = "alice") -> Proc:
    return Proc(["client.py", "-c", str(CLIENT_CFG), "--orchestrator", endpoint, *args],
                STORALLOC_USER=user)
