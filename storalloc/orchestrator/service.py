"""The orchestrator process: sockets, event loop, server liveness, and message dispatch.

One loop polls both ROUTER sockets with a timeout equal to the time left until the next
timer (lease start or end, liveness check), so a request is handled the moment it arrives
and a lease ends on time, without sleeping or polling on a fixed period.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import zmq

from storalloc.core.clock import Clock, LiveClock, VirtualClock
from storalloc.core.cluster import Cluster, build_node
from storalloc.core.events import Event, JobChanged, NodeJoined, PartRequested
from storalloc.core.jobs import Job
from storalloc.core.scheduler import Scheduler, SchedulerError
from storalloc.core.timers import TimerQueue
from storalloc.core.virtual import drain
from storalloc.orchestrator.recovery import StoreArchive, node_record, recover
from storalloc.orchestrator.store import Store
from storalloc.orchestrator.timeline import Bar, NodeRows, render_timeline, terminal_columns
from storalloc.orchestrator.wire_adapter import WireAdapter
from storalloc.sim.replay import InstantServers, ReplayOrderError, submit_at
from storalloc.strategies.base import Strategy
from storalloc.wire import protocol as p
from storalloc.wire.security import CredentialError, NodeKeys, OrchestratorSecurity, peer_key
from storalloc.wire.transport import Router, drain_fd

log = logging.getLogger(__name__)


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
        store: Store | None = None,
        warn_before: float = 0.0,
        max_setup_attempts: int = 3,
        setup_retry_backoff: float = 5.0,
        context: zmq.Context | None = None,
        security: OrchestratorSecurity | None = None,
        reply_queue: int = 10_000,
        metrics: Any = None,  # storalloc.orchestrator.metrics.Metrics, optional
    ) -> None:
        self.ctx = context or zmq.Context.instance()
        self.security = security
        self._peer: str | None = None  # CURVE key of the peer whose message is in hand
        if security is not None:
            security.start(self.ctx)
        self.clients = Router(self.ctx, client_endpoint, reply_queue=reply_queue,
                              curve=security.client_curve if security else None)
        self.servers = Router(self.ctx, server_endpoint, reply_queue=reply_queue,
                              curve=security.server_curve if security else None)
        self.simulate = simulate
        self.instance = uuid.uuid4().hex  # tells waiting clients that this is a new start
        self.clock: Clock = VirtualClock() if simulate else LiveClock()
        self.timers = TimerQueue()  # scheduler time: virtual in simulation
        self.finished: list[Job] = []
        self.wire = WireAdapter(self.clients, self.servers, heartbeat_interval)
        # Trace jobs run on virtual time: their setup must not race the server processes'
        # answers, or one replay would differ from the next. They are set up at once, as
        # the one-process simulator does, so both replays give the same report.
        self.instant = InstantServers({})
        self.scheduler = Scheduler(
            Cluster(), strategy, self.clock, self.timers,
            self._emit_simulated if simulate else self.wire,
            block_size=block_size, admins=admins, max_request_gb=max_request_gb,
            warn_before=warn_before, max_setup_attempts=max_setup_attempts,
            retry_backoff=setup_retry_backoff,
            on_finish=self.finished.append if simulate else None,
            on_placed=self._draw if log.isEnabledFor(logging.DEBUG) else None,
        )  # fmt: skip
        self.instant.scheduler = self.scheduler
        self.report_builder = report_builder
        self.metrics = metrics
        if metrics is not None:
            self.wire.listeners.append(metrics.listener(self.clock))
        self.heartbeat_timeout = heartbeat_timeout
        self.last_seen: dict[int, float] = {}  # node → monotonic time of its last message
        self._next_liveness = time.monotonic() + heartbeat_interval
        self._liveness_period = heartbeat_interval
        self._stop = False
        self.store = store
        self._saved_next_id = -1
        if store is not None:
            self.wire.listeners.append(self._remember)
            self.scheduler.archive = StoreArchive(store)
            if security is not None:  # names stay bound to their keys across restarts
                security.node_keys = NodeKeys(store.node_key)
            recover(self.scheduler, store.load())
            self._saved_next_id = self.scheduler.next_id

    def _remember(self, event: Event) -> None:
        """What the store must keep: every job change, every node that registers."""
        assert self.store is not None
        if type(event) is JobChanged:
            self.store.job_changed(event.job)
        elif type(event) is NodeJoined:
            self._save_node(event.node.index)

    def _save_node(self, index: int) -> None:
        if self.store is not None:
            node = self.scheduler.cluster.nodes[index]
            self.store.node_changed(node.name, index=index, key=self._peer,
                                    data=node_record(node))  # fmt: skip

    def _commit(self) -> None:
        """One transaction per loop turn, before any message of that turn leaves."""
        if self.store is None:
            return
        if self.scheduler.next_id != self._saved_next_id:
            self._saved_next_id = self.scheduler.next_id
            self.store.set_next_id(self._saved_next_id)
        self.store.flush()

    def _emit_simulated(self, event: Event) -> None:
        if type(event) is PartRequested and event.job.quiet:
            self.instant(event)
        else:
            self.wire(event)

    def stop(self) -> None:
        """Ask the loop to return; safe to call from a signal handler."""
        self._stop = True

    def close(self) -> None:
        self.clients.close()
        self.servers.close()
        if self.security is not None:
            self.security.stop()

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
            # What this turn sends waits until its state is saved (issue 10: nothing may
            # report a change that a crash could still lose).
            self.clients.hold()
            self.servers.hold()
            # Drain what is ready before housekeeping, so a burst is served in one pass.
            if self.servers.socket in events:
                self._drain(self.servers, self._on_server)
            if self.clients.socket in events:
                self._drain(self.clients, self._on_client)
            self._housekeeping()
            if self.metrics is not None and self.metrics.due():
                self.metrics.refresh(self.scheduler)
            self._commit()
            self.servers.release()
            self.clients.release()

    def _timeout_ms(self) -> int:
        deadlines = [self._next_liveness - time.monotonic()]
        if not self.simulate:
            nxt = self.timers.next_deadline()
            if nxt is not None:
                deadlines.append(nxt - self.clock.now())
        return max(0, int(min(deadlines) * 1000) + 1)

    def _drain(self, router: Router, handle: Callable[[bytes, list[bytes]], None]) -> None:
        for _ in range(1000):  # bounded, so one busy socket cannot starve the other
            got = router.recv_nowait()
            if got is None:
                return
            address, frames, last = got
            self._peer = peer_key(last)
            try:
                handle(address, frames)
            except Exception:
                # A bug must cost one request, not the site: log it, answer, go on serving.
                log.exception("internal error while handling a message from %s",
                              address.hex())
                router.send(address, p.Error(code="internal", message="internal error in "
                            "the orchestrator; see its log"))

    def _housekeeping(self) -> None:
        for address in self.servers.take_dropped():  # it never reads its orders: it is down
            node = self.wire.node_of_address.pop(address, None)
            if node is not None and self.last_seen.pop(node, None) is not None:
                self.scheduler.node_down(node)
        if not self.simulate:
            try:
                self.timers.run_due(self.clock.now())
            except Exception:
                log.exception("internal error in a timer")
        now = time.monotonic()
        if now >= self._next_liveness:
            self._next_liveness = now + self._liveness_period
            for node, seen in list(self.last_seen.items()):
                if now - seen > self.heartbeat_timeout:
                    del self.last_seen[node]
                    self.scheduler.node_down(node)

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
                self._save_node(s.node_ref(msg.node))
                return p.Done(request_id=msg.request_id, text=text)
            case p.ListNodes():
                return p.NodeList(
                    request_id=msg.request_id, nodes=s.nodes_info(), simulate=self.simulate,
                    submitted=s.next_id, now=s.clock.now(),
                )
            case p.RemoveNode():
                return self._remove_node(msg)
            case p.TraceSubmit():
                return self._trace_submit(msg)
            case p.TraceEnd():
                return self._trace_end(msg)
        return p.Error(
            code="unexpected", message=f"{msg.kind} is not a client request",
            request_id=getattr(msg, "request_id", None),
        )  # fmt: skip

    def _remove_node(self, msg: p.RemoveNode) -> p.Message:
        s = self.scheduler
        name = s.cluster.nodes[s.node_ref(msg.node)].name
        text = s.remove_node(msg.node, msg.user)
        if self.security is not None:
            self.security.node_keys.forget(name)
        if self.store is not None:
            self.store.node_removed(name)
        return p.Done(request_id=msg.request_id, text=text)

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
        if address in self.servers.dropped:
            return  # it stopped reading; it is heard again once it reconnects
        msg = self._decode(self.servers, address, frames, "server")
        if msg is None:
            return
        node = self.wire.node_of_address.get(address)
        if node is not None:
            self.last_seen[node] = time.monotonic()
        match msg:
            case p.Register() if (refused := self._name_refused(msg.name, address)) is not None:
                log.warning("server %s refused: %s", address.hex(), refused[1])
                self.servers.send(address, p.Error(code=refused[0], message=refused[1]))
            case p.Register():
                joining = build_node(msg.name, msg.hostname, msg.network_bw, msg.disks)
                index = self.scheduler.admit_node(joining)
                self.wire.bind(index, address)
                self.last_seen[index] = time.monotonic()
                self.scheduler.node_joined(index, msg.exports)
            case _ if node is None or not self.scheduler.cluster.nodes[node].up:
                self.servers.send(address, p.Reregister(reason="unknown or expired server"))
            case p.Heartbeat():
                pass
            case p.Allocated():
                if not self.scheduler.part_ready(
                    msg.job_id, msg.part, msg.attempt, node, msg.export_id, msg.connection
                ):
                    self.servers.send(
                        address,
                        p.Deallocate(job_id=msg.job_id, part=msg.part, export_id=msg.export_id),
                    )
            case p.AllocFailed():
                if self.metrics is not None:
                    self.metrics.setup_failed()
                self.scheduler.part_failed(msg.job_id, msg.part, msg.attempt, node, msg.reason)
            case _:
                self.servers.send(
                    address, p.Error(code="unexpected", message=f"{msg.kind} is not for servers")
                )

    def _name_refused(self, name: str, address: bytes) -> tuple[str, str] | None:
        """(code, reason) when the peer in hand may not register `name`, else None: another
        key holds the name, or another live connection does (two servers, one name)."""
        if self.security is not None:
            refusal = self.security.node_keys.check(name, self._peer)
            if refusal is not None:
                return "name_taken", refusal
        known = self.scheduler.cluster.node_index(name)
        if known is None or known not in self.last_seen:
            return None
        holder = self.wire.node_address.get(known)
        if holder is None or holder == address:
            return None
        return "name_in_use", (f"node name {name!r} is in use by a live server; this one is "
                               f"refused until that one stops or times out")  # fmt: skip

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
