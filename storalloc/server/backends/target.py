"""The NVMe target driver interface (configfs, nvmetcli) and a rollback helper."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

log = logging.getLogger("storalloc.server.backends")


@dataclass(frozen=True, slots=True)
class TargetPort:
    """Where exports listen: an nvmet port's address."""

    trtype: str = "tcp"
    adrfam: str = "ipv4"
    traddr: str = "127.0.0.1"
    trsvcid: str = "4420"

    def same_address(self, trtype: str | None, traddr: str | None, trsvcid: str | None) -> bool:
        """True if an existing port listens on this port's transport/address/service id."""
        return (trtype, traddr, trsvcid) == (self.trtype, self.traddr, self.trsvcid)


@dataclass(frozen=True, slots=True)
class Namespace:
    """The single namespace of one export."""

    device_path: str
    buffered_io: bool = False


def port_from_node(node: Any) -> TargetPort:
    """The nvmet port of a NodeConfig-like object (ipv4 + transport{trtype,trsvcid,adrfam})."""
    t = getattr(node, "transport", None)
    return TargetPort(
        trtype=str(getattr(t, "trtype", None) or "tcp"),
        adrfam=str(getattr(t, "adrfam", None) or "ipv4"),
        traddr=str(getattr(node, "ipv4", None) or "127.0.0.1"),
        trsvcid=str(getattr(t, "trsvcid", None) or 4420),
    )


def port_for_disk(node: Any, disk: Any) -> TargetPort:
    """The node's port, with the disk's own `traddr` / `trsvcid` if it has them (e.g. one
    NIC per disk, or one port per disk so that a port maps to a failure domain)."""
    base = port_from_node(node)
    traddr = getattr(disk, "traddr", None) or base.traddr
    trsvcid = getattr(disk, "trsvcid", None) or base.trsvcid
    return replace(base, traddr=str(traddr), trsvcid=str(trsvcid))


class TargetDriver(Protocol):
    """Creates and removes NVMe-oF subsystems on the local kernel target (nvmet)."""

    name: str

    def check(self) -> None:
        """Raise BackendError naming the fix if the driver cannot work here."""
        ...

    def export(
        self,
        nqn: str,
        ns: Namespace,
        hostnqn: str | None,
        *,
        allow_any_host: bool,
        dhchap_key: str | None = None,
        port: TargetPort | None = None,
    ) -> str | None:
        """Create subsystem `nqn` with `ns`, restricted to `hostnqn`, linked to the port.

        With `dhchap_key` the host must authenticate; returns the key in force. `port`
        (default: the driver's) is where it listens. Leaves nothing behind on failure.
        """
        ...

    def unexport(self, nqn: str) -> list[str]:
        """Remove subsystem `nqn` and its links; return the device paths it exported."""
        ...

    def list_nqns(self) -> list[str]:
        """NQNs of all subsystems currently configured."""
        ...

    def supports_dhchap(self) -> bool:
        """True if the kernel target can authenticate hosts (DH-HMAC-CHAP)."""
        ...

    def clean_stale_hosts(self) -> list[str]:
        """Remove host entries that no subsystem allows; return their NQNs."""
        ...


class Undo:
    """A stack of compensating actions, run newest first when a multi-step change fails."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, action: Callable[[], object]) -> None:
        """Remember how to undo the step that just succeeded."""
        self._steps.append((what, action))

    def rollback(self) -> list[str]:
        """Run all undo steps (newest first); return messages of those that failed."""
        failures = []
        while self._steps:
            what, action = self._steps.pop()
            try:
                action()
            except Exception as exc:  # keep undoing: one stuck step must not strand the rest
                log.warning("rollback: could not %s: %s", what, exc)
                failures.append(f"{what}: {exc}")
        return failures
