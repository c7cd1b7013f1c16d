"""Client side of an export: `nvme connect` / `nvme disconnect` and finding the block device."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping

from storalloc.server.runner import CommandError, Runner

log = logging.getLogger("storalloc.client.attach")

_NS_RE = re.compile(r"^nvme\d+(?:c\d+)?n\d+$")
_DISCONNECTED_RE = re.compile(r"disconnected (\d+) controller")
POLL_INTERVAL = 0.1


class AttachError(Exception):
    """Connecting to or disconnecting from an export failed."""


def read_hostnqn(path: str = "/etc/nvme/hostnqn") -> str | None:
    """This host's NQN from `path` (as written by nvme-cli), or None if absent/empty."""
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return value or None


def find_device(nqn: str, sysfs_root: str, dev_root: str) -> str | None:
    """`/dev/nvmeXnY` of the first namespace of subsystem `nqn`, once its node exists."""
    for subsys in sorted(_listdir(sysfs_root)):
        base = os.path.join(sysfs_root, subsys)
        try:
            with open(os.path.join(base, "subsysnqn"), encoding="utf-8") as f:
                if f.read().strip() != nqn:
                    continue
        except OSError:
            continue
        # With native multipath the namespace is nvme0n1 under the subsystem; without it the
        # sysfs name is nvme0c0n1 but the block device is still named nvme0n1.
        for name in sorted(n for n in _listdir(base) if _NS_RE.match(n)):
            dev = os.path.join(dev_root, re.sub(r"c\d+n", "n", name))
            if os.path.exists(dev):
                return dev
    return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def connect(
    conn: Mapping[str, object],
    hostnqn: str | None,
    *,
    runner: Runner,
    sysfs_root: str = "/sys/class/nvme-subsystem",
    dev_root: str = "/dev",
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Connect to the export described by `conn` and return its block device path.

    `conn` is what the server's backend returned: type, nqn, trtype, traddr, trsvcid.
    Success means: `nvme connect` exited 0 (within the runner's timeout) and the namespace's
    block device appeared within `timeout` seconds after that (the kernel creates it
    asynchronously).
    """
    nqn = _require(conn, "nqn")
    existing = find_device(nqn, sysfs_root, dev_root)
    if existing:
        log.info("%s is already connected as %s", nqn, existing)
        return existing
    argv = ["nvme", "connect", "-t", _require(conn, "trtype"), "-a", _require(conn, "traddr")]
    argv += ["-s", _require(conn, "trsvcid"), "-n", nqn]
    if hostnqn:
        argv += ["-q", hostnqn]
    try:
        result = runner.run(argv, check=False)  # bounded by the runner's own timeout
    except CommandError as exc:
        raise AttachError(f"cannot connect to {nqn}: {exc}") from exc
    if result.returncode != 0:
        # nvme-cli's exit status is not always right; trust the device if it is there.
        dev = find_device(nqn, sysfs_root, dev_root)
        if dev:
            log.warning("nvme connect exited %d but %s appeared", result.returncode, dev)
            return dev
        failure = CommandError(argv, result.returncode, result.stderr)
        raise AttachError(f"cannot connect to {nqn}: {failure}")
    return _wait_for_device(nqn, sysfs_root, dev_root, timeout, sleep)


def _require(conn: Mapping[str, object], key: str) -> str:
    value = conn.get(key)
    if value is None or value == "":
        raise AttachError(f"connection info has no {key!r}: {dict(conn)!r}")
    return str(value)


def _wait_for_device(
    nqn: str, sysfs_root: str, dev_root: str, timeout: float, sleep: Callable[[float], None]
) -> str:
    # Waiting on the kernel to publish the namespace, bounded by the timeout.
    deadline = time.monotonic() + timeout
    while True:
        dev = find_device(nqn, sysfs_root, dev_root)
        if dev:
            return dev
        if time.monotonic() >= deadline:
            raise AttachError(
                f"nvme connect to {nqn} succeeded but no block device appeared under "
                f"{sysfs_root} / {dev_root} within {timeout:g}s (see `nvme list-subsys`, dmesg)"
            )
        sleep(POLL_INTERVAL)


def disconnect(nqn: str, *, runner: Runner, timeout: float | None = None) -> int | None:
    """`nvme disconnect -n NQN`; return how many controllers it reported disconnecting."""
    try:
        out = runner.run(["nvme", "disconnect", "-n", nqn], timeout=timeout).stdout
    except CommandError as exc:
        raise AttachError(f"cannot disconnect {nqn}: {exc}") from exc
    m = _DISCONNECTED_RE.search(out)
    return int(m.group(1)) if m else None
