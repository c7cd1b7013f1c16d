"""Messages between storage servers and the orchestrator (see doc/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from storalloc.wire.codec import (
    MAX_SIZE_GB,
    Message,
    ProtocolError,
    _positive,
    _printable,
    message,
)

# --- server ↔ orchestrator ------------------------------------------------------------------


@message("register")
@dataclass(frozen=True, slots=True)
class Register(Message):
    """A storage server announces its node (disks and bandwidths) and what it exports."""

    name: str
    hostname: str
    network_bw: float
    disks: list[dict]  # {capacity, write_bw, read_bw, model, path}
    exports: list[str] = field(default_factory=list)

    def check(self) -> None:
        _printable(self.kind, "name", self.name)
        _printable(self.kind, "hostname", self.hostname)
        _positive(self.kind, "network_bw", self.network_bw)
        if not self.disks:
            raise ProtocolError("bad_field", f"{self.kind}: a node needs at least one disk")
        for i, disk in enumerate(self.disks):
            for key in ("capacity", "write_bw", "read_bw"):
                value = disk.get(key)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ProtocolError(
                        "bad_field", f"{self.kind}: disks[{i}].{key} must be a number"
                    )
                _positive(self.kind, f"disks[{i}].{key}", value, MAX_SIZE_GB)
            for key in ("model", "path"):
                if isinstance(disk.get(key), str):
                    _printable(self.kind, f"disks[{i}].{key}", disk[key])


@message("registered")
@dataclass(frozen=True, slots=True)
class Registered(Message):
    """Welcome: the node's global number, and the exports it must keep (others go)."""

    node: int
    hold: list[str]
    heartbeat_interval: float


@message("reregister")
@dataclass(frozen=True, slots=True)
class Reregister(Message):
    """The orchestrator does not know this server (it restarted, or marked it down)."""

    reason: str


@message("heartbeat")
@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    name: str


@message("allocate")
@dataclass(frozen=True, slots=True)
class Allocate(Message):
    job_id: int
    part: int
    parts: int
    disk: int
    capacity: float  # GB
    duration: float  # minutes, as the seed prints it
    user: str
    hostnqn: str | None = None
    attempt: int = 1  # echoed in the answer, so a late answer to an earlier try is known


@message("deallocate")
@dataclass(frozen=True, slots=True)
class Deallocate(Message):
    job_id: int
    part: int
    export_id: str | None


@message("allocated")
@dataclass(frozen=True, slots=True)
class Allocated(Message):
    job_id: int
    part: int
    export_id: str
    connection: dict
    attempt: int = 1


@message("alloc_failed")
@dataclass(frozen=True, slots=True)
class AllocFailed(Message):
    job_id: int
    part: int
    reason: str
    attempt: int = 1
