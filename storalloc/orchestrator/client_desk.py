"""What the orchestrator does with a client's message: identify the user, dispatch to the
scheduler, answer. A mixin of `Orchestrator` (storalloc.orchestrator.service)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from storalloc.core.clock import VirtualClock
from storalloc.core.scheduler import SchedulerError
from storalloc.core.virtual import drain
from storalloc.orchestrator.decoding import decode_or_answer
from storalloc.sim.replay import ReplayOrderError, submit_at
from storalloc.wire import protocol as p
from storalloc.wire.security import CredentialError

if TYPE_CHECKING:
    from storalloc.orchestrator.service import Orchestrator

log = logging.getLogger("storalloc.orchestrator.service")


class ClientDesk:
    """Client messages; `self` is the Orchestrator."""

    def _on_client(self: Orchestrator, address: bytes, frames: list[bytes]) -> None:
        began = time.perf_counter()
        msg = decode_or_answer(self.clients, address, frames, "client")
        if msg is None:
            return
        request_id = getattr(msg, "request_id", None)
        if isinstance(msg, p.Ping):  # liveness only: no state, no dispatch
            self.clients.send(address, p.Pong(request_id=msg.request_id, instance=self.instance))
            return
        if self.security is not None:
            try:
                msg = self.security.identify(msg)  # the user comes from MUNGE, not the message
            except CredentialError as exc:
                log.warning("client %s refused: %s", address.hex(), exc)
                self.clients.send(address, p.Error(code=exc.code, message=str(exc),
                                                   request_id=request_id))
                return
        try:
            reply = self._serve_client(address, msg)
        except SchedulerError as exc:
            reply = p.Error(code=exc.code, message=str(exc), request_id=request_id)
        if reply is not None:
            self.clients.send(address, reply)
        if self.metrics is not None:
            self.metrics.request_answered(time.perf_counter() - began)

    def _serve_client(self: Orchestrator, address: bytes, msg: p.Message) -> p.Message | None:
        s = self.scheduler
        match msg:
            case p.AllocRequest():
                s.submit(
                    user=msg.user, size=msg.size_gb, duration=msg.duration_s, begin=msg.begin,
                    stripes=msg.stripes, immediate=msg.immediate, hostnqn=msg.hostnqn,
                    client=address, request_id=msg.request_id,
                )  # fmt: skip
                return None
            case p.Release() | p.Cancel():
                return p.Done(request_id=msg.request_id, text=s.release(msg.job_id, msg.user))
            case p.ListJobs():
                return p.JobList(request_id=msg.request_id, jobs=s.listing(), now=s.clock.now())
            case p.ShowJob():
                job = s.show(msg.job_id, msg.user)
                return p.JobInfo(request_id=msg.request_id, job=job, now=s.clock.now())
            case p.DrainNode():
                text = s.drain(msg.node, msg.user, msg.drain)
                self._save_node(s.node_ref(msg.node))
                return p.Done(request_id=msg.request_id, text=text)
            case p.ListNodes():
                return p.NodeList(
                    request_id=msg.request_id, nodes=s.nodes_info(), simulate=self.simulate,
                    submitted=s.next_id, now=s.clock.now(),
                )
            case p.RemoveNode():
                return self._remove_node(msg)
            case p.TraceBatch():
                return self._trace_batch(msg)
            case p.TraceEnd():
                return self._trace_end(msg)
        return p.Error(
            code="unexpected", message=f"{msg.kind} is not a client request",
            request_id=getattr(msg, "request_id", None),
        )  # fmt: skip

    def _remove_node(self: Orchestrator, msg: p.RemoveNode) -> p.Message:
        s = self.scheduler
        name = s.cluster.nodes[s.node_ref(msg.node)].name
        text = s.remove_node(msg.node, msg.user)
        if self.security is not None:
            self.security.node_keys.forget(name)
        if self.store is not None:
            self.store.node_removed(name)
        return p.Done(request_id=msg.request_id, text=text)

    def _trace_batch(self: Orchestrator, msg: p.TraceBatch) -> p.Message:
        """Submit the records in order; the first one out of order ends the batch with an
        error naming it (the ones before it stay submitted, as they would one by one)."""
        if not isinstance(self.clock, VirtualClock):
            raise SchedulerError("not_simulating", "trace replay needs orchestrator --simulate")
        job_id = None
        rows = zip(msg.trace_ids, msg.users, msg.submits, msg.sizes_gb, msg.durations_s,
                   msg.begins, strict=True)  # fmt: skip
        for trace_id, user, submit, size, duration, begin in rows:
            try:
                job = submit_at(
                    self.scheduler, self.clock, self.timers, trace_id=trace_id, user=user,
                    submit=submit, size=size, duration=duration, begin=begin,
                )  # fmt: skip
            except ReplayOrderError as exc:
                raise SchedulerError("bad_order", str(exc)) from None
            job_id = job.id
        return p.TraceAck(request_id=msg.request_id, job_id=job_id)

    def _trace_end(self: Orchestrator, msg: p.TraceEnd) -> p.Message:
        if not isinstance(self.clock, VirtualClock):
            raise SchedulerError("not_simulating", "trace replay needs orchestrator --simulate")
        drain(self.clock, self.timers)
        report = self.report_builder(self.scheduler, self.finished) if self.report_builder else {}
        return p.Report(request_id=msg.request_id, report=report)
