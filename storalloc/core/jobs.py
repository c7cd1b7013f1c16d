"""A storage job (one request, its lease, its parts) and its states."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from storalloc.core.cluster import Extent
from storalloc.core.timers import Timer


class State(enum.StrEnum):
    """Job states, named after Slurm's where the meaning is the same."""

    PENDING = "PENDING"  # waiting for its planned start (or for a node to come up)
    CONFIGURING = "CONFIGURING"  # servers are carving and exporting its parts
    ALLOCATED = "ALLOCATED"  # granted; the lease runs until `end`
    COMPLETED = "COMPLETED"  # the lease ran out
    CANCELLED = "CANCELLED"  # released or cancelled by its owner or an admin
    FAILED = "FAILED"  # servers could not set it up
    REFUSED = "REFUSED"  # could never fit, or not granted in time (--immediate)


ACTIVE = frozenset({State.PENDING, State.CONFIGURING, State.ALLOCATED})
NODE_DOWN = "NODE_DOWN"  # shown instead of the state when a node holding a part is down


def split_parts(size: float, stripes: int, block_size: float) -> tuple[float, ...]:
    """Equal parts: at least `stripes`, and none larger than `block_size` (0 = no limit).

    Equal parts keep stripes balanced; the prototype's blocks-plus-remainder left a small
    tail part that striping cannot use well.
    """
    count = max(stripes, math.ceil(size / block_size - 1e-9) if block_size > 0 else 1)
    return (size / count,) * count


@dataclass(slots=True, eq=False)
class Job:
    id: int
    user: str
    size: float  # GB, all parts together
    duration: float  # seconds
    submit: float
    begin: float  # earliest start asked for (submit time when none)
    parts: tuple[float, ...]
    client: Any = None  # opaque reply address of the submitting client
    request_id: str = ""
    hostnqn: str | None = None
    immediate: float | None = None
    trace_id: str | None = None
    quiet: bool = False  # trace submissions get one acknowledgement, no progress notices
    state: State = State.PENDING
    start: float | None = None  # planned start while PENDING, then the actual one
    extents: tuple[Extent, ...] = ()
    exports: list[str | None] = field(default_factory=list)
    connections: list[dict | None] = field(default_factory=list)
    reason: str = ""  # why it ended, for people
    reason_code: str = ""  # the same, stable, for scripts and reports
    granted_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0
    excluded: set[tuple[int, int]] = field(default_factory=set)
    timers: list[Timer] = field(default_factory=list)

    @property
    def end(self) -> float | None:
        return None if self.start is None else self.start + self.duration

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
