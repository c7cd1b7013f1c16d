"""NVMe target driver built on a released nvmetcli: save the state, merge our change, restore.

A released nvmetcli only has `save`, `restore`, `clear` and `ls`, and `restore` first removes
every port, subsystem and host. So each change is: `nvmetcli save` to a temp file, edit that
JSON, `nvmetcli restore` it, then `nvmetcli save` again to verify (restore exits 0 even when it
only printed "..., skipped" for a failed attribute). Any failure restores the saved state.
The price: every change briefly drops all exports of the node; connected hosts reconnect
on their own (nvme-tcp retries for ctrl-loss-tmo, 600 s by default), so I/O stalls, not fails.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any, NoReturn

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.target import Namespace, TargetPort
from storalloc.server.runner import CommandError, Runner, tail

State = dict[str, Any]
NSID = 1


def empty_state() -> State:
    """What `nvmetcli save` writes for a target with nothing configured."""
    return {"hosts": [], "ports": [], "subsystems": []}


def _port_matches(p: dict[str, Any], port: TargetPort) -> bool:
    addr = p.get("addr", {})
    return port.same_address(addr.get("trtype"), addr.get("traddr"), str(addr.get("trsvcid")))


def add_export(
    state: State,
    nqn: str,
    ns: Namespace,
    hostnqn: str | None,
    allow_any_host: bool,
    port: TargetPort,
) -> State:
    """`state` plus our subsystem, its host entry and a link on the (maybe new) port."""
    state = copy.deepcopy(state)
    for key in ("hosts", "ports", "subsystems"):
        state.setdefault(key, [])
    allowed = [] if allow_any_host else [hostnqn]
    if not allow_any_host and not any(h.get("nqn") == hostnqn for h in state["hosts"]):
        state["hosts"].append({"nqn": hostnqn})
    state["subsystems"].append(
        {
            "nqn": nqn,
            "attr": {"allow_any_host": "1" if allow_any_host else "0"},
            "allowed_hosts": allowed,
            "namespaces": [{"nsid": NSID, "enable": 1, "device": {"path": ns.device_path}}],
        }
    )
    for p in state["ports"]:
        if _port_matches(p, port):
            p.setdefault("subsystems", []).append(nqn)
            return state
    used = {int(p.get("portid", 0)) for p in state["ports"]}
    portid = min(set(range(1, len(used) + 2)) - used)
    addr = {
        "trtype": port.trtype,
        "adrfam": port.adrfam,
        "traddr": port.traddr,
        "trsvcid": port.trsvcid,
    }
    state["ports"].append(
        {
            "portid": portid,
            "addr": addr,
            "param": {},
            "subsystems": [nqn],
            "referrals": [],
            "ana_groups": [],
        }
    )
    return state


def remove_export(state: State, nqn: str, port: TargetPort) -> tuple[State, list[str], bool]:
    """(`state` without our subsystem, the device paths it had, whether anything changed)."""
    state = copy.deepcopy(state)
    changed = False
    paths: list[str] = []
    hosts: list[str] = []
    for sub in [s for s in state.get("subsystems", []) if s.get("nqn") == nqn]:
        state["subsystems"].remove(sub)
        changed = True
        hosts += sub.get("allowed_hosts", [])
        paths += [n.get("device", {}).get("path") for n in sub.get("namespaces", [])]
    for p in list(state.get("ports", [])):
        if nqn in p.get("subsystems", []):
            p["subsystems"].remove(nqn)
            changed = True
            if not p["subsystems"] and not p.get("referrals") and _port_matches(p, port):
                state["ports"].remove(p)
    still_used = {h for s in state.get("subsystems", []) for h in s.get("allowed_hosts", [])}
    state["hosts"] = [
        h for h in state.get("hosts", []) if h.get("nqn") not in set(hosts) - still_used
    ]
    return state, [p for p in paths if p], changed


def export_problems(
    state: State,
    nqn: str,
    ns: Namespace,
    hostnqn: str | None,
    allow_any_host: bool,
    port: TargetPort,
) -> list[str]:
    """What is missing from `state` for our export to be complete (empty list = all good)."""
    subs = [s for s in state.get("subsystems", []) if s.get("nqn") == nqn]
    if not subs:
        return [f"subsystem {nqn} is missing"]
    sub, problems = subs[0], []
    if not any(
        n.get("device", {}).get("path") == ns.device_path and int(n.get("enable", 0)) == 1
        for n in sub.get("namespaces", [])
    ):
        problems.append(f"namespace with device {ns.device_path} is missing or not enabled")
    want = "1" if allow_any_host else "0"
    if str(sub.get("attr", {}).get("allow_any_host", want)) != want:
        problems.append(f"allow_any_host is not {want}")
    if not allow_any_host and hostnqn not in sub.get("allowed_hosts", []):
        problems.append(f"host {hostnqn} is not allowed")
    if not any(
        _port_matches(p, port) and nqn in p.get("subsystems", []) for p in state.get("ports", [])
    ):
        problems.append(f"no port on {port.trtype} {port.traddr}:{port.trsvcid} links it")
    return problems


def removal_problems(state: State, nqn: str) -> list[str]:
    """What is left of `nqn` in `state` after a removal (empty list = gone)."""
    problems = []
    if any(s.get("nqn") == nqn for s in state.get("subsystems", [])):
        problems.append(f"subsystem {nqn} is still there")
    if any(nqn in p.get("subsystems", []) for p in state.get("ports", [])):
        problems.append(f"a port still links {nqn}")
    return problems


class NvmetcliDriver:
    """Target driver that goes through `nvmetcli save` / `nvmetcli restore`."""

    name = "nvmetcli"

    def __init__(self, port: TargetPort, *, runner: Runner, command: str = "nvmetcli") -> None:
        self.port = port
        self.runner = runner
        self.command = command

    def check(self) -> None:
        """Fail clearly if nvmetcli is not installed."""
        if not self.runner.dry_run and self.runner.which(self.command) is None:
            raise BackendError(
                f"{self.command} not found on PATH: install nvmetcli or set driver: configfs"
            )

    def _run(self, *args: str) -> str:
        try:
            return self.runner.run([self.command, *args]).stdout
        except CommandError as exc:
            raise BackendError(str(exc)) from exc

    def save(self) -> State:
        """The current target state, from `nvmetcli save`."""
        with tempfile.TemporaryDirectory(prefix="storalloc-nvmetcli-") as d:
            path = os.path.join(d, "saved.json")
            self._run("save", path)
            if self.runner.dry_run:
                return empty_state()
            try:
                with open(path, encoding="utf-8") as f:
                    state = json.load(f)
            except (OSError, ValueError) as exc:
                what = f"nvmetcli save wrote no readable JSON to {path}"
                raise BackendError(f"{what}: {exc}") from exc
        if not isinstance(state, dict):
            raise BackendError(f"nvmetcli save: expected a JSON object, got {type(state).__name__}")
        return state

    def restore(self, state: State) -> str:
        """Replace the whole target state with `state`; return nvmetcli's output."""
        with tempfile.TemporaryDirectory(prefix="storalloc-nvmetcli-") as d:
            path = os.path.join(d, "restore.json")
            text = json.dumps(state, indent=2, sort_keys=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            self.runner.note(f"{path} holds: {json.dumps(state, sort_keys=True)}")
            return self._run("restore", path)

    def _apply(self, before: State, after: State, problems: Callable[[State], list[str]]) -> None:
        try:
            out = self.restore(after)
        except BackendError as exc:
            self._roll_back(before, exc)
        if self.runner.dry_run:
            return
        try:
            issues = problems(self.save())
        except BackendError as exc:
            self._roll_back(before, exc)
        if issues:
            said = f"; nvmetcli said: {tail(out)}" if out.strip() else ""
            self._roll_back(
                before,
                BackendError(f"nvmetcli restore exited 0 but {'; '.join(issues)}{said}"),
            )

    def _roll_back(self, before: State, exc: BackendError) -> NoReturn:
        try:
            self.restore(before)
        except BackendError as again:
            what = "restoring the previous target state failed too"
            raise BackendError(f"{exc}; {what}: {again}") from exc
        raise exc

    def export(self, nqn: str, ns: Namespace, hostnqn: str | None, *, allow_any_host: bool) -> None:
        """Add our subsystem to the saved state and restore it; verify, roll back on failure."""
        self.check()
        if ns.buffered_io:
            raise BackendError(
                f"nvmetcli cannot set buffered_io, needed for {ns.device_path} (tmpfs has no "
                "O_DIRECT): use driver configfs, or put the backing files on ext4/xfs"
            )
        if hostnqn is None and not allow_any_host:
            raise BackendError(f"export {nqn}: no host NQN given and allow_any_host is off")
        before = self.save()
        if any(s.get("nqn") == nqn for s in before.get("subsystems", [])):
            raise BackendError(f"nvmetcli: subsystem {nqn} already exists")
        after = add_export(before, nqn, ns, hostnqn, allow_any_host, self.port)
        self._apply(
            before,
            after,
            lambda st: export_problems(st, nqn, ns, hostnqn, allow_any_host, self.port),
        )

    def unexport(self, nqn: str) -> list[str]:
        """Drop our subsystem (and unused host/port) from the state; no-op if absent."""
        self.check()
        before = self.save()
        after, paths, changed = remove_export(before, nqn, self.port)
        if changed:
            self._apply(before, after, lambda st: removal_problems(st, nqn))
        return paths

    def list_nqns(self) -> list[str]:
        """NQNs of all subsystems in the saved state."""
        return sorted(s["nqn"] for s in self.save().get("subsystems", []) if "nqn" in s)
