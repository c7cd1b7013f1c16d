"""The orchestrator's core: admit, plan, start, grant, expire and release storage jobs.

It reacts to calls (messages already decoded, timers firing) and answers through an
`Outbox`; it never touches a socket and reads time only from its clock, so live runs and
simulations share every line of it.

Queue policy (see doc/scheduling.md): conservative backfilling. Leases have fixed ends, so
the future use of every disk is known. A request that cannot start now is booked at the
earliest time it fits, and that booking is a reservation: later requests only take what is
left around it, so a small request may pass a big one but can never delay it, and the big
one starts when its reservation comes. When capacity frees up earlier than planned (release,
cancel, failure, a node joining), waiting jobs are re-planned in submission order and only
ever move earlier.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from storalloc.core.capacity import EPSILON
from storalloc.core.clock import Clock
from storalloc.core.cluster import Cluster, Extent, Node
from storalloc.core.jobs import ACTIVE, NODE_DOWN, Job, State, split_parts
from storalloc.core.planning import StrategyError, find_slot
from storalloc.core.timers import TimerQueue
from storalloc.strategies.base import Placement, Strategy
from storalloc.units import format_request
from storalloc.wire import protocol as p

log = logging.getLogger(__name__)

MAX_SETUP_ATTEMPTS = 3  # disks tried before a job whose exports keep failing is failed
# A lease ending at the instant another starts on the same disk must be torn down first:
# the new one may need the very blocks the old one frees.
EXPIRY_FIRST = -1


class Outbox(Protocol):
    """Where the scheduler's messages go; addresses are opaque to the scheduler."""

    def to_client(self, address: Any, msg: p.Message) -> None: ...

    def to_server(self, address: Any, msg: p.Message) -> None: ...


