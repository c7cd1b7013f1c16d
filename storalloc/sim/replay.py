"""Feed trace records to the real Scheduler on virtual time, in one process or behind sockets.

`submit_at` is the one step both replay paths take per record: the orchestrator's
`--simulate` handler for `TraceBatch`, and the in-process simulator (`storalloc.sim.sweep`).
Sharing it is what makes a one-process replay and a three-process replay of the same trace
give the same report.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from storalloc.core import events as ev
from storalloc.core.clock import VirtualClock
from storalloc.core.cluster import Cluster, Node, build_node, describe_disks
from storalloc.core.jobs import Job
from storalloc.core.scheduler import Scheduler
from storalloc.core.timers import TimerQueue
from storalloc.core.virtual import advance, drain
from storalloc.sim.traces.base import TraceRecord
from storalloc.strategies.base import Strategy


class ReplayOrderError(ValueError):
    """A record submitted before the current virtual time: the trace is not sorted."""


def submit_at(
    scheduler: Scheduler,
    clock: VirtualClock,
    timers: TimerQueue,
    *,
    trace_id: str,
    user: str,
    submit: float,
    size: float,
    duration: float,
    begin: float | None,
    request_id: str = "",
) -> Job:
    """Move virtual time to `submit` (firing every timer due on the way), then submit the
    record as a quiet job. Raises ReplayOrderError when `submit` is in the past."""
    if submit < clock.now():
        raise ReplayOrderError(f"trace record {trace_id} goes back in time; sort the trace")
    advance(clock, timers, submit)
    return scheduler.submit(
        user=user, size=size, duration=duration, begin=begin, trace_id=trace_id,
        request_id=request_id, quiet=True,
    )  # fmt: skip


def submit_record(
    scheduler: Scheduler, clock: VirtualClock, timers: TimerQueue, record: TraceRecord
) -> Job:
    """`submit_at` for a TraceRecord (its `start` is the job's `begin`)."""
    return submit_at(
        scheduler, clock, timers, trace_id=record.id, user=record.user, submit=record.submit,
        size=record.capacity, duration=record.duration, begin=record.start,
    )  # fmt: skip


def replay_records(
    scheduler: Scheduler,
    clock: VirtualClock,
    timers: TimerQueue,
    records: Iterable[TraceRecord],
    on_record: Callable[[int], None] | None = None,
) -> None:
    """Submit every record at its submit time, then run the remaining timers (leases end)."""
    for count, record in enumerate(records, start=1):
        submit_record(scheduler, clock, timers, record)
        if on_record is not None:
            on_record(count)
    drain(clock, timers)


#: The servers' default NQN prefix (config `nqn_prefix`), which simulated exports use.
NQN_PREFIX = "nqn.2026-11.io.storalloc"
#: The prefix of a node whose hostname the simulation was not told.
_UNNAMED_NODE = f"{NQN_PREFIX}:node:"


class InstantServers:
    """The scheduler's `emit` standing in for simulated storage servers: every part asked
    for is exported at once (a connection like `SimulatedBackend`'s); nothing else needs
    an answer, and trace jobs have no client to tell."""

    def __init__(self, hostnames: dict[int, str]) -> None:
        self.scheduler: Scheduler | None = None
        # Each node's NQN prefix, built once: a replay exports a million parts.
        self._prefixes = {i: f"{NQN_PREFIX}:{host}:" for i, host in hostnames.items()}

    def __call__(self, event: ev.Event) -> None:
        if type(event) is not ev.PartRequested or self.scheduler is None:
            return
        job, part = event.job, event.part
        node = job.extents[part].node
        export_id = f"j{job.id}-p{part}"
        prefix = self._prefixes.get(node, _UNNAMED_NODE)
        connection = {"type": "nvme", "nqn": prefix + export_id}
        self.scheduler.part_ready(job.id, part, job.attempts[part], node, export_id, connection)


@dataclass(slots=True)
class Simulation:
    """A Scheduler on a virtual clock with instant servers, and the jobs that ended."""

    scheduler: Scheduler
    clock: VirtualClock
    timers: TimerQueue
    finished: list[Job] = field(default_factory=list)

    def replay(
        self, records: Iterable[TraceRecord], on_record: Callable[[int], None] | None = None
    ) -> None:
        with no_cycle_collection():
            replay_records(self.scheduler, self.clock, self.timers, records, on_record)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for the duration: a replay keeps every ended job for
    its report (a million objects and more), each full collection walks all of them, and
    they cost 10 % of a replay at 10,000 live leases. A replay makes no cyclic garbage
    (tests/test_replay_memory.py checks it), so reference counting frees all it drops.

    Turned back on, the collector would first walk everything the replay left in its
    youngest generation, then again in the middle one, before they reach the oldest (1 s
    after a million requests). `freeze` then `unfreeze` moves them there at once, without
    a walk: they stay collectable, by the full collections that would walk them anyway."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def keep_for_report(finished: list[Job]) -> Callable[[Job], None]:
    """`on_finish` of a replay: keep each ended job, without what only a live job uses."""

    def keep(job: Job) -> None:
        job.shed()
        finished.append(job)

    return keep


def make_node(name: str, node: Any) -> Node:
    """A cluster Node from a `storalloc.config.loader.NodeConfig`, built as the orchestrator builds
    one from a server's `Register` message."""
    return build_node(name, node.hostname, node.network_bw, describe_disks(node.disks))


def new_simulation(
    nodes: Iterable[Node],
    strategy: Strategy,
    *,
    block_size: float = 0.0,
    admins: frozenset[str] = frozenset({"root"}),
) -> Simulation:
    """A scheduler like the orchestrator's under `--simulate`, with `nodes` registered in
    order (as servers started one after the other would be)."""
    clock = VirtualClock()
    timers = TimerQueue()
    nodes = list(nodes)
    outbox = InstantServers({i: n.hostname for i, n in enumerate(nodes)})
    finished: list[Job] = []
    scheduler = Scheduler(
        Cluster(), strategy, clock, timers, outbox, block_size=block_size, admins=admins,
        on_finish=keep_for_report(finished), track_changes=False, history=0,
    )  # fmt: skip
    outbox.scheduler = scheduler
    for node in nodes:
        scheduler.register_node(node)
    return Simulation(scheduler, clock, timers, finished)
