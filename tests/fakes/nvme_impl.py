"""Fake nvme-cli 2.x: `nvme connect` and `nvme disconnect` with the real argv and messages.

Extra environment:
  STORALLOC_FAKE_SYSFS   stands in for /sys/class/nvme-subsystem (connect creates
                         nvme-subsysK/subsysnqn and nvme-subsysK/nvmeKn1/)
  STORALLOC_FAKE_DEV     stands in for /dev (connect creates the nvmeKn1 node)
  STORALLOC_FAKE_CONFIGFS  if set, connect only succeeds when this nvmet tree exports the NQN
                         on the given address to the given host (otherwise, if the fake
                         nvmetcli has a state, that state is checked the same way)
  STORALLOC_FAKE_DEVICE_DELAY  seconds before the block device appears (asynchronously)
  STORALLOC_FAKE_NO_DEVICE     if set, connect succeeds but no namespace ever appears
  STORALLOC_FAKE_MULTIPATH=N   native multipath off (nvme_core.multipath=N): the namespace is
                         listed under the controller, `$STORALLOC_FAKE_CTRL_SYSFS/nvmeK/nvmeKn1`
                         (stand-in for /sys/class/nvme), not under the subsystem
A host whose configfs entry has a dhchap_key must give the same `--dhchap-secret`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from fakelib import die, load_json, start, state_dir

# nvme-cli 2.3 as observed on Debian bookworm (tests/vm): success prints nothing; failures
# exit 1 with these stderr lines.
CONNECT_FAILED = (
    "Failed to write to /dev/nvme-fabrics: Input/output error\n"
    "could not add new controller: failed to write to nvme-fabrics device"
)
DEFAULT_HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000fake"
OPTS = {
    "-t": "transport",
    "--transport": "transport",
    "-a": "traddr",
    "--traddr": "traddr",
    "-s": "trsvcid",
    "--trsvcid": "trsvcid",
    "-n": "nqn",
    "--nqn": "nqn",
    "-q": "hostnqn",
    "--hostnqn": "hostnqn",
    "-S": "dhchap_secret",
    "--dhchap-secret": "dhchap_secret",
    "-l": "ctrl_loss_tmo",
    "--ctrl-loss-tmo": "ctrl_loss_tmo",
}


def _parse(args: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    it = iter(args)
    for a in it:
        key, eq, value = a.partition("=")
        if key not in OPTS:
            die(f"{a}: unknown option", 22)  # nvme-cli reports EINVAL for bad options
        out[OPTS[key]] = value if eq else next(it, "")
    return out


def _dirs() -> tuple[Path, Path]:
    sysfs = Path(os.environ.get("STORALLOC_FAKE_SYSFS") or state_dir() / "sysfs")
    dev = Path(os.environ.get("STORALLOC_FAKE_DEV") or state_dir() / "dev")
    sysfs.mkdir(parents=True, exist_ok=True)
    dev.mkdir(parents=True, exist_ok=True)
    return sysfs, dev


def _configfs_allows(root: Path, o: dict[str, str], host: str) -> bool:
    sub = root / "subsystems" / o["nqn"]
    if not sub.is_dir():
        return False
    enabled = any((n / "enable").read_text().strip() == "1" for n in (sub / "namespaces").iterdir())
    any_host = (sub / "attr_allow_any_host").read_text().strip() == "1"
    allowed = any_host or (sub / "allowed_hosts" / host).exists()
    key_file = root / "hosts" / host / "dhchap_key"
    key = key_file.read_text().strip() if key_file.exists() else ""
    if key and allowed and o.get("dhchap_secret") != key:
        # DH-HMAC-CHAP fails; Linux 6.12 + nvme-cli 2.3 as seen in tests/vm (ENOKEY/EKEYREJECTED)
        given = o.get("dhchap_secret")
        why = "Key was rejected by service" if given else "Required key not available"
        die(f"Failed to write to /dev/nvme-fabrics: {why}\n{CONNECT_FAILED.splitlines()[1]}", 1)
    for port in (root / "ports").iterdir():
        addr = [(port / f"addr_{k}").read_text().strip() for k in ("trtype", "traddr", "trsvcid")]
        linked = (port / "subsystems" / o["nqn"]).exists()
        if linked and addr == [o["transport"], o["traddr"], o["trsvcid"]]:
            return enabled and allowed
    return False


def _nvmetcli_allows(state: dict, o: dict[str, str], host: str) -> bool:
    for sub in state.get("subsystems", []):
        if sub["nqn"] != o["nqn"]:
            continue
        enabled = any(int(n.get("enable", 0)) for n in sub.get("namespaces", []))
        any_host = str(sub.get("attr", {}).get("allow_any_host")) == "1"
        allowed = any_host or host in sub.get("allowed_hosts", [])
        for p in state.get("ports", []):
            a = p.get("addr", {})
            where = [a.get("trtype"), a.get("traddr"), str(a.get("trsvcid"))]
            if o["nqn"] in p.get("subsystems", []) and where == [
                o["transport"],
                o["traddr"],
                o["trsvcid"],
            ]:
                return enabled and allowed
    return False


def _target_allows(o: dict[str, str]) -> bool:
    host = o.get("hostnqn") or DEFAULT_HOSTNQN
    root = os.environ.get("STORALLOC_FAKE_CONFIGFS")
    if root:
        return _configfs_allows(Path(root), o, host)
    saved = state_dir() / "nvmetcli.json"
    if saved.exists():
        return _nvmetcli_allows(load_json(saved, {}), o, host)
    return True


def _make_device(path: Path, delay: float) -> None:
    if delay <= 0:
        path.touch()
        return
    # The kernel publishes the namespace after connect returns: do it from a detached child
    # that holds none of our pipes, so the caller's wait on our output ends right away.
    if os.fork() == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        time.sleep(delay)
        path.touch()
        os._exit(0)


def connect(args: list[str], fail: bool) -> None:
    """nvme connect -t TR -a ADDR -s SVCID -n NQN [-q HOSTNQN]."""
    o = _parse(args)
    for key in ("transport", "nqn"):
        if not o.get(key):
            die(f"required argument [--{key} | -{key[0]}] not specified", 22)
    o.setdefault("trsvcid", "4420")
    sysfs, dev = _dirs()
    for d in sysfs.glob("nvme-subsys*"):
        if (d / "subsysnqn").read_text().strip() == o["nqn"]:
            die("already connected", 1)
    if fail or not _target_allows(o):
        die(CONNECT_FAILED, 1)
    k = 0
    while (sysfs / f"nvme-subsys{k}").exists():
        k += 1
    sub = sysfs / f"nvme-subsys{k}"
    sub.mkdir()
    (sub / "subsysnqn").write_text(o["nqn"] + "\n")
    (sub / f"nvme{k}").mkdir()
    if os.environ.get("STORALLOC_FAKE_NO_DEVICE"):
        return
    where = sub
    if os.environ.get("STORALLOC_FAKE_MULTIPATH") == "N":
        where = _ctrl_sysfs() / f"nvme{k}"
        where.mkdir(parents=True)
        (where / "subsysnqn").write_text(o["nqn"] + "\n")
    (where / f"nvme{k}n1").mkdir()
    _make_device(dev / f"nvme{k}n1", float(os.environ.get("STORALLOC_FAKE_DEVICE_DELAY", 0)))


def _ctrl_sysfs() -> Path:
    return Path(os.environ.get("STORALLOC_FAKE_CTRL_SYSFS") or state_dir() / "ctrl-sysfs")


def disconnect(args: list[str], fail: bool) -> None:
    """nvme disconnect -n NQN (exit 0 even when nothing was connected)."""
    o = _parse(args)
    if not o.get("nqn"):
        die("need a device (-d) or NQN (-n) argument", 22)
    sysfs, dev = _dirs()
    count = 0
    for d in sorted(sysfs.glob("nvme-subsys*")):
        if (d / "subsysnqn").read_text().strip() != o["nqn"]:
            continue
        if fail:
            die(f"Failed to disconnect {d.name[len('nvme-subsys') :]}: Device or resource busy", 16)
        ctrl = _ctrl_sysfs() / d.name.replace("nvme-subsys", "nvme")
        for ns in [*d.glob("nvme*n*"), *ctrl.glob("nvme*n*")]:
            (dev / ns.name).unlink(missing_ok=True)
            ns.rmdir()
        if ctrl.is_dir():
            (ctrl / "subsysnqn").unlink()
            ctrl.rmdir()
        for child in d.iterdir():
            child.rmdir() if child.is_dir() else child.unlink()
        d.rmdir()
        count += 1
    print(f"NQN:{o['nqn']} disconnected {count} controller(s)")


def main() -> None:
    """Dispatch `nvme connect` / `nvme disconnect`."""
    args, fail = start("nvme")
    if not args or args[0] not in ("connect", "disconnect"):
        die(f"fake nvme: unsupported command {args[:1]}", 1)
    (connect if args[0] == "connect" else disconnect)(args[1:], fail)
    sys.exit(0)
