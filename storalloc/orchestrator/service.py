"""The orchestrator process: sockets, event loop, server liveness, and message dispatch.

One loop polls both ROUTER sockets with a timeout equal to the time left until the next
timer (lease start or end, liveness check), so a request is handled the moment it arrives
and a lease ends on time, without sleeping or polling on a fixed period.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import zmq

from storalloc.core.clock import Clock, LiveClock, VirtualClock
from storalloc.core.cluster import Cluster, build_node
from storalloc.core.jobs import Job
from storalloc.core.scheduler import Scheduler, SchedulerError
from storalloc.core.timers import TimerQueue
from storalloc.core.virtual import drain
from storalloc.orchestrator import state
from storalloc.orchestrator.timeline import Bar, NodeRows, render_timeline, terminal_columns
from storalloc.sim.replay import ReplayOrderError, submit_at
from storalloc.strategies.base import Strategy
from storalloc.wire import protocol as p
from storalloc.wire.transport import Router, drain_fd

log = logging.getLogger(__name__)


class _Outbox:
    def __init__(self, clients: Router, servers: Router) -> None:
        self.clients = clients
        self.servers = servers
        self.observe: Callable[[p.Message], None] | None = None  # metrics

    def to_client(self, address: Any, msg: p.Message) -> None:
        if self.observe is not None:
            self.observe(msg)
        self.clients.send(address, msg)

    def to_server(self, address: Any, msg: p.Message) -> None:
        if not self.servers.send(address, msg):
            log.debug("server for %s is not connected; it will be reconciled", msg.kind)


class Orchestrator:
    """Serve clients and storage servers until `stop()`."""

    def __init__(
        self,
        *,
        client_endpoint: str,
        server_endpoint: str,
        strategy: Strategy,
        block_size: float = 0.0,
        admins: frozenset[str] = frozenset({"root"}),
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 15.0,
        max_request_gb: float = float("inf"),
        simulate: bool = False,
        report_builder: Callable[[Scheduler, list[Job]], dict] | None = None,
        state_file: str | None = None,
        context: zmq.Context | None = None,
        metrics: Any = None,  # storalloc.orchestrator.metrics.Metrics, optional
    ) -> None:
        self.ctx = context or zmq.Context.instance()
        self.clients = Router(self.ctx, client_endpoint)
        self.servers = Router(self.ctx, server_endpoint)
        self.simulate = simulate
        self.clock: Clock = VirtualClock() if simulate else LiveClock()
        self.timers = TimerQueue()  # scheduler time: virtual in simulation
        self.finished: list[Job] = []
        outbox = _Outbox(self.clients, self.servers)
        self.scheduler = Scheduler(
            Cluster(), strategy, self.clock, self.timers, outbox,
            block_size=block_size, admins=admins, heartbeat_interval=heartbeat_interval,
            max_request_gb=max_request_gb,
            on_finish=self.finished.append if simulate else None,
            on_placed=self._draw if log.isEnabledFor(logging.DEBUG) else None,
        )  # fmt: skip
        self.report_builder = report_builder
        self.metrics = metrics
        if metrics is not None:
            outbox.observe = metrics.observer(self.scheduler)
        self.heartbeat_timeout = heartbeat_timeout
        self.node_of_address: dict[bytes, int] = {}
        self.last_seen: dict[int, float] = {}  # node → monotonic time of its last message
        self._next_liveness = time.monotonic() + heartbeat_interval
        self._liveness_period = heartbeat_interval
        self._stop = False
        self.state_file = state_file
        self._dirty = False
        if state_file:
            saved = state.load(state_file)
            if saved is not None:
                state.restore(self.scheduler, saved, state_file)

    def stop(self) -> None:
        """Ask the loop to return; safe to call from a signal handler."""
        self._stop = True

    def close(self) -> None:
        self.clients.close()
        self.servers.close()

    # --- loop --------------------------------------------------------------------------

    def run(self, wakeup_fd: int | None = None) -> None:
        """Serve until stop(). `wakeup_fd` (a signal wake-up pipe) interrupts the poll."""
        poller = zmq.Poller()
        poller.register(self.clients.socket, zmq.POLLIN)
        poller.register(self.servers.socket, zmq.POLLIN)
        if wakeup_fd is not None:
            poller.register(wakeup_fd, zmq.POLLIN)
        while not self._stop:
            try:
                events = dict(poller.poll(self._timeout_ms()))
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EINTR:  # a signal arrived; the flag says what to do
                    continue
                raise
            if wakeup_fd in events:
                drain_fd(wakeup_fd)
            # Drain what is ready before housekeeping, so a burst is served in one pass.
            if self.servers.socket in events:
                self._drain(self.servers, self._on_server)
            if self.clients.socket in events:
                self._drain(self.clients, self._on_client)
            self._housekeeping()
            if self.metrics is not None and self.metrics.due():
                self.metrics.refresh(self.scheduler)
            if self._dirty and self.state_file:
                self._dirty = False
                state.save(self.state_file, self.scheduler)

    def _timeout_ms(self) -> int:
        deadlines = [self._next_liveness - time.monotonic()]
        if not self.simulate:
            nxt = self.timers.next_deadline()
            if nxt is not None:
                deadlines.append(nxt - self.clock.now())
        return max(0, int(min(deadlines) * 1000) + 1)

    def _drain(self, router: Router, handle: Callable[[bytes, list[bytes]], None]) -> None:
        for _ in range(1000):  # bounded, so one busy socket cannot starve the other
            try:
                frames = router.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                handle(frames[0], frames[1:])
            except Exception:
                # A bug must cost one request, not the site: log it, answer, go on serving.
                log.exception("internal error while handling a message from %s",
                              frames[0].hex())
                router.send(frames[0], p.Error(code="internal", message="internal error in "
                            "the orchestrator; see its log"))

    def _housekeeping(self) -> None:
        if not self.simulate:
            try:
                if self.timers.run_due(self.clock.now()):
                    self._dirty = True
            except Exception:
                log.exception("internal error in a timer")
                self._dirty = True
        now = time.monotonic()
        if now >= self._next_liveness:
            self._next_liveness = now + self._liveness_period
            for node, seen in list(self.last_seen.items()):
                if now - seen > self.heartbeat_timeout:
                    del self.last_seen[node]
                    self.scheduler.node_down(node)
                    self._dirty = True

    # --- clients -----------------------------------------------------------------------

    @staticmethod
    def _decode(router: Router, address: bytes, frames: list[bytes], peer: str) -> p.Message | None:
        """The message, or None after answering `error` (the loop goes on serving)."""
        try:
            return p.decode(frames)
        except p.ProtocolError as exc:
            log.warning("%s %s sent a bad message: %s", peer, address.hex(), exc)
            router.send(address, p.Error(code=exc.code, message=str(exc)))
            return None

    def _on_client(self, address: bytes, frames: list[bytes]) -> None:
        began = time.perf_counter()
        msg = self._decode(self.clients, address, frames, "client")
        if msg is None:
            return
        request_id = getattr(msg, "request_id", None)
        if isinstance(msg, p.Ping):  # liveness only: no state, no dispatch
            self.clients.send(address, p.Pong(request_id=msg.request_id))
            return
        if not isinstance(msg, p.ListJobs | p.ShowJob | p.ListNodes):
            self._dirty = True
        try:
            reply = self._serve_client(address, msg)
        except SchedulerError as exc:
            reply = p.Error(code=exc.code, message=str(exc), request_id=request_id)
        if reply is not None:
            self.clients.send(address, reply)
        if self.metrics is not None:
            self.metrics.request_answered(time.perf_counter() - began)

    def _serve_client(self, address: bytes, msg: p.Message) -> p.Message | None:
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
                return p.Done(request_id=msg.request_id, text=text)
            case p.ListNodes():
                return p.NodeList(
                    request_id=msg.request_id, nodes=s.nodes_info(), simulate=self.simulate,
                    submitted=s.next_id, now=s.clock.now(),
                )
            case p.TraceSubmit():
                return self._trace_submit(msg)
            case p.TraceEnd():
                return self._trace_end(msg)
        return p.Error(
            code="unexpected", message=f"{msg.kind} is not a client request",
            request_id=getattr(msg, "request_id", None),
        )  # fmt: skip

    def _trace_submit(self, msg: p.TraceSubmit) -> p.Message:
        if not isinstance(self.clock, VirtualClock):
            raise SchedulerError("not_simulating", "trace replay needs orchestrator --simulate")
        try:
            job = submit_at(
                self.scheduler, self.clock, self.timers, trace_id=msg.trace_id,
                user=msg.user, submit=msg.submit, size=msg.size_gb, duration=msg.duration_s,
                begin=msg.begin, request_id=msg.request_id,
            )  # fmt: skip
        except ReplayOrderError as exc:
            raise SchedulerError("bad_order", str(exc)) from None
        return p.TraceAck(request_id=msg.request_id, job_id=job.id)

    def _trace_end(self, msg: p.TraceEnd) -> p.Message:
        if not isinstance(self.clock, VirtualClock):
            raise SchedulerError("not_simulating", "trace replay needs orchestrator --simulate")
        drain(self.clock, self.timers)
        report = self.report_builder(self.scheduler, self.finished) if self.report_builder else {}
        return p.Report(request_id=msg.request_id, report=report)

    # --- servers -----------------------------------------------------------------------

    def _on_server(self, address: bytes, frames: list[bytes]) -> None:
        msg = self._decode(self.servers, address, frames, "server")
        if msg is None:
            return
        node = self.node_of_address.get(address)
        if node is not None:
            self.last_seen[node] = time.monotonic()
        if not isinstance(msg, p.Heartbeat):
            self._dirty = True
        match msg:
            case p.Register():
                joining = build_node(msg.name, msg.hostname, msg.network_bw, msg.disks)
                index = self.scheduler.register_node(joining, address, msg.exports)
                self.node_of_address = {a: n for n, a in self.scheduler.node_address.items()}
                self.last_seen[index] = time.monotonic()
            case _ if node is None or not self.scheduler.cluster.nodes[node].up:
                self.servers.send(address, p.Reregister(reason="unknown or expired server"))
            case p.Heartbeat():
                pass
            case p.Allocated():
                if not self.scheduler.part_ready(
                    msg.job_id, msg.part, msg.export_id, msg.connection
                ):
                    self.servers.send(
                        address,
                        p.Deallocate(job_id=msg.job_id, part=msg.part, export_id=msg.export_id),
                    )
            case p.AllocFailed():
                if self.metrics is not None:
                    self.metrics.setup_failed()
                self.scheduler.part_failed(msg.job_id, msg.part, msg.reason)
            case _:
                self.servers.send(
                    address, p.Error(code="unexpected", message=f"{msg.kind} is not for servers")
                )

    # --- debug drawing -----------------------------------------------------------------

    def _draw(self, newest: Job) -> None:
        nodes = self.scheduler.cluster.nodes
        rows: list[list[list[Bar]]] = [[[] for _ in n.disks] for n in nodes]
        for job, ext in self.scheduler.bars():
            rows[ext.node][ext.disk].append(Bar(job.start, job.end, job is newest))
        labelled = len(nodes) > 1
        drawing = render_timeline(
            [
                NodeRows(f"node {n.index} ({n.name})" if labelled else None, rows[n.index])
                for n in nodes
            ],
            columns=terminal_columns(),
        )
        print(drawing, flush=True)
