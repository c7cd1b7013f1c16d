"""The orchestrator's Prometheus endpoint (optional: `metrics: HOST:PORT` in its config).

Plain method calls from the orchestrator's loop thread feed it: events as they happen
(`job_state_changed`, `job_granted`, `request_answered`, `setup_failed`, `node_up`), and
`refresh(scheduler)` at most every `metrics_interval` seconds for what is read from the
scheduler's state (capacity booked now and later per disk, jobs by state, queue length).
prometheus_client serves the text format from its own thread; it only reads the values.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from typing import Any

log = logging.getLogger(__name__)

WAIT_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
ACTIVE_STATES = ("PENDING", "CONFIGURING", "ALLOCATED")


class MetricsUnavailable(Exception):
    """Metrics are on in the config but cannot be served (the message says why)."""


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise MetricsUnavailable(
            "the configuration enables metrics, but prometheus_client is not installed: "
            "pip install 'storalloc[metrics]' (or prometheus_client), or remove 'metrics'"
        ) from None
    return prometheus_client


class Metrics:
    """Every metric of one orchestrator, in a registry of its own."""

    def __init__(self, interval: float = 5.0) -> None:
        pc = _client()
        self.registry = pc.CollectorRegistry()
        self.interval = interval
        self._next_refresh = 0.0
        self._server: Any = None
        r, p = self.registry, "storalloc_"
        disk = ["node", "disk"]
        self.capacity = pc.Gauge(p + "capacity_gb", "Disk capacity", disk, registry=r)
        self.booked_now = pc.Gauge(p + "booked_now_gb", "GB booked now", disk, registry=r)
        self.booked_future = pc.Gauge(p + "booked_future_gb", "GB booked by leases that "
                                      "start later", disk, registry=r)  # fmt: skip
        self.jobs = pc.Gauge(p + "jobs", "Active jobs by state", ["state"], registry=r)
        self.queue = pc.Gauge(p + "queue_length", "Jobs waiting (PENDING)", registry=r)
        self.node = pc.Gauge(p + "node_up", "1 when the node is up", ["node"], registry=r)
        self.transitions = pc.Counter(p + "job_transitions", "Jobs entering each state",
                                      ["state"], registry=r)  # fmt: skip
        self.grants = pc.Counter(p + "grants", "Granted allocations", registry=r)
        self.refusals = pc.Counter(p + "refusals", "Refused requests by reason code",
                                   ["reason"], registry=r)  # fmt: skip
        self.setup_failures = pc.Counter(p + "setup_failures", "Parts servers failed to set "
                                         "up", registry=r)  # fmt: skip
        self.wait = pc.Histogram(p + "wait_seconds", "Submission to grant",
                                 buckets=WAIT_BUCKETS, registry=r)  # fmt: skip
        self.latency = pc.Histogram(p + "request_latency_seconds", "Time to answer a client "
                                    "message", buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip

    def serve(self, listen: str) -> str:
        """Start the HTTP endpoint on HOST:PORT (port 0: any free one); its address."""
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        try:
            server, _thread = _client().start_http_server(int(port), host, self.registry)
        except OSError as exc:
            raise MetricsUnavailable(f"cannot serve metrics on {listen}: {exc}") from None
        self._server = server
        address = f"{host}:{server.server_port}"
        log.info("metrics on http://%s/metrics", address)
        return address

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- events ------------------------------------------------------------------------

    def job_state_changed(self, old_state: str | None, new_state: str, reason_code: str) -> None:
        self.transitions.labels(new_state).inc()
        if new_state == "ALLOCATED" and old_state != "ALLOCATED":
            self.grants.inc()
        elif new_state in ("REFUSED", "FAILED"):
            self.refusals.labels(reason_code or new_state.lower()).inc()

    def job_granted(self, wait_s: float) -> None:
        self.wait.observe(max(0.0, wait_s))

    def request_answered(self, latency_s: float) -> None:
        self.latency.observe(latency_s)

    def setup_failed(self) -> None:
        self.setup_failures.inc()

    def node_up(self, name: str, up: bool) -> None:
        self.node.labels(name).set(1 if up else 0)

    # --- state -------------------------------------------------------------------------

    def due(self) -> bool:
        """True at most once per interval: time to call refresh()."""
        now = time.monotonic()
        if now < self._next_refresh:
            return False
        self._next_refresh = now + self.interval
        return True

    def refresh(self, scheduler: Any) -> None:
        """Gauges read from the scheduler: per disk, per state, the queue."""
        now = scheduler.clock.now()
        later: Tally[tuple[int, int]] = Tally()
        states: Tally[str] = Tally({state: 0 for state in ACTIVE_STATES})
        for job in scheduler.jobs.values():
            states[str(job.state)] += 1
            if job.start is not None and job.start > now:
                for ext in job.extents:
                    later[(ext.node, ext.disk)] += ext.size
        for node in scheduler.cluster.nodes:
            self.node_up(node.name, node.up)
            for index, disk in enumerate(node.disks):
                labels = (node.name, str(index))
                self.capacity.labels(*labels).set(disk.capacity)
                self.booked_now.labels(*labels).set(disk.usage.used_at(now))
                self.booked_future.labels(*labels).set(later[(node.index, index)])
        for state, count in states.items():
            self.jobs.labels(state).set(count)
        self.queue.set(len(scheduler.waiting))

    def listener(self, clock: Any) -> Any:
        """A listener for the core's domain events (storalloc.core.events): every change
        of a job's state, and the wait of each grant."""
        from storalloc.core.events import JobChanged

        def listen(event: Any) -> None:
            if type(event) is not JobChanged or event.old_state == event.job.state:
                return
            job = event.job
            self.job_state_changed(event.old_state, job.state.value, job.reason_code)
            if job.state.value == "ALLOCATED":
                self.job_granted(clock.now() - job.submit)

        return listen
