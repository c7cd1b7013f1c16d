"""The core driven by random events (hypothesis state machine): submits, releases, servers
answering, failing, answering late or from the wrong node, nodes going down, coming back and
coming back with other disks, and time passing. After every step the invariants of issue 9
are checked against the core's own state and the events it emitted."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from storalloc.core import events as ev
from storalloc.core.capacity import EPSILON
from storalloc.core.clock import VirtualClock
from storalloc.core.cluster import Cluster, Disk, Node
from storalloc.core.jobs import ACTIVE, State
from storalloc.core.lifecycle import FINAL
from storalloc.core.planning import find_slot
from storalloc.core.scheduler import Scheduler
from storalloc.core.timers import TimerQueue
from storalloc.core.virtual import advance
from storalloc.strategies.first_fit import FirstFit
from storalloc.strategies.worst_fit import WorstFit

T0 = 1_000_000.0
LAYOUTS = [(100.0,), (60.0, 60.0), (40.0, 80.0, 30.0)]


def make_node(name: str, capacities: tuple[float, ...]) -> Node:
    disks = [Disk(-1, i, c, 1.0, 1.0, path=f"/dev/d{i}") for i, c in enumerate(capacities)]
    return Node(-1, name, name, 1.0, disks)


class Lifecycle(RuleBasedStateMachine):
    @initialize(strategy=st.sampled_from([FirstFit, WorstFit]),
                layouts=st.lists(st.sampled_from(LAYOUTS), min_size=1, max_size=3))
    def setup(self, strategy: type, layouts: list[tuple[float, ...]]) -> None:
        self.clock = VirtualClock(T0)
        self.timers = TimerQueue()
        self.events: list[ev.Event] = []
        self.s = Scheduler(Cluster(), strategy(), self.clock, self.timers, self.events.append,
                           max_setup_attempts=3, retry_backoff=7.0, warn_before=30.0)
        self.asked: list[tuple[int, int, int, int]] = []  # (job, part, attempt, node) asked
        self.layout: dict[str, tuple[float, ...]] = {}
        for i, layout in enumerate(layouts):
            self.layout[f"n{i}"] = layout
            self.s.register_node(make_node(f"n{i}", layout))
        self.seen = 0

    def _collect(self) -> None:
        for event in self.events[self.seen:]:
            if isinstance(event, ev.PartRequested):
                job, part = event.job, event.part
                self.asked.append((job.id, part, job.attempts[part], job.extents[part].node))
        self.seen = len(self.events)

    # --- rules -------------------------------------------------------------------------

    @rule(size=st.sampled_from([5.0, 30.0, 55.0, 90.0, 150.0, 500.0]),
          duration=st.sampled_from([10.0, 60.0, 600.0]), stripes=st.integers(1, 3),
          begin=st.sampled_from([None, 0.0, 100.0]), immediate=st.sampled_from([None, 20.0]))
    def submit(self, size, duration, stripes, begin, immediate) -> None:
        at = None if begin is None else self.clock.now() + begin
        self.s.submit(user="u", size=size, duration=duration, stripes=stripes, begin=at,
                      immediate=immediate, client="c", request_id=f"r{self.s.next_id}")
        self._collect()

    @precondition(lambda self: self.asked)
    @rule(data=st.data(), ok=st.booleans())
    def server_answers(self, data, ok: bool) -> None:
        job_id, part, attempt, node = self.asked.pop(data.draw(st.integers(0, len(self.asked) - 1)))
        if ok:
            self.s.part_ready(job_id, part, attempt, node, f"j{job_id}-p{part}-a{attempt}",
                              {"nqn": f"j{job_id}-p{part}"})
        else:
            self.s.part_failed(job_id, part, attempt, node, "lvcreate failed")
        self._collect()

    @rule(data=st.data(), shift=st.sampled_from([(-1, 0), (0, 1)]))
    def late_or_stray_answer(self, data, shift) -> None:
        """An answer to an earlier attempt, or from another node: must change nothing."""
        active = [j for j in self.s.jobs.values() if j.state is not State.PENDING]
        if not active:
            return
        job = data.draw(st.sampled_from(sorted(active, key=lambda j: j.id)))
        part = data.draw(st.integers(0, len(job.parts) - 1))
        attempt = job.attempts[part] + shift[0]
        node = (job.extents[part].node + shift[1]) % (len(self.s.cluster.nodes) + 1)
        if shift == (0, 1) and node == job.extents[part].node:
            return
        before = (job.state, list(job.exports), job.failures)
        assert not self.s.part_ready(job.id, part, attempt, node, "stray", {"nqn": "stray"})
        self.s.part_failed(job.id, part, attempt, node, "stray")
        assert (job.state, list(job.exports), job.failures) == before

    @precondition(lambda self: self.s.jobs)
    @rule(data=st.data())
    def release(self, data) -> None:
        job = data.draw(st.sampled_from(sorted(self.s.jobs.values(), key=lambda j: j.id)))
        self.s.release(job.id, "u")
        self._collect()

    @rule(data=st.data())
    def node_down(self, data) -> None:
        self.s.node_down(data.draw(st.integers(0, len(self.s.cluster.nodes) - 1)))
        self._collect()

    @rule(data=st.data(), keep=st.booleans(), new_layout=st.sampled_from([None, *LAYOUTS]))
    def node_registers(self, data, keep: bool, new_layout) -> None:
        index = data.draw(st.integers(0, len(self.s.cluster.nodes) - 1))
        name = self.s.cluster.nodes[index].name
        layout = new_layout or self.layout[name]
        self.layout[name] = layout
        exports = [e for j in self.s.jobs.values() if j.start is not None
                   for e, x in zip(j.exports, j.extents, strict=True)
                   if e and x.node == index] if keep else []
        self.s.register_node(make_node(name, layout), exports)
        self._collect()

    @rule(dt=st.sampled_from([1.0, 10.0, 45.0, 200.0, 1000.0]))
    def time_passes(self, dt: float) -> None:
        advance(self.clock, self.timers, self.clock.now() + dt)
        self._collect()

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def no_disk_over_capacity(self) -> None:
        for node in self.s.cluster.nodes:
            for disk in node.disks:
                assert disk.usage.peak_all() <= disk.capacity + EPSILON

    @invariant()
    def every_job_in_exactly_one_state(self) -> None:
        assert not set(self.s.jobs) & set(self.s.history)
        for job in self.s.jobs.values():
            assert job.state in ACTIVE
            assert (job.id in self.s.waiting) == (job.state is State.PENDING)
        for job in self.s.history.values():
            assert job.state in FINAL and not any(not t.cancelled for t in job.timers)
        assert set(self.s.unplanned) <= set(self.s.waiting)

    @invariant()
    def no_lease_outlives_its_end(self) -> None:
        for job in self.s.jobs.values():
            if job.state is not State.PENDING:
                assert job.end > self.clock.now(), f"job {job.id} {job.state} past its end"

    @invariant()
    def every_ended_job_told_once(self) -> None:
        told = Counter(e.job.id for e in self.events if isinstance(e, ev.JobEnded))
        assert all(told[j] == 1 for j in self.s.history)
        assert not set(told) & set(self.s.jobs)
        granted = Counter(e.job.id for e in self.events if isinstance(e, ev.JobGranted))
        assert all(n == 1 for n in granted.values())

    @invariant()
    def pending_jobs_that_fit_have_a_start(self) -> None:
        for job in self.s.waiting.values():
            if job.start is None:
                slot = find_slot(self.s.cluster, self.s.strategy, job.id, job.parts,
                                 job.duration, self.s._not_before(job), job.excluded)
                assert slot is None, f"job {job.id} could start at {slot[0]} but waits"

    @invariant()
    def bookings_match_the_jobs_placed_on_each_node(self) -> None:
        expected: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        for job in self.s.jobs.values():
            if job.start is None:
                assert not job.extents
                continue
            for ext in job.extents:
                node = self.s.cluster.nodes[ext.node]
                assert ext.disk < len(node.disks)
                expected.setdefault((ext.node, ext.disk), []).append(
                    (job.start, job.start + job.duration, ext.size))
        for node in self.s.cluster.nodes:
            for disk in node.disks:
                spans = expected.get((node.index, disk.index), [])
                # From now on only: a lease that ran its course is expired, which leaves
                # the (never asked again) history before now as it was.
                now = self.clock.now()
                instants = {max(s, now) for s, _, _ in spans} | {now}
                for t in instants:
                    want = sum(g for s, e, g in spans if s <= t < e)
                    assert abs(disk.usage.used_at(t) - want) < 1e-6, (node.index, disk.index, t)


Lifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lifecycle_machine = Lifecycle.TestCase