class SchedulerError(Exception):
    """A request about a job that cannot be served; `code` goes into the error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Scheduler:
    def __init__(
        self,
        cluster: Cluster,
        strategy: Strategy,
        clock: Clock,
        timers: TimerQueue,
        outbox: Outbox,
        *,
        block_size: float = 0.0,
        admins: frozenset[str] = frozenset({"root"}),
        heartbeat_interval: float = 5.0,
        max_request_gb: float = float("inf"),
        history: int = 10_000,
        on_finish: Callable[[Job], None] | None = None,
        on_placed: Callable[[Job], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.strategy = strategy
        self.clock = clock
        self.timers = timers
        self.outbox = outbox
        self.block_size = block_size
        self.admins = admins
        self.heartbeat_interval = heartbeat_interval
        self.max_request_gb = max_request_gb
        self.on_finish = on_finish
        self.on_placed = on_placed
        self.jobs: dict[int, Job] = {}  # active jobs
        self.history: deque[Job] = deque(maxlen=history)  # ended jobs, for --show
        self.waiting: list[Job] = []  # PENDING jobs in submission order
        self.node_address: dict[int, Any] = {}
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
        """Admit a request: refuse it, start it, or book it at its earliest start."""
        now = self.clock.now()
        job = Job(
            id=self.next_id, user=user, size=size, duration=duration, submit=now,
            begin=max(now, begin) if begin is not None else now,
            parts=split_parts(size, stripes, self.block_size), client=client,
            request_id=request_id, hostnqn=hostnqn, immediate=immediate,
            trace_id=trace_id, quiet=quiet,
        )  # fmt: skip
        self.next_id += 1
        job.exports = [None] * len(job.parts)
        job.connections = [None] * len(job.parts)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("[%05d] New incoming request: [%s]", job.id, format_request(size, duration))
        self._notice(job, f"Pending job allocation {job.id}")
        self.jobs[job.id] = job
        self.waiting.append(job)
        never = self._never_fits(job)
        if never:
            self._reject(job, State.REFUSED, *never)
            return job
        self._notice(job, f"job {job.id} queued and waiting for resources")
        if immediate is not None:
            job.timers.append(self.timers.schedule(now + immediate, self._give_up, job))
        self._plan(job)
        return job

    def adopt(self, job: Job) -> None:
        """Take back an active job restored from a state file (see storalloc.orchestrator.state)."""
        self.jobs[job.id] = job
        self.next_id = max(self.next_id, job.id + 1)
        if job.start is not None and job.extents:
            self.cluster.book(job.extents, job.start, job.start + job.duration)
        if job.state is State.PENDING:
            self.waiting.append(job)
            if job.start is not None:  # else it is planned when a node registers
                self._at_start(job)
        else:
            self._at_end(job)

    def _never_fits(self, job: Job) -> tuple[str, str] | None:
        """(reason code, reason) when the job could not fit even on the empty cluster (down
        nodes included, since they may come back), None when it could."""
        if job.size > self.max_request_gb:
            return "over_site_limit", (
                f"request of {job.size:g} GB exceeds this site's limit of "
                f"{self.max_request_gb:g} GB (max_request_gb)"
            )
        capacities = self.cluster.capacities()
        if not capacities:
            return None  # no server has registered yet: wait for one rather than guess
        part = job.parts[0]  # parts are equal
        largest = max(capacities)
        if part <= largest + EPSILON and len(job.parts) == 1:
            return None
        room = sum(int((c + EPSILON) / part) for c in capacities)
        if room >= len(job.parts):
            return None
        if len(job.parts) == 1:
            return "larger_than_disks", (
                f"request of {job.size:g} GB exceeds the largest disk ({largest:g} GB); "
                "ask for stripes (--stripes N) to split it"
            )
        return "larger_than_site", (
            f"request of {job.size:g} GB in {len(job.parts)} parts of {part:g} GB cannot fit "
            f"on the {len(capacities)} disks of this site ({sum(capacities):g} GB)"
        )

    # --- planning ----------------------------------------------------------------------

    def _plan(self, job: Job) -> None:
        """Book the job at its earliest feasible start; start it if that is now."""
        now = self.clock.now()
        try:
            found = self._find_slot(job, max(now, job.begin))
        except StrategyError as exc:
            self._reject(job, State.FAILED, "strategy_failed", str(exc))
            return
        if found is None:
            job.start = None
            log.debug("[%05d] Unable to allocate incoming request for now", job.id)
            why = ("a storage node to come back" if self.cluster.nodes
                   else "a storage server to register")
            self._notice(job, f"job {job.id} waiting for {why}")
            return
        self._commit(job, *found)

    def _commit(self, job: Job, start: float, placement: Placement) -> None:
        """Book the job where it was planned; start it now, or when its time comes."""
        self._book(job, start, placement)
        if start <= self.clock.now():
            self._start(job)
        else:
            self._at_start(job)
            self._notice(job, f"job {job.id} estimated start at {_clock_text(start)}")

    def _find_slot(self, job: Job, not_before: float) -> tuple[float, Placement] | None:
        return find_slot(self.cluster, self.strategy, job.id, job.parts, job.duration,
                         not_before, job.excluded)

    def _book(self, job: Job, start: float, placement: Placement) -> None:
        job.start = start
        job.extents = placement
        self.cluster.book(placement, start, start + job.duration)
        if log.isEnabledFor(logging.DEBUG):
            for ext in placement:
                log.debug(
                    "[%05d] Add [%s] on node %d, disk %d",
                    job.id, format_request(ext.size, job.duration), ext.node, ext.disk,
                )  # fmt: skip
        if self.on_placed is not None:
            self.on_placed(job)

    def _unbook(self, job: Job) -> None:
        if job.extents and job.start is not None:
            self.cluster.unbook(job.extents, job.start, job.start + job.duration)

    def _replan_waiting(self) -> None:
        """Capacity freed up ahead of plan: move waiting jobs earlier, oldest first."""
        now = self.clock.now()
        for job in list(self.waiting):
            if job.state is not State.PENDING or (job.start is not None and job.start <= now):
                continue
            old_start, old_extents = job.start, job.extents
            self._unbook(job)
            try:
                found = self._find_slot(job, max(now, job.begin))
            except StrategyError:
                found = None  # keep the reservation it had
            if found is None or (old_start is not None and found[0] >= old_start):
                if old_start is not None:  # keep the reservation it had
                    self.cluster.book(old_extents, old_start, old_start + job.duration)
                continue
            self._cancel_start(job)
            self._commit(job, *found)

    # --- lifecycle ---------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        if job.state is not State.PENDING:
            return
        if any(not self.cluster.nodes[e.node].up for e in job.extents):
            self._unbook(job)
            self._plan(job)
            return
        self.waiting.remove(job)
        job.state = State.CONFIGURING
        job.cancel_timers()
        self._at_end(job)
        for part, ext in enumerate(job.extents):
            self._send_allocate(job, part, ext)

    def _send_allocate(self, job: Job, part: int, ext: Extent) -> None:
        self.outbox.to_server(
            self.node_address.get(ext.node),
            p.Allocate(
                job_id=job.id, part=part, parts=len(job.parts), disk=ext.disk,
                capacity=ext.size, duration=job.duration / 60, user=job.user,
                hostnqn=job.hostnqn,
            ),
        )  # fmt: skip

    def part_ready(self, job_id: int, part: int, export_id: str, connection: dict) -> bool:
        """A server exported a part. False when the job no longer wants it (the caller
        tells the server to tear it down)."""
        job = self.jobs.get(job_id)
        if job is None or job.state not in (State.CONFIGURING, State.ALLOCATED):
            return False
        if not 0 <= part < len(job.parts):
            return False
        job.exports[part] = export_id
        job.connections[part] = connection
        if job.state is State.CONFIGURING and all(c is not None for c in job.connections):
            job.state = State.ALLOCATED
            job.granted_at = self.clock.now()
            self._notice(job, f"Granted job allocation {job.id}")
            if not job.quiet:
                self.outbox.to_client(
                    job.client,
                    p.Granted(
                        request_id=job.request_id, job_id=job.id,
                        connections=[dict(c) for c in job.connections if c], end=job.end,
                    ),
                )  # fmt: skip
        return True

    def part_failed(self, job_id: int, part: int, reason: str) -> None:
        """A server could not export a part: try other disks, or fail the job."""
        job = self.jobs.get(job_id)
        if job is None or job.state is not State.CONFIGURING or not 0 <= part < len(job.parts):
            return
        ext = job.extents[part]
        log.warning("[%05d] node %d disk %d failed: %s", job.id, ext.node, ext.disk, reason)
        job.excluded.add((ext.node, ext.disk))
        job.attempts += 1
        self._teardown(job)
        self._unbook(job)
        job.cancel_timers()
        job.exports = [None] * len(job.parts)
        job.connections = [None] * len(job.parts)
        if job.attempts >= MAX_SETUP_ATTEMPTS:
            self._reject(job, State.FAILED, "setup_failed",
                         f"setting up the export failed: {reason}")
        else:
            job.state = State.PENDING
            self.waiting.insert(0, job)  # it was first in line; keep it there
            self._plan(job)
        self._replan_waiting()

    def _expire(self, job: Job) -> None:
        self._teardown(job)
        self._unbook(job)
        self._end(job, State.COMPLETED, "")

    def _give_up(self, job: Job) -> None:
        """--immediate ran out before the job was granted."""
        if job.state is not State.PENDING:
            return
        self._unbook(job)
        self._reject(job, State.REFUSED, "immediate",
                     f"not granted within {job.immediate:g} s (--immediate)")
        self._replan_waiting()

    def _teardown(self, job: Job) -> None:
        for part, ext in enumerate(job.extents):
            self.outbox.to_server(
                self.node_address.get(ext.node),
                p.Deallocate(job_id=job.id, part=part, export_id=job.exports[part]),
            )

    def _end(self, job: Job, state: State, reason: str, code: str = "") -> None:
        job.cancel_timers()
        if job.state is State.PENDING:  # only waiting jobs are in the queue
            self.waiting.remove(job)
        job.state = state
        job.reason = reason
        job.reason_code = code
        job.ended_at = self.clock.now()
        self.jobs.pop(job.id, None)
        self.history.append(job)
        if self.on_finish is not None:
            self.on_finish(job)

    def release(self, job_id: int, user: str) -> str:
        """End a job now (scancel): tear down its exports and free its capacity."""
        job = self._owned(job_id, user)
        was = job.state
        if was is not State.PENDING:
            self._teardown(job)
        self._unbook(job)
        self._end(job, State.CANCELLED, f"released by {user}", "released")
        self._replan_waiting()
        return f"job {job_id} {'cancelled' if was is State.PENDING else 'released'}"

    # --- refusals and notices ----------------------------------------------------------

    def _reject(self, job: Job, state: State, code: str, reason: str) -> None:
        """End a job that will not be (or stay) granted, and tell its client why."""
        log.debug("[%05d] Refused: %s", job.id, reason)
        self._end(job, state, reason, code)
        if not job.quiet:
            self.outbox.to_client(
                job.client,
                p.Refused(request_id=job.request_id, job_id=job.id, reason=reason, code=code),
            )

    def _notice(self, job: Job, text: str) -> None:
        if not job.quiet:
            self.outbox.to_client(
                job.client, p.Notice(request_id=job.request_id, job_id=job.id, text=text)
            )

    # --- queries -----------------------------------------------------------------------

    def _find(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            job = next((j for j in reversed(self.history) if j.id == job_id), None)
        if job is None:
            raise SchedulerError("unknown_job", f"invalid job id specified: {job_id}")
        return job

    def _owned(self, job_id: int, user: str) -> Job:
        job = self._find(job_id)
        if user != job.user and user not in self.admins:
            raise SchedulerError(
                "permission_denied", f"permission denied: job {job_id} belongs to {job.user}"
            )
        if job.state not in ACTIVE:
            raise SchedulerError(
                "job_ended", f"job {job_id} has already ended ({job.state.value})"
            )
        return job

    def show(self, job_id: int, user: str) -> dict[str, Any]:
        job = self._find(job_id)
        if user != job.user and user not in self.admins:
            raise SchedulerError(
                "permission_denied", f"permission denied: job {job_id} belongs to {job.user}"
            )
        info = self.describe(job)
        info["connections"] = [c for c in job.connections if c]
        return info

    def listing(self) -> list[dict[str, Any]]:
        return [self.describe(j) for j in sorted(self.jobs.values(), key=lambda j: j.id)]

    def nodes_info(self) -> list[dict[str, Any]]:
        """Every known node with its capacity and what is used on it now."""
        now = self.clock.now()
        return [
            {"node": n.index, "name": n.name, "hostname": n.hostname,
             "state": "DOWN" if not n.up else "DRAIN" if n.drained else "UP",
             "disks": len(n.disks),
             "capacity_gb": sum(d.capacity for d in n.disks),
             "used_gb": n.usage.used_at(now), "network_bw": n.network_bw}
            for n in self.cluster.nodes
        ]  # fmt: skip

    def describe(self, job: Job) -> dict[str, Any]:
        """What --list and --show print about a job (no connection details)."""
        down = any(not self.cluster.nodes[e.node].up for e in job.extents)
        state = NODE_DOWN if down and job.state is not State.PENDING else job.state.value
        return {
            "job_id": job.id, "user": job.user, "size_gb": job.size,
            "duration_s": job.duration, "state": state, "submit": job.submit,
            "begin": job.begin, "start": job.start, "end": job.end, "reason": job.reason,
            "extents": [
                {"node": e.node, "node_name": self.cluster.nodes[e.node].name,
                 "disk": e.disk, "size_gb": e.size}
                for e in job.extents
            ],
        }  # fmt: skip

    # --- storage servers ---------------------------------------------------------------

    def register_node(self, node: Node, address: Any, exports: list[str]) -> int:
        """A server (re)joins. Returns its global node number; sends it `registered` with
        the exports it must keep, then any setup it missed while away."""
        known = self.cluster.node_index(node.name)
        if known is not None and _same_layout(self.cluster.nodes[known], node):
            node = self.cluster.nodes[known]
            self.cluster.set_up(known, True)
        else:
            if known is not None:
                self._drop_node_jobs(known, "its disks changed")
            node = self.cluster.add_node(node)
        self.node_address[node.index] = address
        log.debug("Server registered. New resources available.")
        hold = []
        resend = []
        held = set(exports)
        for job in self.jobs.values():
            for part, ext in enumerate(job.extents):
                if ext.node != node.index or job.state is State.PENDING:
                    continue
                export = job.exports[part]
                if export in held:
                    hold.append(export)
                    continue
                if export is not None:
                    # The server came back without it (a reboot, a simulated server): set
                    # the part up again so the lease goes on; its data is gone.
                    log.warning("[%05d] node %d lost export %s; setting it up again",
                                job.id, node.index, export)
                    job.exports[part] = None
                resend.append((job, part, ext))
        self.outbox.to_server(
            address,
            p.Registered(node=node.index, hold=hold, heartbeat_interval=self.heartbeat_interval),
        )
        for job, part, ext in resend:
            self._send_allocate(job, part, ext)
        self._replan_waiting()
        for job in list(self.waiting):  # jobs that had no node to go to
            if job.start is None and job.state is State.PENDING:
                never = self._never_fits(job)
                if never:  # now that the site's disks are known, it never will
                    self._reject(job, State.REFUSED, *never)
                else:
                    self._plan(job)
        return node.index

    def _drop_node_jobs(self, index: int, why: str) -> None:
        """The node's disks changed: its leases are gone, and waiting jobs booked there
        lose their reservation (they are planned again once the node is back)."""
        for job in list(self.jobs.values()):
            if not any(e.node == index for e in job.extents):
                continue
            self._unbook(job)
            if job.state is State.PENDING:
                self._cancel_start(job)
                job.start, job.extents = None, ()
            else:
                self._reject(job, State.FAILED, "node_lost", f"node {index} lost: {why}")

    def _at_start(self, job: Job) -> None:
        job.timers.append(self.timers.schedule(job.start, self._start, job))

    def _at_end(self, job: Job) -> None:
        job.timers.append(self.timers.schedule(job.end, self._expire, job, priority=EXPIRY_FIRST))

    def _cancel_start(self, job: Job) -> None:
        for timer in job.timers:
            if timer.callback == self._start:
                timer.cancel()

    def node_down(self, index: int) -> None:
        """A server went silent: no new placement goes there; waiting jobs planned on it
        move elsewhere; its allocations stay booked until it comes back or they expire."""
        node = self.cluster.nodes[index]
        if not node.up:
            return
        self.cluster.set_up(index, False)
        log.warning("node %d (%s) is down: no heartbeat", index, node.name)
        self._move_waiting_off(index)

    def _move_waiting_off(self, index: int) -> None:
        for job in list(self.waiting):
            if job.start is not None and any(e.node == index for e in job.extents):
                self._cancel_start(job)
                self._unbook(job)
                self._plan(job)

    def drain(self, index: int, user: str, drained: bool) -> str:
        """An admin closes a node to new placements (running leases go on), or reopens it.
        Waiting jobs booked there move elsewhere; reopening may let waiting jobs start."""
        if user not in self.admins:
            raise SchedulerError("permission_denied", "permission denied: only admins drain nodes")
        if not 0 <= index < len(self.cluster.nodes):
            raise SchedulerError("unknown_node", f"invalid node specified: {index}")
        node = self.cluster.nodes[index]
        self.cluster.set_drained(index, drained)
        if drained:
            log.warning("node %d (%s) drained by %s", index, node.name, user)
            self._move_waiting_off(index)
            return f"node {index} ({node.name}) drained: no new placement goes there"
        log.warning("node %d (%s) resumed by %s", index, node.name, user)
        self._replan_waiting()
        return f"node {index} ({node.name}) resumed"

    def bars(self) -> Iterator[tuple[Job, Extent]]:
        """Every booked extent of active jobs, for the timeline."""
        for job in self.jobs.values():
            if job.start is not None:
                for ext in job.extents:
                    yield job, ext


def _same_layout(old: Node, new: Node) -> bool:
    return [(d.capacity, d.path) for d in old.disks] == [(d.capacity, d.path) for d in new.disks]


def _clock_text(t: float) -> str:
    return datetime.fromtimestamp(t).isoformat(timespec="seconds")
