"""Storage nodes joining, leaving, changing and being drained: what it means for jobs.

A mixin of `Scheduler` (storalloc.core.scheduler); every job it touches moves through the
lifecycle table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from storalloc.core import events as ev
from storalloc.core.admission import never_fits
from storalloc.core.cluster import Node
from storalloc.core.jobs import Job, State
from storalloc.core.lifecycle import Ev
from storalloc.core.queries import SchedulerError

if TYPE_CHECKING:
    from storalloc.core.scheduler import Scheduler

log = logging.getLogger("storalloc.core.scheduler")


class Membership:
    """Node events; `self` is the Scheduler."""

    def admit_node(self: Scheduler, node: Node) -> int:
        """Give a (re)joining server its global node number. A known name with new disks
        loses every job placed on it (parts elsewhere are torn down too)."""
        known = self.cluster.node_index(node.name)
        if known is not None and _same_layout(self.cluster.nodes[known], node):
            self.cluster.set_up(known, True)
            return known
        if known is not None:
            self.cluster.set_up(known, False)  # so re-planned jobs go elsewhere
            for job in self._jobs_on(known):
                self._fire(job, Ev.NODE_NEW_LAYOUT, code="node_lost",
                           reason=f"node {known} ({node.name}) came back with other disks")
        return self.cluster.add_node(node).index

    def register_node(self: Scheduler, node: Node, exports: list[str] | None = None) -> int:
        """admit_node then node_joined, for callers with no address to bind in between."""
        index = self.admit_node(node)
        self.node_joined(index, exports or [])
        return index

    def node_joined(self: Scheduler, index: int, exports: list[str]) -> None:
        """The server of `index` is reachable: tell it what to keep, set up again what it
        lost, then plan what was waiting for it."""
        node = self.cluster.nodes[index]
        held = set(exports)
        hold: list[str] = []
        resend: list[tuple[Job, list[int]]] = []
        for job in self._jobs_on(index):
            if job.state is State.PENDING:
                continue
            lost = []
            for part, ext in enumerate(job.extents):
                if ext.node != index:
                    continue
                if job.exports[part] in held:
                    hold.append(job.exports[part])
                else:
                    if job.exports[part] is not None:
                        log.warning("[%05d] node %d lost export %s; setting it up again",
                                    job.id, index, job.exports[part])
                    lost.append(part)
            if lost:
                resend.append((job, lost))
        log.debug("Server registered. New resources available.")
        self.emit(ev.NodeJoined(node, tuple(hold)))
        for job, parts in resend:
            self._fire(job, Ev.NODE_BACK, parts=parts)
        for job_id in sorted(self.unplanned):
            job = self.unplanned[job_id]
            refusal = never_fits(job.size, len(job.parts), self.cluster.capacities(),
                                 self.max_request_gb)
            if refusal:
                self._fire(job, Ev.NEVER_FITS, code=refusal[0], reason=refusal[1])
        self._capacity_freed()

    def node_down(self: Scheduler, index: int) -> None:
        """A server went silent: no new placement goes there; waiting jobs planned on it
        move elsewhere; its allocations stay booked until it comes back or they expire."""
        node = self.cluster.nodes[index]
        if not node.up:
            return
        self.cluster.set_up(index, False)
        log.warning("node %d (%s) is down: no heartbeat", index, node.name)
        self._move_waiting_off(index)

    def _move_waiting_off(self: Scheduler, index: int) -> None:
        for job_id in sorted(self.waiting):
            job = self.waiting.get(job_id)
            if job is not None and any(e.node == index for e in job.extents):
                self._fire(job, Ev.NODE_DOWN)

    def drain(self: Scheduler, ref: int | str, user: str, drained: bool) -> str:
        """An admin closes a node to new placements (running leases go on), or reopens it.
        Waiting jobs booked there move elsewhere; reopening may let waiting jobs start."""
        if user not in self.admins:
            raise SchedulerError("permission_denied", "permission denied: only admins drain nodes")
        index = self.node_ref(ref)
        node = self.cluster.nodes[index]
        self.cluster.set_drained(index, drained)
        if drained:
            log.warning("node %d (%s) drained by %s", index, node.name, user)
            self._move_waiting_off(index)
            return f"node {index} ({node.name}) drained: no new placement goes there"
        log.warning("node %d (%s) resumed by %s", index, node.name, user)
        self._capacity_freed()
        return f"node {index} ({node.name}) resumed"

    def remove_node(self: Scheduler, ref: int | str, user: str) -> str:
        """An admin forgets a node that is down and holds no job (a retired server, or a
        stray registration), so it leaves `--nodes` and its name is free again."""
        if user not in self.admins:
            raise SchedulerError("permission_denied", "permission denied: only admins remove "
                                 "nodes")  # fmt: skip
        index = self.node_ref(ref)
        node = self.cluster.nodes[index]
        if node.up:
            raise SchedulerError("node_up", f"node {index} ({node.name}) is up: stop its "
                                 "server first (it is marked down after heartbeat_timeout)")
        held = sorted(j.id for j in self._jobs_on(index))
        if held:
            raise SchedulerError("node_busy", f"node {index} ({node.name}) holds job(s) "
                                 f"{', '.join(map(str, held))}: release them first")
        self.cluster.forget(index)
        log.warning("node %d (%s) removed by %s", index, node.name, user)
        return f"node {index} ({node.name}) removed"

    def node_ref(self: Scheduler, ref: int | str) -> int:
        """A node number from its number or its name (as `--nodes` shows them)."""
        index = int(ref) if isinstance(ref, int) or ref.isdigit() else (
            self.cluster.node_index(ref))  # fmt: skip
        if index is None or not 0 <= index < len(self.cluster.nodes):
            known = ", ".join(f"{n.name} ({n.index})" for n in self.cluster.nodes) or "none"
            raise SchedulerError("unknown_node",
                                 f"invalid node specified: {ref}; known nodes: {known}")
        return index

    def _jobs_on(self: Scheduler, index: int) -> list[Job]:
        return [j for j in self.jobs.values() if any(e.node == index for e in j.extents)]


def _same_layout(old: Node, new: Node) -> bool:
    return [(d.capacity, d.path) for d in old.disks] == [(d.capacity, d.path) for d in new.disks]
