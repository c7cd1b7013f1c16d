"""The actions of the lifecycle table (storalloc.core.lifecycle), and the one place that
runs them: `_fire(job, event)`.

A mixin of `Scheduler`: each `_do_<name>` is one action of the table and touches one
concern (bookings, timers, the queue, servers, the client).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storalloc.core import events as ev
from storalloc.core.jobs import Job, State
from storalloc.core.lifecycle import FINAL, PLANNED, TABLE, Ev, step
from storalloc.core.planning import StrategyError, find_slot
from storalloc.strategies.base import Placement
from storalloc.units import format_request

if TYPE_CHECKING:
    from storalloc.core.scheduler import Scheduler

log = logging.getLogger("storalloc.core.scheduler")

# A lease ending at the instant another starts on the same disk must be torn down first:
# the new one may need the very blocks the old one frees.
EXPIRY_FIRST = -1
Slot = tuple[float, Placement]


class Actions:
    """Lifecycle actions; `self` is the Scheduler."""

    def _fire(self: Scheduler, job: Job, event: Ev, **ctx: Any) -> None:
        old = job.state
        transition = _STEPS.get((old, event))
        if transition is None:
            step(old, event)  # raises IllegalTransition
        new, actions, final = transition
        job.state = new
        if final:
            job.reason_code = ctx.get("code", "")
            job.reason = ctx.get("reason", "")
        for action in actions:
            action(self, job, ctx)
        if final:
            self._epilogue(job)
        if self.track_changes:
            self.emit(ev.JobChanged(job, old.value))

    def _epilogue(self: Scheduler, job: Job) -> None:
        """Every final state: no timers, out of the queue, archived, told once."""
        job.cancel_timers()
        self.waiting.pop(job.id, None)
        self.unplanned.pop(job.id, None)
        job.ended_at = self.clock.now()
        self.jobs.pop(job.id, None)
        self._archive(job)
        if job.reason_code and job.state is not State.COMPLETED:
            log.debug("[%05d] Refused: %s", job.id, job.reason)
        if self.on_finish is not None:
            self.on_finish(job)
        self._tell(job, ev.JobEnded)

    def _tell(self: Scheduler, job: Job, kind: type, *fields: Any) -> None:
        """A client-facing event, `kind(job, *fields)`; trace jobs (quiet) have no client to
        tell, so theirs is not even built (a replay ends a million of them)."""
        if not job.quiet:
            self.emit(kind(job, *fields))

    def _notice(self: Scheduler, job: Job, text: str) -> None:
        self._tell(job, ev.JobNotice, text)

    # --- bookings and timers -----------------------------------------------------------

    def _do_book(self: Scheduler, job: Job, ctx: dict) -> None:
        if job.start is None or not job.extents:
            return
        self.cluster.book(job.extents, job.start, job.start + job.duration)
        if ctx.get("restored"):
            return
        if log.isEnabledFor(logging.DEBUG):
            for ext in job.extents:
                log.debug("[%05d] Add [%s] on node %d, disk %d", job.id,
                          format_request(ext.size, job.duration), ext.node, ext.disk)
        committed = getattr(self.strategy, "committed", None)
        if committed is not None:
            committed(job.id, job.extents)
        if self.on_placed is not None:
            self.on_placed(job)

    def _do_unbook(self: Scheduler, job: Job, ctx: dict) -> None:
        if job.start is None or not job.extents:
            return
        end, now = job.start + job.duration, self.clock.now()
        if end <= now:  # a lease that ran its course: nothing ahead of now to give back
            self.cluster.expire(job.extents, job.start, end, now)
        else:
            self.cluster.unbook(job.extents, job.start, end)

    def _do_arm_start(self: Scheduler, job: Job, ctx: dict) -> None:
        if job.start is not None and (job.start > self.clock.now() or ctx.get("restored")):
            job.timers.append(self.timers.schedule(job.start, self._on_start, job))

    def _do_arm_end(self: Scheduler, job: Job, ctx: dict) -> None:
        end = job.end
        job.timers.append(self.timers.schedule(end, self._on_end, job, priority=EXPIRY_FIRST))
        warn_at = end - self.warn_before
        if self.warn_before > 0 and warn_at > self.clock.now() and warn_at > job.start:
            job.timers.append(self.timers.schedule(warn_at, self._on_warning, job))

    def _do_dequeue(self: Scheduler, job: Job, ctx: dict) -> None:
        self.waiting.pop(job.id, None)
        self.unplanned.pop(job.id, None)
        job.cancel_timers()
        job.retry_at = None

    # --- servers -----------------------------------------------------------------------

    def _do_allocate(self: Scheduler, job: Job, ctx: dict) -> None:
        job.reset_parts()
        for part in range(len(job.parts)):
            job.attempts[part] += 1
            self.emit(ev.PartRequested(job, part))

    def _do_resend(self: Scheduler, job: Job, ctx: dict) -> None:
        for part in ctx["parts"]:
            job.exports[part] = None
            job.attempts[part] += 1
            self.emit(ev.PartRequested(job, part))

    def _do_record(self: Scheduler, job: Job, ctx: dict) -> None:
        part = ctx["part"]
        job.exports[part] = ctx["export_id"]
        job.connections[part] = ctx["connection"]

    def _do_teardown(self: Scheduler, job: Job, ctx: dict) -> None:
        for part, ext in enumerate(job.extents):
            if part < len(job.attempts) and job.attempts[part]:
                self.emit(ev.PartReleased(ext.node, job.id, part, job.exports[part], job.quiet))

    # --- the client --------------------------------------------------------------------

    def _do_grant(self: Scheduler, job: Job, ctx: dict) -> None:
        job.granted_at = self.clock.now()
        self._tell(job, ev.JobGranted)  # the client prints salloc's "Granted job allocation"

    def _retell(self: Scheduler, job: Job, client: Any) -> None:
        """A client re-sent a request (it lost its connection): tell it where the job is."""
        job.client = client
        log.info("[%05d] request %s re-sent by its client", job.id, job.request_id)
        self._notice(job, f"Pending job allocation {job.id}")
        if job.state in (State.PENDING, State.CONFIGURING):
            self._notice(job, f"job {job.id} queued and waiting for resources")
        elif job.state is State.ALLOCATED:
            self._tell(job, ev.JobGranted)
        else:
            self._tell(job, ev.JobEnded)

    def _do_warn(self: Scheduler, job: Job, ctx: dict) -> None:
        self._tell(job, ev.LeaseEnding, job.end - self.clock.now())

    # --- planning ----------------------------------------------------------------------

    def _do_retry(self: Scheduler, job: Job, ctx: dict) -> None:
        """Other disks now if there are any; else the same ones after a backoff."""
        job.cancel_timers()
        job.excluded.add(ctx["disk"])
        self.waiting[job.id] = job
        job.start, job.extents = None, ()
        if self._search(job, self._not_before(job), job.excluded) is None:
            job.excluded.clear()
            delay = min(self.retry_backoff * 2 ** (job.failures - 1), self.retry_backoff_max)
            job.retry_at = self.clock.now() + delay
            log.warning("[%05d] no other disk can take it: retrying in %g s", job.id, delay)
        self._do_replan(job, {})

    def _do_replan(self: Scheduler, job: Job, ctx: dict) -> None:
        """Plan an unbooked waiting job: book its earliest start, or say what it waits for."""
        for timer in job.timers:
            if timer.callback == self._on_start:
                timer.cancel()
        try:
            slot = ctx.get("slot") or self._search(job, self._not_before(job), job.excluded)
        except StrategyError as exc:
            self._fire(job, Ev.STRATEGY_FAILED, code="strategy_failed", reason=str(exc))
            return
        if slot is None:
            self._wait_unplanned(job)
        else:
            self._commit(job, slot)

    def _commit(self: Scheduler, job: Job, slot: Slot) -> None:
        job.start, job.extents = slot
        job.waiting_for = ""
        self.unplanned.pop(job.id, None)
        self._fire(job, PLANNED)
        if job.start <= self.clock.now():
            self._on_start(job)
        elif not job.quiet:  # dating the notice costs more than building it
            self._notice(job, f"job {job.id} estimated start at {_clock_text(job.start)}")

    def _wait_unplanned(self: Scheduler, job: Job) -> None:
        job.start, job.extents = None, ()
        why = ("a storage node to come back" if self.cluster.nodes
               else "a storage server to register")
        self.unplanned[job.id] = job
        if job.waiting_for != why:
            job.waiting_for = why
            log.debug("[%05d] Unable to allocate incoming request for now", job.id)
            self._notice(job, f"job {job.id} waiting for {why}")

    def _search(self: Scheduler, job: Job, not_before: float, excluded: set) -> Slot | None:
        return find_slot(self.cluster, self.strategy, job.id, job.parts, job.duration,
                         not_before, excluded)

    def _not_before(self: Scheduler, job: Job) -> float:
        # max(now, begin, retry_at or 0.0) by hand: CPython 3.11's max() parses keywords
        # at every call, and every request asks this.
        now, begin, retry = self.clock.now(), job.begin, job.retry_at or 0.0
        t = begin if begin > now else now
        return retry if retry > t else t


def _clock_text(t: float) -> str:
    return datetime.fromtimestamp(t).isoformat(timespec="seconds")


#: Each action of the lifecycle table, by name.
_ACTIONS = {name[4:]: fn for name, fn in vars(Actions).items() if name.startswith("_do_")}
#: The lifecycle table with its actions resolved: (new state, action functions, final?).
#: A job takes four transitions or more, so nothing is looked up by name as it fires.
_STEPS = {
    key: (new, tuple(_ACTIONS[name] for name in actions), new in FINAL)
    for key, (new, actions) in TABLE.items()
}
