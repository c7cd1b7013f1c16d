"""Run external commands safely (argv list, timeout, exit-code check) or print them (dry run)."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger("storalloc.server.runner")

#: Which Debian package provides a tool, so "not found" errors can say what to install.
PACKAGE_HINTS = {
    "nvme": "nvme-cli",
    "nvmetcli": "nvmetcli",
    "lvcreate": "lvm2",
    "lvremove": "lvm2",
    "modprobe": "kmod",
}


@dataclass(frozen=True, slots=True)
class RunResult:
    """Outcome of one finished command."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def tail(text: str, lines: int = 5, chars: int = 600) -> str:
    """Last few non-empty lines of `text` (what a user needs from a long stderr)."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(line.strip() for line in kept)
    return joined if len(joined) <= chars else "..." + joined[-chars:]


class CommandError(Exception):
    """A command could not run, timed out, or exited non-zero."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr: str = "",
        *,
        reason: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        cmd = shlex.join(self.argv)
        if reason is None:
            reason = f"exited with code {returncode}"
        msg = f"command `{cmd}` {reason}"
        if stderr.strip():
            msg += f": {tail(stderr)}"
        super().__init__(msg)


class Runner:
    """Executes commands for real.

    Every call takes an argv list (never a shell string), runs with a timeout, and by default
    raises `CommandError` on a non-zero exit so no failure goes unnoticed.
    """

    dry_run = False

    def __init__(self, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> None:
        if timeout <= 0:
            raise ValueError(f"runner timeout must be > 0, got {timeout!r}")
        self.timeout = timeout
        self.extra_env = dict(env or {})

    def environ(self) -> dict[str, str]:
        """Environment of the commands: ours, plus extras, in the C locale."""
        # C locale: the tools' messages are parsed and quoted, keep them stable and English.
        return {**os.environ, **self.extra_env, "LC_ALL": "C"}

    def which(self, name: str) -> str | None:
        """Full path of `name` on the commands' PATH, or None."""
        return shutil.which(name, path=self.environ().get("PATH"))

    def note(self, message: str) -> None:
        """Record a side remark (dry runs print it, real runs only log it)."""
        log.debug("%s", message)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        input: str | None = None,
    ) -> RunResult:
        """Run `argv`; return its output. Raise `CommandError` on timeout or (if check) failure."""
        argv = tuple(str(a) for a in argv)
        limit = self.timeout if timeout is None else timeout
        log.debug("run: %s", shlex.join(argv))
        proc = self._start(argv, input)
        try:
            out, err = proc.communicate(input, timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise CommandError(argv, None, err, reason=f"timed out after {limit:g}s") from None
        result = RunResult(argv, proc.returncode, out, err)
        if check and proc.returncode != 0:
            raise CommandError(argv, proc.returncode, err or out)
        return result

    def _start(self, argv: tuple[str, ...], input: str | None) -> subprocess.Popen[str]:
        """Start `argv`; a missing or unrunnable program becomes a `CommandError`."""
        try:
            # A new session lets a timeout kill the whole process group, grandchildren included,
            # so a hung helper cannot keep our pipes open forever.
            return subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.environ(),
                start_new_session=True,
            )
        except FileNotFoundError:
            pkg = PACKAGE_HINTS.get(os.path.basename(argv[0]))
            hint = f" (install {pkg})" if pkg else ""
            reason = f"failed: {argv[0]} not found on PATH{hint}"
            raise CommandError(argv, 127, reason=reason) from None
        except PermissionError as exc:
            raise CommandError(argv, 126, reason=f"could not be started: {exc}") from None


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class DryRunRunner(Runner):
    """Prints each command, shell-quoted, instead of running it; every command "succeeds"."""

    dry_run = True

    def __init__(self, emit: Callable[[str], None] = print, prefix: str = "dry-run: ") -> None:
        super().__init__()
        self.emit = emit
        self.prefix = prefix

    def note(self, message: str) -> None:
        """Print a side remark (e.g. the content a command would have been fed)."""
        self.emit(f"{self.prefix}# {message}")

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        input: str | None = None,
    ) -> RunResult:
        """Print `argv` and pretend it succeeded with empty output."""
        argv = tuple(str(a) for a in argv)
        self.emit(f"{self.prefix}{shlex.join(argv)}")
        return RunResult(argv, 0, "", "")
