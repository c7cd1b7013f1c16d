"""Fake of a released nvmetcli (v0.8): `save [FILE]`, `restore [FILE]`, `clear`, `ls`.

The target state lives in `$STORALLOC_FAKE_STATE/nvmetcli.json`. `restore` behaves like the
real one: it clears everything first; a namespace that cannot be enabled (device missing) or a
host link to an unknown host aborts halfway with a traceback and exit 1; a missing file is
"ok" with exit 0. Extra environment:
  STORALLOC_FAKE_NVMETCLI_SKIP  substring of NQNs whose allowed_hosts are "skipped" (dropped,
                                message printed, exit 0), like a failed attribute write
An injected failure (STORALLOC_FAKE_FAIL=nvmetcli:restore) also aborts halfway. With
STORALLOC_FAKE_CONFIGFS set, `save` and `ls` read that (fake) configfs tree instead, as the real
one reads the kernel's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fakelib import die, load_json, save_json, start, state_dir

DEFAULT_FILE = "/etc/nvmet/config.json"


def _state_file() -> Path:
    return state_dir() / "nvmetcli.json"


def _empty() -> dict:
    return {"hosts": [], "ports": [], "subsystems": []}


def _abort(partial: dict, message: str) -> None:
    save_json(_state_file(), partial)
    die(
        "Traceback (most recent call last):\n"
        '  File "/usr/sbin/nvmetcli", line 1, in <module>\n'
        f"nvmet.nvme.CFSError: {message}",
        1,
    )


def _restore_subsystem(sub: dict, partial: dict, host_nqns: set[str]) -> list[str]:
    """Add one subsystem to `partial` the way nvmetcli does; return "skipped" messages."""
    nqn = sub["nqn"]
    made = {"nqn": nqn, "attr": dict(sub.get("attr", {})), "allowed_hosts": [], "namespaces": []}
    partial["subsystems"].append(made)
    for ns in sub.get("namespaces", []):
        path = ns.get("device", {}).get("path", "")
        made["namespaces"].append({**ns, "enable": 0})
        if ns.get("enable") and not os.path.exists(path):
            _abort(
                partial,
                f"Cannot enable /sys/kernel/config/nvmet/subsystems/{nqn}/"
                f"namespaces/{ns.get('nsid')}: [Errno 2] No such file or directory (1)",
            )
        made["namespaces"][-1]["enable"] = int(ns.get("enable", 0))
    skip = os.environ.get("STORALLOC_FAKE_NVMETCLI_SKIP")
    for host in sub.get("allowed_hosts", []):
        if host not in host_nqns:
            _abort(partial, f"Could not symlink {host} in configFS: [Errno 2] No such file")
        if skip and skip in nqn:
            return [f"Cannot set attribute allowed_hosts of {nqn}, skipped"]
        made["allowed_hosts"].append(host)
    return []


def restore(path: str, fail: bool) -> None:
    """Clear everything, then recreate hosts, subsystems and ports from `path`."""
    try:
        config = json.loads(Path(path).read_text())
    except FileNotFoundError:
        print(f"No saved config file at {path}, ok, exiting")
        sys.exit(0)
    partial = _empty()
    partial["hosts"] = [dict(h) for h in config.get("hosts", [])]
    if fail:
        _abort(partial, "Cannot enable namespace: [Errno 5] Input/output error (1)")
    host_nqns = {h["nqn"] for h in partial["hosts"]}
    messages = []
    for sub in config.get("subsystems", []):
        messages += _restore_subsystem(sub, partial, host_nqns)
    names = {s["nqn"] for s in partial["subsystems"]}
    for port in config.get("ports", []):
        for nqn in port.get("subsystems", []):
            if nqn not in names:
                _abort(partial, f"Could not symlink {nqn} in configFS: [Errno 2] No such file")
        partial["ports"].append(json.loads(json.dumps(port)))
    save_json(_state_file(), partial)
    for m in messages:
        print(m)


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _from_configfs(root: Path) -> dict:
    """What the real `save` reads: the live configfs tree (subset of attributes)."""
    hosts = [{"nqn": h.name} for h in sorted((root / "hosts").iterdir())]
    subsystems = []
    for sub in sorted((root / "subsystems").iterdir()):
        namespaces = [
            {"nsid": int(ns.name), "enable": int(_read(ns / "enable") or 0),
             "device": {"path": _read(ns / "device_path")}}
            for ns in sorted((sub / "namespaces").iterdir())
        ]  # fmt: skip
        subsystems.append({
            "nqn": sub.name, "attr": {"allow_any_host": _read(sub / "attr_allow_any_host")},
            "allowed_hosts": sorted(h.name for h in (sub / "allowed_hosts").iterdir()),
            "namespaces": namespaces,
        })  # fmt: skip
    ports = []
    for port in sorted((root / "ports").iterdir()):
        addr = {k: _read(port / f"addr_{k}") for k in ("trtype", "adrfam", "traddr", "trsvcid")}
        ports.append({"portid": int(port.name), "addr": addr, "param": {}, "referrals": [],
                      "subsystems": sorted(s.name for s in (port / "subsystems").iterdir()),
                      "ana_groups": []})  # fmt: skip
    return {"hosts": hosts, "ports": ports, "subsystems": subsystems}


def main() -> None:
    """Dispatch like nvmetcli's command line."""
    args, fail = start("nvmetcli")
    if not args or args[0] not in ("save", "restore", "clear", "ls") or len(args) > 2:
        print("syntax: nvmetcli save [file_to_save_to]\n        nvmetcli restore [file]")
        sys.exit(255)
    cmd, path = args[0], (args[1] if len(args) == 2 else DEFAULT_FILE)
    state = load_json(_state_file(), _empty())
    live = os.environ.get("STORALLOC_FAKE_CONFIGFS")
    if live:  # the real nvmetcli reads and writes the kernel's tree
        state = _from_configfs(Path(live))
    if cmd == "save":
        if fail:
            die(f"PermissionError: [Errno 13] Permission denied: '{path}.temp'", 1)
        save_json(Path(path), state)
    elif cmd == "restore":
        restore(path, fail)
    elif cmd == "clear":
        save_json(_state_file(), _empty())
    else:
        print("o- /")
        for s in state["subsystems"]:
            print(f"  o- {s['nqn']}")
    sys.exit(0)
