"""What happens after a grant, as salloc does it: attach (optionally), run the user's
command with the allocation in its environment, then detach and release.

The lease belongs to the command: when it ends, or the client is interrupted (Ctrl-C,
SIGTERM), or the lease's time is up, the command is stopped if needed and everything the
client set up is taken down again, so nothing stays booked until `-t` runs out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from storalloc.client.attach import AttachError, disconnect
from storalloc.client.local import attach_job, detach_job
from storalloc.client.session import emit, say, say_error
from storalloc.server.runner import Runner
from storalloc.wire import protocol as p

STOP_GRACE = 10.0  # seconds a stopped command gets between SIGTERM and SIGKILL
EXIT_NOT_FOUND = 127  # the shell's code for a command that cannot be run


class Interrupted(Exception):
    """SIGINT or SIGTERM reached the client; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Gate:
    """While `held`, a signal is kept in `pending` instead of raised (see signals_held)."""

    held = False
    pending: int | None = None


def raise_on_signals() -> None:
    """Turn SIGINT and SIGTERM into Interrupted, so the release code always runs."""

    def handler(signum: int, frame: object) -> None:
        if _Gate.held:
            _Gate.pending = signum
            return
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs, then raise the one that came as
    Interrupted. Starting the command must not be cut short: Popen forks and execs before
    it returns, and an exception raised inside it would lose the child's pid, leaving the
    command running with nobody to stop it."""
    _Gate.held = True
    try:
        yield
    finally:
        _Gate.held = False
        signum, _Gate.pending = _Gate.pending, None
        if signum is not None:
            raise Interrupted(signum)


def attach_all(granted: p.Granted, hostnqn: str | None) -> list[str]:
    """Connect every part (as root, or through storalloc-nvme-helper); nothing stays
    connected on a failure."""
    devices = attach_job(granted.job_id, granted.connections, hostnqn)
    for conn, device in zip(granted.connections, devices, strict=False):
        emit("attached", f"job {granted.job_id} attached as {device}",
             job_id=granted.job_id, device=device, nqn=conn.get("nqn"))  # fmt: skip
    return devices


def detach_all(connections: Sequence[dict], runner: Runner, job_id: int | None = None) -> None:
    if os.geteuid() != 0 and job_id is not None:  # only the helper may disconnect
        try:
            detach_job(job_id, connections)
        except AttachError as exc:
            say_error(str(exc))
        return
    for conn in connections:
        nqn = conn.get("nqn")
        if not nqn:
            continue
        try:
            disconnect(str(nqn), runner=runner)
        except AttachError as exc:
            say_error(str(exc))


def allocation_env(granted: p.Granted, devices: Sequence[str]) -> dict[str, str]:
    """What the command learns about its allocation (lists are comma-separated)."""
    env = {
        "STORALLOC_JOB_ID": str(granted.job_id),
        "STORALLOC_NQNS": ",".join(str(c.get("nqn", "")) for c in granted.connections),
        "STORALLOC_END": f"{granted.end:.0f}",
        "STORALLOC_CONNECTIONS": json.dumps(granted.connections, sort_keys=True),
    }
    if devices:
        env["STORALLOC_DEVICES"] = ",".join(devices)
    return env


def run_command(command: Sequence[str], env: dict[str, str], end: float) -> int:
    """Run `command` until it exits or the lease ends; its exit code (128+N if killed by
    signal N, as shells report it). Interrupted propagates after the command stopped."""
    proc = None
    try:  # one block: a signal right after the start must still stop the command
        with signals_held():
            proc = subprocess.Popen(list(command), env={**os.environ, **env})
        code = proc.wait(timeout=max(0.0, end - time.time()))
    except OSError as exc:
        say_error(f"{command[0]}: {exc.strerror}")
        return EXIT_NOT_FOUND
    except subprocess.TimeoutExpired:
        say_error(f"job {env['STORALLOC_JOB_ID']}: time limit reached, stopping {command[0]}")
        code = _stop(proc)  # type: ignore[arg-type]
    except Interrupted:
        if proc is not None:
            _stop(proc)
        raise
    return 128 - code if code < 0 else code


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def hold(
    granted: p.Granted,
    command: Sequence[str] | None,
    attach: Callable[[p.Granted], list[str]] | None,
    release: Callable[[int], None],
    runner: Runner,
) -> int:
    """After the grant: attach if asked, run `command` if given, then clean up. Without a
    command an attached lease is kept (the user releases it); a failed attach releases."""
    devices: list[str] = []
    try:
        if attach is not None:
            devices = attach(granted)
        if not command:
            return 0
        code = run_command(command, allocation_env(granted, devices), granted.end)
    except AttachError as exc:
        say_error(f"job {granted.job_id}: {exc}")
        _give_back(granted, release, [], runner)
        return 1
    except Interrupted as exc:
        _give_back(granted, release, granted.connections if devices else [], runner)
        return 128 + exc.signum
    _give_back(granted, release, granted.connections if devices else [], runner)
    return code


def _give_back(granted: p.Granted, release: Callable[[int], None], attached: Sequence[dict],
               runner: Runner) -> None:  # fmt: skip
    detach_all(attached, runner, granted.job_id)
    say(f"Relinquishing job allocation {granted.job_id}")
    release(granted.job_id)
    emit("released", None, job_id=granted.job_id)
