"""What `--list`, `--show` and `--nodes` see: jobs and nodes described as plain dicts.

A mixin of `Scheduler` (storalloc.core.scheduler); it only reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from storalloc.core.cluster import Extent
from storalloc.core.jobs import ACTIVE, NODE_DOWN, Job, State

if TYPE_CHECKING:
    from storalloc.core.scheduler import Scheduler

#: A planned start this close to the asked begin is waiting for its begin, not for room.
_SAME_INSTANT = 1e-6


class SchedulerError(Exception):
    """A request about a job that cannot be served; `code` goes into the error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Queries:
    """Read-only views; `self` is the Scheduler."""

    def find(self: Scheduler, job_id: int) -> Job:
        job = self.jobs.get(job_id) or self.history.get(job_id)
        if job is None and self.archive is not None:
            job = self.archive.by_id(job_id)
        if job is None:
            raise SchedulerError("unknown_job", f"invalid job id specified: {job_id}")
        return job

    def _check_owner(self: Scheduler, job: Job, user: str) -> None:
        if user != job.user and user not in self.admins:
            raise SchedulerError(
                "permission_denied", f"permission denied: job {job.id} belongs to {job.user}"
            )

    def _owned(self: Scheduler, job_id: int, user: str) -> Job:
        job = self.find(job_id)
        self._check_owner(job, user)
        if job.state not in ACTIVE:
            raise SchedulerError(
                "job_ended", f"job {job_id} has already ended ({job.state.value})"
            )
        return job

    def show(self: Scheduler, job_id: int, user: str) -> dict[str, Any]:
        job = self.find(job_id)
        self._check_owner(job, user)
        info = self.describe(job)
        info["connections"] = [c for c in job.connections if c]
        return info

    def listing(self: Scheduler) -> list[dict[str, Any]]:
        return [self.describe(j) for j in sorted(self.jobs.values(), key=lambda j: j.id)]

    def nodes_info(self: Scheduler) -> list[dict[str, Any]]:
        """Every known node with its capacity and what is used on it now."""
        now = self.clock.now()
        return [
            {"node": n.index, "name": n.name, "hostname": n.hostname,
             "state": "DOWN" if not n.up else "DRAIN" if n.drained else "UP",
             "disks": len(n.disks),
             "capacity_gb": sum(d.capacity for d in n.disks),
             "used_gb": sum(d.usage.used_at(now) for d in n.disks),
             "network_bw": n.network_bw}
            for n in self.cluster.nodes if n.name  # removed nodes keep their slot, nameless
        ]  # fmt: skip

    def describe(self: Scheduler, job: Job) -> dict[str, Any]:
        """What --list and --show print about a job (no connection details)."""
        state = job.state.value
        if job.state in (State.CONFIGURING, State.ALLOCATED) and any(
            not self.cluster.nodes[e.node].up for e in job.extents
        ):
            state = NODE_DOWN
        return {
            "job_id": job.id, "user": job.user, "size_gb": job.size,
            "duration_s": job.duration, "state": state, "submit": job.submit,
            "begin": job.begin, "start": job.start, "end": job.end, "reason": job.reason,
            "reason_code": job.reason_code, "pending_reason": self.pending_reason(job),
            "waiting_for": job.waiting_for,
            "extents": [
                {"node": e.node, "node_name": self.cluster.nodes[e.node].name,
                 "disk": e.disk, "size_gb": e.size}
                for e in job.extents
            ],
        }  # fmt: skip

    def pending_reason(self: Scheduler, job: Job) -> str:
        """squeue's reason for a waiting job ('' for others): BeginTime when it waits for
        the start it asked for, Resources when for room, NodeDown when for a server,
        SetupRetry during the backoff after a failed setup."""
        if job.state is not State.PENDING:
            return ""
        if job.start is None:
            return "NodeDown"
        if job.retry_at is not None and job.start <= job.retry_at + _SAME_INSTANT:
            return "SetupRetry"
        if job.start <= job.begin + _SAME_INSTANT:
            return "BeginTime"
        return "Resources"

    def bars(self: Scheduler) -> Iterator[tuple[Job, Extent]]:
        """Every booked extent of active jobs, for the timeline."""
        for job in self.jobs.values():
            if job.start is not None:
                for ext in job.extents:
                    yield job, ext
