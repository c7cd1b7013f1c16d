"""`make demo`: the seed README's scenario, run for real and shown as the seed shows it.

Starts the orchestrator, one simulated ault14 server and a client asking 200 GB for 60
minutes (the three commands of the README, as separate processes on the configured
loopback ports), then stops the two daemons with SIGINT and prints each one's output.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATOR = ["./orchestrator.py", "-c", "config/orchestrator/config.yml", "-v"]
SERVER = [
    "./server.py", "-c", "config/server/config.yml", "-s", "config/server/systems/ault14.yml",
    "--simulate", "-v",
]  # fmt: skip
CLIENT = ["./client.py", "-c", "config/client/config.yml", "-s", "200", "-t", "60", "-v"]
TIMEOUT = 20.0


class Daemon:
    """A background script whose output is collected line by line."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self.eof = False
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            # stderr (warnings, e.g. user_auth: none) goes to the demo's own stderr, so the
            # transcript on stdout stays the seed's.
            [sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=None, text=True, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise RuntimeError(f"{self.argv[0]} did not print {text!r}:\n" + self.text())
                self._changed.wait(min(left, 0.5))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def text(self) -> str:
        return "\n".join(self.lines)


def _section(title: str, argv: list[str], output: str) -> str:
    return f"**{title}**\n\n``` shell\n$ {' '.join(argv)}\n{output}\n```\n"


def main() -> int:
    # A site of its own, so the demo starts from job 0 each time (the seed's output) and
    # never restores, or leaves behind, jobs in the host's state directory.
    state = tempfile.mkdtemp(prefix="storalloc-demo-")
    os.environ["STORALLOC_STATE_DIR"] = state
    try:
        return _run()
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _run() -> int:
    orchestrator = Daemon(ORCHESTRATOR)
    server = None
    try:
        server = Daemon(SERVER)
        orchestrator.wait_for("Server registered")
        client = subprocess.run(
            [sys.executable, *CLIENT], cwd=ROOT, capture_output=True, text=True,
            timeout=TIMEOUT, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        if client.returncode == 0:
            orchestrator.wait_for("└")  # the timeline's last line
            server.wait_for("storalloc: {")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    finally:
        codes = [d.stop() for d in (server, orchestrator) if d is not None]
    print(_section("Orchestrator", ORCHESTRATOR, orchestrator.text()))
    print(_section("Server", SERVER, server.text()))
    print(_section("Client", CLIENT, (client.stdout + client.stderr).rstrip("\n")))
    print(f"(client exit code {client.returncode}; orchestrator and server stopped with SIGINT, "
          f"exit codes {codes[1]} and {codes[0]})")
    return 0 if client.returncode == 0 and codes == [0, 0] else 1


if __name__ == "__main__":
    sys.exit(main())
