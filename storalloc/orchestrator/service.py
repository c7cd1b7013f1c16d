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
from storalloc.core.cluster import Cluster
from storalloc.core.events import Event, JobChanged, NodeJoined, PartReleased, PartRequested
from storalloc.core.jobs import Job
from storalloc.core.scheduler import Scheduler
from storalloc.core.timers import TimerQueue
from storalloc.orchestrator.client_desk import ClientDesk
from storalloc.orchestrator.recovery import StoreArchive, node_record, recover
from storalloc.orchestrator.server_desk import ServerDesk
from storalloc.orchestrator.store import Store
from storalloc.orchestrator.timeline import Bar, NodeRows, render_timeline, terminal_columns
from storalloc.orchestrator.wire_adapter import WireAdapter
from storalloc.sim.replay import InstantServers, keep_for_report
from storalloc.strategies.base import Strategy
from storalloc.wire import protocol as p
from storalloc.wire.security import NodeKeys, OrchestratorSecurity, peer_key
from storalloc.wire.transport import Router, drain_fd

log = logging.getLogger(__name__)


class Orchestrator(ClientDesk, ServerDesk):
    """Serve clients and storage servers until `stop()`."""

    def __init__(
        self,
        *,
        client_endpoint: str,
        server_endpoint: str,
        strategy: Strategy,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 15.0,
        simulate: bool = False,
        report_builder: Callable[[Scheduler, list[Job]], dict] | None = None,
        store: Store | None = None,
        context: zmq.Context | None = None,
        security: OrchestratorSecurity | None = None,
        reply_queue: int = 10_000,
        metrics: Any = None,  # storalloc.orchestrator.metrics.Metrics, optional
        **core: Any,  # the Scheduler's own options: block_size, admins, warn_before, ...
    ) -> None:
        self.ctx = context or zmq.Context.instance()
        self.security = security
        self._peer: str | None = None  # CURVE key of the peer whose message is in hand
        self._open_sockets(client_endpoint, server_endpoint, reply_queue)
        self.simulate = simulate
        self.instance = uuid.uuid4().hex  # tells waiting clients that this is a new start
        self.clock: Clock = VirtualClock() if simulate else LiveClock()
        self.timers = TimerQueue()  # scheduler time: virtual in simulation
        self.finished: list[Job] = []
        self.wire = WireAdapter(self.clients, self.servers, heartbeat_interval, self.instance)
        self.scheduler = self._build_scheduler(strategy, core)
        self.report_builder = report_builder
        self.metrics = metrics
        if metrics is not None:
            self.wire.listeners.append(metrics.listener(self.clock))
        self._watch_servers(heartbeat_interval, heartbeat_timeout)
        self._stop = False
        self._attach_store(store)

    def _watch_servers(self, interval: float, timeout: float) -> None:
        """A server silent for `timeout` seconds is down; checked every `interval`."""
        self.heartbeat_timeout = timeout
        self.last_seen: dict[int, float] = {}  # node → monotonic time of its last message
        self._next_liveness = time.monotonic() + interval
        self._liveness_period = interval

    def _build_scheduler(self, strategy: Strategy, core: dict[str, Any]) -> Scheduler:
        # Trace jobs run on virtual time: their setup must not race the server processes'
        # answers, or one replay would differ from the next. They are set up at once, as
        # the one-process simulator does, so both replays give the same report.
        self.instant = InstantServers({})
        scheduler = Scheduler(
            Cluster(), strategy, self.clock, self.timers,
            self._emit_simulated if self.simulate else self.wire,
            on_finish=keep_for_report(self.finished) if self.simulate else None,
            on_placed=self._draw if log.isEnabledFor(logging.DEBUG) else None,
            **core,
        )  # fmt: skip
        self.instant.scheduler = scheduler
        return scheduler

    def _open_sockets(self, client_endpoint: str, server_endpoint: str, queue: int) -> None:
        security = self.security
        if security is not None:
            security.start(self.ctx)
        self.clients = Router(self.ctx, client_endpoint, reply_queue=queue,
                              curve=security.client_curve if security else None)
        self.servers = Router(self.ctx, server_endpoint, reply_queue=queue,
                              curve=security.server_curve if security else None)

    def _attach_store(self, store: Store | None) -> None:
        """Come back from the store, and keep it up to date from now on."""
        self.store = store
        self._saved_next_id = -1
        if store is None:
            return
        self.wire.listeners.append(self._remember)
        self.scheduler.archive = StoreArchive(store)
        if self.security is not None:  # names stay bound to their keys across restarts
            self.security.node_keys = NodeKeys(store.node_key)
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
        # Trace jobs' parts are set up at once, in process: no server hears of them.
        kind = type(event)
        if kind is PartRequested and event.job.quiet:  # type: ignore[attr-defined]
            self.instant(event)
        elif kind is not PartReleased or not event.quiet:  # type: ignore[attr-defined]
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
            self._turn(events)

    def _turn(self, events: dict[Any, int]) -> None:
        """Serve what `events` says is waiting, run due timers, commit once, then send.

        What the turn sends waits until its state is saved (issue 10: nothing may report a
        change that a crash could still lose). Orders to servers wait too, though sending
        them at once would let a server set up during the commit: measured, that woke the
        server once per order instead of once per turn, cost 100 us of orchestrator and
        50 us of server CPU per grant under load, and gained nothing unpipelined.
        """
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
