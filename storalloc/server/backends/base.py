"""Backend contract (ExportSpec, Backend, BackendError) and NQN / export-id helpers."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from storalloc.nqn import NQN_MAX_BYTES as NQN_MAX_BYTES
from storalloc.nqn import check_length
from storalloc.nqn import validate_hostnqn as validate_hostnqn

#: Default prefix of export NQNs (server config key `nqn_prefix`).
DEFAULT_NQN_PREFIX = "nqn.2026-11.io.storalloc"

# nqn.yyyy-mm.<reverse domain>[:<user string>]; the domain needs at least two labels.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_PREFIX_RE = re.compile(
    rf"^nqn\.(?P<year>\d{{4}})-(?P<month>\d{{2}})\.{_LABEL}(?:\.{_LABEL})+(?::[A-Za-z0-9._:-]+)?$"
)
_EXPORT_ID_RE = re.compile(r"^j(?P<job>\d+)-p(?P<part>\d+)-[0-9a-f]{6}$")
_SAFE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class BackendError(Exception):
    """A storage backend operation failed; the message says what, where and why."""


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What the server asks a backend to export (see doc/architecture.md)."""

    export_id: str  # unique on the node; safe chars [a-z0-9-]
    nqn: str  # subsystem NQN chosen by the server (make_nqn)
    disk: Any  # storalloc.config.loader.DiskConfig (path, carving, mountpoint, vg, ...)
    disk_index: int
    size_gb: float
    hostnqn: str | None  # client's host NQN; None only if allow_any_host


@runtime_checkable
class Backend(Protocol):
    """A storage backend of one storage node."""

    def create(self, spec: ExportSpec) -> dict[str, object]:
        """Carve and export; return connection info. Rolls back and raises BackendError."""
        ...

    def delete(self, export_id: str) -> None:
        """Tear down an export and free its space; deleting an unknown id is not an error."""
        ...

    def list_exports(self) -> list[str]:
        """Export ids that Storalloc created on this node (survives a server restart)."""
        ...


def validate_nqn_prefix(prefix: str) -> str:
    """Return `prefix` if it is `nqn.yyyy-mm.reverse.domain[:more]`, else raise ValueError."""
    m = _PREFIX_RE.match(prefix)
    if not m or not 1 <= int(m["month"]) <= 12:
        raise ValueError(
            f"invalid NQN prefix {prefix!r}: expected 'nqn.yyyy-mm.reverse.domain' "
            "(lower-case domain labels, month 01-12), e.g. 'nqn.2026-11.io.storalloc'"
        )
    return prefix


def nqn_hostname(hostname: str) -> str:
    """Hostname as used inside NQNs: lower case, anything but [a-z0-9.-] replaced by '-'."""
    name = re.sub(r"[^a-z0-9.-]", "-", hostname.strip().lower()).strip(".-")
    if not name:
        raise ValueError(f"hostname {hostname!r} has no usable characters for an NQN")
    return name


def make_nqn(prefix: str, hostname: str, export_id: str) -> str:
    """Subsystem NQN `<prefix>:<hostname>:<export_id>`, validated against the NVMe rules."""
    validate_nqn_prefix(prefix)
    validate_export_id(export_id)
    return check_length(f"{prefix}:{nqn_hostname(hostname)}:{export_id}")


def nqn_owner_prefix(prefix: str, hostname: str) -> str:
    """The part of our NQNs before the export id: identifies exports made by this node."""
    return f"{validate_nqn_prefix(prefix)}:{nqn_hostname(hostname)}:"


def export_id_from_nqn(nqn: str, prefix: str, hostname: str) -> str | None:
    """Export id of one of our NQNs, or None if the NQN was not made by this node."""
    owner = nqn_owner_prefix(prefix, hostname)
    if not nqn.startswith(owner):
        return None
    rest = nqn[len(owner) :]
    return rest if _SAFE_ID_RE.match(rest) else None


def validate_export_id(export_id: str) -> str:
    """Return `export_id` if it is safe as a file/LV/configfs name, else raise ValueError."""
    if not isinstance(export_id, str) or not _SAFE_ID_RE.match(export_id):
        raise ValueError(
            f"invalid export id {export_id!r}: expected 1-64 chars of [a-z0-9-], "
            "starting with a letter or digit"
        )
    return export_id


def export_id_for(job_id: int, part: int) -> str:
    """A fresh export id for part `part` of job `job_id`, e.g. `j12-p0-3fa94c`.

    The random suffix keeps ids unique even when job ids restart from 0 after an orchestrator
    restart while old exports still exist.
    """
    if job_id < 0 or part < 0:
        raise ValueError(f"job id and part must be >= 0, got job {job_id}, part {part}")
    return f"j{job_id}-p{part}-{secrets.token_hex(3)}"


def parse_export_id(export_id: str) -> tuple[int, int]:
    """(job_id, part) of an id made by `export_id_for`; ValueError for anything else."""
    m = _EXPORT_ID_RE.match(export_id)
    if not m:
        raise ValueError(
            f"not a Storalloc export id: {export_id!r} (expected 'j<job>-p<part>-<6 hex>')"
        )
    return int(m["job"]), int(m["part"])


def is_export_id(name: str) -> bool:
    """True if `name` looks like an id made by `export_id_for` (used to spot our leftovers)."""
    return bool(_EXPORT_ID_RE.match(name))


def validate_spec(spec: ExportSpec, prefix: str, hostname: str, allow_any_host: bool) -> None:
    """Raise BackendError unless `spec` is safe to export on this node."""
    try:
        validate_export_id(spec.export_id)
        if spec.hostnqn is not None:
            validate_hostnqn(spec.hostnqn)
    except ValueError as exc:
        raise BackendError(str(exc)) from exc
    if export_id_from_nqn(spec.nqn, prefix, hostname) != spec.export_id:
        raise BackendError(
            f"NQN {spec.nqn!r} was not made by make_nqn({prefix!r}, "
            f"{hostname!r}, {spec.export_id!r}): list_exports/delete would miss it"
        )
    if spec.hostnqn is None and not allow_any_host:
        raise BackendError(
            f"export {spec.export_id}: the client sent no host NQN and allow_any_host is "
            "off; pass --hostnqn or create /etc/nvme/hostnqn on the client"
        )
