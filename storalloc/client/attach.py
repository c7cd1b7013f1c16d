"""Client side of an export: `nvme connect` / `nvme disconnect` and finding the block device."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence

from storalloc.server.runner import CommandError, Runner

log = logging.getLogger("storalloc.client.attach")

_NS_RE = re.compile(r"^nvme\d+(?:c\d+)?n\d+$")
_HEAD_RE = re.compile(r"^nvme\d+n\d+$")
_DISCONNECTED_RE = re.compile(r"disconnected (\d+) controller")
POLL_INTERVAL = 0.1
SUBSYS_SYSFS = "/sys/class/nvme-subsystem"
CTRL_SYSFS = "/sys/class/nvme"


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


def find_device(
    nqn: str, sysfs_root: str = SUBSYS_SYSFS, dev_root: str = "/dev", ctrl_root: str = CTRL_SYSFS
) -> str | None:
    """`/dev/nvmeXnY` of the first namespace of subsystem `nqn`, once its node exists.

    This reads the sysfs nvme-cli itself reads (`nvme list`), which is stable across
    nvme-cli versions where its JSON is not. With native multipath on, the namespace is
    listed under the subsystem (`nvme-subsysK/nvmeKnY`); with `nvme_core.multipath=N` it is
    only under its controller (`/sys/class/nvme/nvmeK/nvmeKnY`), so both are searched.
    """
    for base in _matching(sysfs_root, nqn):
        # Multipath on: nvme0n1 here; the controller's nvme0c0n1 is a hidden path device.
        for name in sorted(n for n in _listdir(base) if _NS_RE.match(n)):
            dev = os.path.join(dev_root, re.sub(r"c\d+n", "n", name))
            if os.path.exists(dev):
                return dev
    for base in _matching(ctrl_root, nqn):
        for name in sorted(n for n in _listdir(base) if _HEAD_RE.match(n)):
            dev = os.path.join(dev_root, name)
            if os.path.exists(dev):
                return dev
    return None


def _matching(root: str, nqn: str) -> list[str]:
    """Entries of `root` whose `subsysnqn` is `nqn`."""
    out = []
    for entry in sorted(_listdir(root)):
        base = os.path.join(root, entry)
        try:
            with open(os.path.join(base, "subsysnqn"), encoding="utf-8") as f:
                if f.read().strip() == nqn:
                    out.append(base)
        except OSError:
            continue
    return out


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def connect_argv(conn: Mapping[str, object], hostnqn: str | None) -> list[str]:
    """The `nvme connect` command line for `conn` (what the server's backend returned)."""
    nqn = _require(conn, "nqn")
    argv = ["nvme", "connect", "-t", _require(conn, "trtype"), "-a", _require(conn, "traddr")]
    argv += ["-s", _require(conn, "trsvcid"), "-n", nqn]
    if hostnqn:
        argv += ["-q", hostnqn]
    secret = conn.get("dhchap_secret")
    if secret:
        argv += ["--dhchap-secret", str(secret)]
    tmo = conn.get("ctrl_loss_tmo")
    if tmo is not None:
        if isinstance(tmo, bool) or not isinstance(tmo, int) or tmo < -1:
            raise AttachError(f"connection info: ctrl_loss_tmo must be an integer >= -1: {tmo!r}")
        argv += ["--ctrl-loss-tmo", str(tmo)]
    return argv


def connect(
    conn: Mapping[str, object],
    hostnqn: str | None,
    *,
    runner: Runner,
    sysfs_root: str = SUBSYS_SYSFS,
    dev_root: str = "/dev",
    ctrl_root: str = CTRL_SYSFS,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Connect to the export described by `conn` and return its block device path.

    `conn` is what the server's backend returned: type, nqn, trtype, traddr, trsvcid, and
    maybe dhchap_secret and ctrl_loss_tmo. Success means: `nvme connect` exited 0 (within the
    runner's timeout) and the namespace's block device appeared within `timeout` seconds after
    that (the kernel creates it asynchronously). On failure nothing stays connected.
    """
    nqn = _require(conn, "nqn")
    roots = (sysfs_root, dev_root, ctrl_root)
    existing = find_device(nqn, *roots)
    if existing:
        log.info("%s is already connected as %s", nqn, existing)
        return existing
    dev = _run_connect(conn, connect_argv(conn, hostnqn), runner, roots)
    if dev:
        return dev
    try:
        return _wait_for_device(nqn, roots, timeout, sleep)
    except AttachError:
        _disconnect_quietly(nqn, runner)
        raise


def _run_connect(
    conn: Mapping[str, object], argv: list[str], runner: Runner, roots: tuple[str, str, str]
) -> str | None:
    """Run `nvme connect`; None if it succeeded, the device if it failed but one appeared."""
    nqn = _require(conn, "nqn")
    try:
        result = runner.run(argv, check=False)  # bounded by the runner's own timeout
    except CommandError as exc:
        _disconnect_quietly(nqn, runner)  # a timed-out connect may still have succeeded
        secret = str(conn.get("dhchap_secret") or "") or None
        text = str(exc).replace(secret, "<secret>") if secret else str(exc)
        raise AttachError(f"cannot connect to {nqn}: {text}") from exc
    if result.returncode == 0:
        return None
    # nvme-cli's exit status is not always right; trust the device if it is there.
    dev = find_device(nqn, *roots)
    if dev:
        log.warning("nvme connect exited %d but %s appeared", result.returncode, dev)
        return dev
    _disconnect_quietly(nqn, runner)
    failure = CommandError(_redact(argv), result.returncode, result.stderr)
    raise AttachError(f"cannot connect to {nqn}: {failure}")


def _redact(argv: Sequence[str]) -> list[str]:
    """`argv` with the secret hidden, for messages and logs."""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a == "--dhchap-secret":
            out[i + 1] = "<secret>"
    return out


def _disconnect_quietly(nqn: str, runner: Runner) -> None:
    try:
        disconnect(nqn, runner=runner)
    except AttachError as exc:
        log.warning("could not disconnect %s after a failed attach: %s", nqn, exc)


def _require(conn: Mapping[str, object], key: str) -> str:
    value = conn.get(key)
    if value is None or value == "":
        shown = {k: ("<secret>" if k == "dhchap_secret" else v) for k, v in conn.items()}
        raise AttachError(f"connection info has no {key!r}: {shown!r}")
    return str(value)


def _wait_for_device(
    nqn: str, roots: tuple[str, str, str], timeout: float, sleep: Callable[[float], None]
) -> str:
    # Waiting on the kernel to publish the namespace, bounded by the timeout.
    deadline = time.monotonic() + timeout
    while True:
        dev = find_device(nqn, *roots)
        if dev:
            return dev
        if time.monotonic() >= deadline:
            raise AttachError(
                f"nvme connect to {nqn} succeeded but no block device appeared under "
                f"{roots[0]} / {roots[2]} within {timeout:g}s (see `nvme list-subsys`, dmesg)"
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


def attach_all(
    connections: Sequence[Mapping[str, object]], hostnqn: str | None, *, runner: Runner,
    **where: object,
) -> list[str]:  # fmt: skip
    """Connect every part of a grant; if one fails, disconnect those already made and raise."""
    devices: list[str] = []
    for i, conn in enumerate(connections):
        try:
            devices.append(connect(conn, hostnqn, runner=runner, **where))  # type: ignore[arg-type]
        except AttachError as exc:
            for done in connections[:i]:
                _disconnect_quietly(_require(done, "nqn"), runner)
            raise AttachError(f"part {i}: {exc}") from exc
    return devices
