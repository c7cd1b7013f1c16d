"""A storage job (one request, its lease, its parts) and its states."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from storalloc.core.cluster import Extent
from storalloc.core.timers import Timer

#: More parts than this in one request is a mistake (or an attack), not a workload: refusing
#: it before building the parts keeps a 1e7 GB request with a tiny block size cheap.
MAX_PARTS = 4096


class State(enum.StrEnum):
    """Job states, named after Slurm's where the meaning is the same."""

    PENDING = "PENDING"  # waiting for its planned start (or for a node to come up)
    CONFIGURING = "CONFIGURING"  # servers are carving and exporting its parts
    ALLOCATED = "ALLOCATED"  # granted; the lease runs until `end`
    COMPLETED = "COMPLETED"  # the lease ran out
    CANCELLED = "CANCELLED"  # released or cancelled by its owner or an admin
    FAILED = "FAILED"  # could not be set up, ended before setup, or its node was lost
    REFUSED = "REFUSED"  # could never fit, or not granted in time (--immediate)


_SHED: tuple = ()  # shared by every shed job: nothing is ever added to an ended job
_SHED_SET: frozenset = frozenset()

ACTIVE = frozenset({State.PENDING, State.CONFIGURING, State.ALLOCATED})
# The states read on every job's path, bound once: on CPython 3.11 reading an enum member
# through its class costs four times a global (the enum metaclass defines __getattr__),
# and the scheduler reads about ten a job (events too: storalloc.core.lifecycle).
PENDING, CONFIGURING, ALLOCATED = State.PENDING, State.CONFIGURING, State.ALLOCATED
SET_UP = frozenset({CONFIGURING, ALLOCATED})  # parts being set up, or set up
NODE_DOWN = "NODE_DOWN"  # shown instead of the state when a node holding a part is down


def part_count(size: float, stripes: int, block_size: float) -> int:
    """How many equal parts a request becomes: at least `stripes`, none over `block_size`."""
    if block_size <= 0:
        return stripes
    return max(stripes, math.ceil(size / block_size - 1e-9))


def split_parts(size: float, stripes: int, block_size: float) -> tuple[float, ...]:
    """Equal parts (see part_count). Equal parts keep stripes balanced; the prototype's
    blocks-plus-remainder left a small tail part that striping cannot use well."""
    count = part_count(size, stripes, block_size)
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
    attempts: list[int] = field(default_factory=list)  # allocate messages sent, per part
    failures: int = 0  # setups that failed, all parts together
    retry_at: float | None = None  # set while waiting out a backoff after a failed setup
    waiting_for: str = ""  # why a PENDING job has no planned start
    reason: str = ""  # why it ended, for people
    reason_code: str = ""  # the same, stable, for scripts and reports
    granted_at: float | None = None
    ended_at: float | None = None
    excluded: set[tuple[int, int]] = field(default_factory=set)
    timers: list[Timer] = field(default_factory=list)

    @property
    def end(self) -> float | None:
        return None if self.start is None else self.start + self.duration

    @property
    def granted(self) -> bool:
        return self.granted_at is not None

    def reset_parts(self) -> None:
        """Forget exports and connections (attempt numbers go on, so late replies from
        earlier attempts are recognised)."""
        count = len(self.parts)
        self.exports = [None] * count
        self.connections = [None] * count
        if len(self.attempts) != count:
            self.attempts = [0] * count

    def shed(self) -> None:
        """Let go of what only a live job uses (exports, connections, attempt numbers,
        excluded disks, timers): a replay keeps every ended job for its report, a million
        of them in one process, and the report reads none of these."""
        self.exports = self.connections = self.attempts = _SHED  # type: ignore[assignment]
        self.excluded = _SHED_SET  # type: ignore[assignment]
        self.timers = _SHED  # type: ignore[assignment]

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
