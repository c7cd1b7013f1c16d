"""What storage servers report about the parts they were asked to set up: an export made,
or a setup that failed.

A mixin of `Scheduler` (storalloc.core.scheduler): it decides which lifecycle event a
report is (a reply from an earlier attempt or another node is dropped) and fires it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from storalloc.core.jobs import CONFIGURING, SET_UP, Job
from storalloc.core.lifecycle import LAST_PART_ALLOCATED, Ev

if TYPE_CHECKING:
    from storalloc.core.scheduler import Scheduler

log = logging.getLogger("storalloc.core.scheduler")


class ServerReports:
    """Replies of servers; `self` is the Scheduler."""

    def _current_part(
        self: Scheduler, job_id: int, part: int, attempt: int, node: int
    ) -> Job | None:
        """The job if (part, attempt, node) is the part's current setup, else None."""
        job = self.jobs.get(job_id)
        if (
            job is None or job.state not in SET_UP
            or not 0 <= part < len(job.parts) or job.extents[part].node != node
            or job.attempts[part] != attempt
        ):  # fmt: skip
            log.warning("dropping a reply for job %s part %s attempt %s from node %s: not "
                        "the current setup of that part", job_id, part, attempt, node)
            return None
        return job

    def part_ready(
        self: Scheduler, job_id: int, part: int, attempt: int, node: int,
        export_id: str, connection: dict,
    ) -> bool:
        """A server exported a part. False when no live part wants that export (the caller
        tells the server to delete it)."""
        job = self._current_part(job_id, part, attempt, node)
        if job is None:
            return False
        if job.exports[part] is not None:
            return job.exports[part] == export_id  # a duplicate reply
        last = job.state is CONFIGURING and (
            len(job.parts) == 1
            or all(c is not None for i, c in enumerate(job.connections) if i != part)
        )
        event = LAST_PART_ALLOCATED if last else Ev.PART_ALLOCATED
        self._fire(job, event, part=part, export_id=export_id, connection=connection)
        return True

    def part_failed(
        self: Scheduler, job_id: int, part: int, attempt: int, node: int, reason: str
    ) -> None:
        """A server could not export a part: retry elsewhere or later, or fail the job."""
        job = self._current_part(job_id, part, attempt, node)
        if job is None or job.state is not CONFIGURING or job.exports[part] is not None:
            return
        ext = job.extents[part]
        log.warning("[%05d] node %d disk %d failed: %s", job.id, ext.node, ext.disk, reason)
        job.failures += 1
        event = Ev.SETUP_EXHAUSTED if job.failures >= self.max_setup_attempts else Ev.PART_FAILED
        self._fire(job, event, disk=(ext.node, ext.disk), code="setup_failed",
                   reason=f"setting up the export failed: {reason}")
        self._capacity_freed()
