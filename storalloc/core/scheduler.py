"""The orchestrator's core: admit, plan, start, grant, expire and release storage jobs.

It reacts to calls (messages already decoded, timers firing) and reports through domain
events (storalloc.core.events) handed to `emit`; it never touches a socket and reads time
only from its clock, so live runs and simulations share every line of it. What follows an
event is decided by one table (storalloc.core.lifecycle); this module decides which event
happened.

Queue policy (see doc/scheduling.md): conservative backfilling. Leases have fixed ends, so
the future use of every disk is known. A request that cannot start now is booked at the
earliest time it fits, and that booking is a reservation: later requests only take what is
left around it, so a small request may pass a big one but can never delay it. When
capacity frees up earlier than planned (release, cancel, failure, a node joining), waiting
jobs are re-planned in submission order and only ever move earlier.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from storalloc.core import events as ev
from storalloc.core.actions import Actions
from storalloc.core.admission import never_fits
from storalloc.core.clock import Clock
from storalloc.core.cluster import Cluster
from storalloc.core.jobs import (
    ALLOCATED,
    CONFIGURING,
    MAX_PARTS,
    PENDING,
    SET_UP,
    Job,
    part_count,
    split_parts,
)
from storalloc.core.lifecycle import LEASE_END, START, Ev
from storalloc.core.membership import Membership
from storalloc.core.planning import StrategyError
from storalloc.core.queries import Queries, SchedulerError
from storalloc.core.server_reports import ServerReports
from storalloc.core.timers import TimerQueue
from storalloc.strategies.base import Strategy
from storalloc.units import format_request

__all__ = ["Scheduler", "SchedulerError"]

log = logging.getLogger(__name__)


def _ignore(_event: ev.Event) -> None:
    """The default `emit`: nobody listens (unit tests, benchmarks)."""


class Scheduler(Actions, Membership, Queries, ServerReports):
    def __init__(
        self,
        cluster: Cluster,
        strategy: Strategy,
        clock: Clock,
        timers: TimerQueue,
        emit: Callable[[ev.Event], None] = _ignore,
        *,
        block_size: float = 0.0,
        admins: frozenset[str] = frozenset({"root"}),
        max_request_gb: float = float("inf"),
        max_setup_attempts: int = 3,
        retry_backoff: float = 5.0,
        retry_backoff_max: float = 300.0,
        warn_before: float = 0.0,
        history: int = 10_000,
        on_finish: Callable[[Job], None] | None = None,
        on_placed: Callable[[Job], None] | None = None,
        track_changes: bool = True,
    ) -> None:
        self.cluster, self.strategy, self.clock, self.timers = cluster, strategy, clock, timers
        cluster.clock = self.clock  # bookings are in this clock's time
        self.emit = emit
        self.block_size, self.admins, self.max_request_gb = block_size, admins, max_request_gb
        self.max_setup_attempts = max_setup_attempts
        self.retry_backoff, self.retry_backoff_max = retry_backoff, retry_backoff_max
        self.warn_before = warn_before
        self.on_finish, self.on_placed = on_finish, on_placed
        self.track_changes = track_changes  # JobChanged events: a store or metrics listen
        self.jobs: dict[int, Job] = {}  # active jobs
        # The latest ended jobs, for --show (ordered: a dict's first key costs a skip per
        # slot deleted before it, so popping the oldest would grow with the jobs ended).
        self.history: OrderedDict[int, Job] = OrderedDict()
        self.history_size = history
        self.waiting: dict[int, Job] = {}  # PENDING jobs by id (= submission order)
        self.unplanned: dict[int, Job] = {}  # PENDING jobs with no start on this cluster
        self.requests: dict[tuple[str, str], Job] = {}  # (user, request id) -> job
        # Ended jobs older than `history` (or from before a restart): by_id, by_request.
        self.archive: Any = None
        self.next_id = 0

    # --- admission ---------------------------------------------------------------------

    def submit(
        self,
        *,
        user: str,
        size: float,
        duration: float,
        begin: float | None = None,
        stripes: int = 1,
        immediate: float | None = None,
        hostnqn: str | None = None,
        client: Any = None,
        request_id: str = "",
        trace_id: str | None = None,
        quiet: bool = False,
    ) -> Job:
        """Admit a request: refuse it, start it, or book it at its earliest start. A request
        id seen before is answered from the job it made, without a second job."""
        known = self._request_seen(user, request_id) if request_id and not quiet else None
        if known is not None:
            self._retell(known, client)
            return known
        now = self.clock.now()
        # Job's fields in order, passed by position: thirteen keywords cost as much as the
        # rest of the job's construction (a replay builds a million jobs).
        job = self._enqueue(Job(
            self.next_id, user, size, duration, now,
            now if begin is None else max(now, begin), (),
            client, request_id, hostnqn, immediate, trace_id, quiet,
        ))  # fmt: skip
        self._notice(job, f"Pending job allocation {job.id}")
        if self._admit(job, stripes):
            self._notice(job, f"job {job.id} queued and waiting for resources")
            if immediate is not None:
                job.timers.append(self.timers.schedule(now + immediate, self._on_immediate, job))
            self._do_replan(job, {})
        return job

    def _admit(self, job: Job, stripes: int) -> bool:
        """Split the job into parts, or refuse it when it can never fit this site."""
        count = part_count(job.size, stripes, self.block_size)
        if count <= MAX_PARTS:  # else refused below, without building them
            job.parts = split_parts(job.size, stripes, self.block_size)
            job.reset_parts()
        refusal = never_fits(job.size, count, self.cluster.capacities(), self.max_request_gb)
        if refusal:
            self._fire(job, Ev.NEVER_FITS, code=refusal[0], reason=refusal[1])
        return refusal is None

    def _enqueue(self, job: Job) -> Job:
        self.next_id += 1
        self.jobs[job.id] = job
        self.waiting[job.id] = job
        if job.request_id and not job.quiet:
            self.requests[job.user, job.request_id] = job
        if log.isEnabledFor(logging.DEBUG):
            log.debug("[%05d] New incoming request: [%s]", job.id,
                      format_request(job.size, job.duration))
        if self.track_changes:  # a store keeps it from now on
            self.emit(ev.JobChanged(job, None))
        return job

    def _request_seen(self, user: str, request_id: str) -> Job | None:
        known = self.requests.get((user, request_id))
        if known is None and self.archive is not None:
            known = self.archive.by_request(user, request_id)
        return known

    def _archive(self, job: Job) -> None:
        if not self.history_size:  # a replay keeps its ended jobs itself (on_finish)
            return
        self.history[job.id] = job
        if len(self.history) > self.history_size:
            _, oldest = self.history.popitem(last=False)
            if oldest.request_id:
                self.requests.pop((oldest.user, oldest.request_id), None)

    def adopt(self, job: Job) -> None:
        """Take back an active job restored from a saved state."""
        self.jobs[job.id] = job
        self.next_id = max(self.next_id, job.id + 1)
        if job.request_id and not job.quiet:
            self.requests[job.user, job.request_id] = job
        if len(job.attempts) != len(job.parts):
            job.attempts = [1 if e else 0 for e in job.exports] or [0] * len(job.parts)
        if job.state is ALLOCATED and job.granted_at is None:
            job.granted_at = job.start
        if job.state is PENDING:
            self.waiting[job.id] = job
            if job.start is None:
                self.unplanned[job.id] = job
        self._fire(job, Ev.RESTARTED, restored=True)

    def release(self, job_id: int, user: str) -> str:
        """End a job now (scancel): tear down its exports and free its capacity."""
        job = self._owned(job_id, user)
        was = job.state
        self._fire(job, Ev.RELEASED, code="released", reason=f"released by {user}")
        self._capacity_freed()
        return f"job {job_id} {'cancelled' if was is PENDING else 'released'}"

    # --- timers ------------------------------------------------------------------------

    def _on_start(self, job: Job) -> None:
        if job.state is not PENDING:
            return
        nodes = self.cluster.nodes
        for ext in job.extents:
            if not nodes[ext.node].up:
                self._fire(job, Ev.NODE_DOWN)
                return
        self._fire(job, START)

    def _on_end(self, job: Job) -> None:
        if job.state is ALLOCATED:
            self._fire(job, LEASE_END, code="", reason="")
        elif job.state is CONFIGURING:
            self._fire(job, LEASE_END, code="ended_before_setup",
                       reason="the lease ended before its storage was set up")
        self._replan_unplanned()

    def _on_warning(self, job: Job) -> None:
        if job.state in SET_UP:
            self._fire(job, Ev.LEASE_WARNING)

    def _on_immediate(self, job: Job) -> None:
        if job.state is PENDING:
            self._fire(job, Ev.IMMEDIATE_EXPIRED, code="immediate",
                       reason=f"not granted within {job.immediate:g} s (--immediate)")
            self._capacity_freed()

    # --- re-planning -------------------------------------------------------------------

    def _capacity_freed(self) -> None:
        """Capacity freed up ahead of plan: move waiting jobs earlier, oldest first."""
        now = self.clock.now()
        for job_id in sorted(self.waiting):
            job = self.waiting.get(job_id)
            if job is None or job.state is not PENDING:
                continue
            if job.start is None:
                self._fire(job, Ev.CAPACITY_FREED)
            elif job.start > now:
                self._move_earlier(job)

    def _move_earlier(self, job: Job) -> None:
        self._do_unbook(job, {})
        try:
            slot = self._search(job, self._not_before(job), job.excluded)
        except StrategyError:
            slot = None  # a failing strategy keeps the reservation it had
        self._do_book(job, {"restored": True})
        if slot is not None and slot[0] < job.start:
            self._fire(job, Ev.CAPACITY_FREED, slot=slot)

    def _replan_unplanned(self) -> None:
        """Expiry and node events change what fits: jobs with no start get another look."""
        if not self.unplanned:  # the common case: every lease end asks
            return
        for job_id in sorted(self.unplanned):
            job = self.unplanned.get(job_id)
            if job is not None and job.state is PENDING:
                self._fire(job, Ev.CAPACITY_FREED)
