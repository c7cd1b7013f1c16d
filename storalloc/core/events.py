"""What the core tells the outside world: domain events, not wire messages.

The scheduler hands each event to one `emit` callable. The orchestrator's wire adapter
turns them into messages for clients and servers; the simulator answers part requests at
once and ignores the rest; tests record them.
"""

from __future__ import annotations

from dataclasses import dataclass

from storalloc.core.cluster import Node
from storalloc.core.jobs import Job


@dataclass(frozen=True, slots=True)
class JobNotice:
    """Progress for the job's client (salloc's 'Pending job allocation N' lines)."""

    job: Job
    text: str


@dataclass(frozen=True, slots=True)
class JobGranted:
    """Every part is exported: the client gets its connections."""

    job: Job


@dataclass(frozen=True, slots=True)
class JobEnded:
    """The job reached its final state (job.state, job.reason_code, job.reason). Emitted
    exactly once per job: a refusal if it was never granted, an end of lease if it was."""

    job: Job


@dataclass(frozen=True, slots=True)
class LeaseEnding:
    """The lease ends in `seconds` seconds: warn the client to stop its I/O."""

    job: Job
    seconds: float


# The two per-part events are not frozen: a frozen dataclass sets each field through
# object.__setattr__, three times the cost of building it on CPython 3.11, and a replay
# makes one of each per request. Nothing changes an event once it is emitted.
@dataclass(slots=True)
class PartRequested:
    """Ask the node of job.extents[part] to carve and export it (attempt job.attempts[part])."""

    job: Job
    part: int


@dataclass(slots=True)
class PartReleased:
    """Tell `node` to tear down an export (export_id None: whatever it made for the part)."""

    node: int
    job_id: int
    part: int
    export_id: str | None
    quiet: bool = False  # a trace job's part, set up by whoever answered its PartRequested


@dataclass(frozen=True, slots=True)
class NodeJoined:
    """A server (re)registered as `node`; it must keep exactly the exports in `hold`."""

    node: Node
    hold: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JobChanged:
    """A job's persistent fields changed (state, plan, exports): for stores and metrics."""

    job: Job
    old_state: str | None


Event = (
    JobNotice | JobGranted | JobEnded | LeaseEnding | PartRequested | PartReleased
    | NodeJoined | JobChanged
)
