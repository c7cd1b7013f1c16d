"""The core's domain events as messages: the only place that maps jobs to wire messages
and node numbers to server sockets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from storalloc.core import events as ev
from storalloc.units import format_time_left
from storalloc.wire import protocol as p
from storalloc.wire.transport import Router

log = logging.getLogger(__name__)
audit = logging.getLogger("storalloc.audit")


class WireAdapter:
    """Send what the scheduler emits; also passes every event to `listeners`."""

    def __init__(self, clients: Router, servers: Router, heartbeat_interval: float,
                 instance: str = "") -> None:  # fmt: skip
        self.clients = clients
        self.servers = servers
        self.heartbeat_interval = heartbeat_interval
        self.instance = instance
        self.node_address: dict[int, bytes] = {}
        self.node_of_address: dict[bytes, int] = {}
        self.listeners: list[Callable[[ev.Event], None]] = []
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.JobNotice: self._notice, ev.JobGranted: self._granted,
            ev.JobEnded: self._ended, ev.LeaseEnding: self._lease_ending,
            ev.PartRequested: self._allocate, ev.PartReleased: self._deallocate,
            ev.NodeJoined: self._registered, ev.JobChanged: _ignore,
        }  # fmt: skip

    def bind(self, node: int, address: bytes) -> None:
        """Server `node` now speaks from `address` (a new connection replaces the old)."""
        old = self.node_address.get(node)
        if old is not None:
            self.node_of_address.pop(old, None)
        self.node_address[node] = address
        self.node_of_address[address] = node

    def __call__(self, event: ev.Event) -> None:
        self._handlers[type(event)](event)
        for listener in self.listeners:
            listener(event)

    # --- clients -----------------------------------------------------------------------

    def _notice(self, e: ev.JobNotice) -> None:
        job = e.job
        if e.text == p.granted_text(job.id):
            return  # the `granted` that follows says it: the client shows this line for it
        self.clients.send(job.client, p.Notice(request_id=job.request_id, job_id=job.id,
                                               text=e.text, instance=self.instance))

    def _granted(self, e: ev.JobGranted) -> None:
        job = e.job
        audit.info("grant job=%d user=%s size_gb=%g end=%.0f parts=%s", job.id, job.user,
                   job.size, job.end, ",".join(f"{x.node}:{x.disk}" for x in job.extents))
        self.clients.send(job.client, p.Granted(
            request_id=job.request_id, job_id=job.id,
            connections=[dict(c) for c in job.connections if c], end=job.end,
        ))  # fmt: skip

    def _ended(self, e: ev.JobEnded) -> None:
        job = e.job
        audit.info("end job=%d user=%s state=%s code=%s reason=%s", job.id, job.user,
                   job.state.value, job.reason_code or "-", job.reason or "-")
        if job.granted:
            msg: p.Message = p.Ended(request_id=job.request_id, job_id=job.id,
                                     state=job.state.value, code=job.reason_code,
                                     reason=job.reason)
        else:
            msg = p.Refused(request_id=job.request_id, job_id=job.id, reason=job.reason,
                            code=job.reason_code)
        self.clients.send(job.client, msg)

    def _lease_ending(self, e: ev.LeaseEnding) -> None:
        job = e.job
        text = (f"job {job.id}: lease ends in {format_time_left(e.seconds)}; "
                "stop using its storage")
        self.clients.send(job.client, p.Notice(request_id=job.request_id, job_id=job.id,
                                               text=text))

    # --- servers -----------------------------------------------------------------------

    def _to_server(self, node: int, msg: p.Message) -> None:
        if not self.servers.send(self.node_address.get(node), msg):
            log.debug("server of node %d is not connected; it will be reconciled", node)

    def _allocate(self, e: ev.PartRequested) -> None:
        job, part = e.job, e.part
        ext = job.extents[part]
        self._to_server(ext.node, p.Allocate(
            job_id=job.id, part=part, parts=len(job.parts), disk=ext.disk,
            capacity=ext.size, duration=job.duration / 60, user=job.user,
            hostnqn=job.hostnqn, attempt=job.attempts[part],
        ))  # fmt: skip

    def _deallocate(self, e: ev.PartReleased) -> None:
        self._to_server(e.node, p.Deallocate(job_id=e.job_id, part=e.part,
                                             export_id=e.export_id))

    def _registered(self, e: ev.NodeJoined) -> None:
        audit.info("register node=%d name=%s disks=%d", e.node.index, e.node.name,
                   len(e.node.disks))
        self._to_server(e.node.index, p.Registered(
            node=e.node.index, hold=list(e.hold), heartbeat_interval=self.heartbeat_interval,
        ))  # fmt: skip


def _ignore(_event: ev.Event) -> None:
    """Events only listeners care about."""
