"""The Scheduler in-process, on virtual time, with a fake outbox and a tiny cluster: refusals,
conservative backfill, re-planning, all-or-nothing parts, node failures, part splitting."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storalloc.core.capacity import EPSILON
from storalloc.core.clock import VirtualClock
from storalloc.core.cluster import Cluster, Disk, Extent, Node
from storalloc.core.jobs import NODE_DOWN, Job, State, split_parts
from storalloc.core.scheduler import Scheduler, SchedulerError
from storalloc.core.timers import TimerQueue
from storalloc.core.virtual import advance
from storalloc.orchestrator.wire_adapter import WireAdapter
from storalloc.strategies.first_fit import FirstFit
from storalloc.wire import protocol as p

T0 = 1_000_000.0  # virtual epoch start, far from 0 so that 'start == 0' bugs would show


class FakeOutbox:
    """Records every message with its direction and address, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, p.Message]] = []

    def of(self, kind: type[p.Message]) -> list[p.Message]:
        return [m for _, _, m in self.sent if isinstance(m, kind)]


class FakeRouter:
    """What the wire adapter sends on one side, into the shared FakeOutbox."""

    def __init__(self, out: FakeOutbox, side: str) -> None:
        self.out = out
        self.side = side

    def send(self, address: Any, msg: p.Message) -> bool:
        self.out.sent.append((self.side, address, msg))
        return True


def make_node(name: str, *capacities: float) -> Node:
    disks = [
        Disk(node=-1, index=i, capacity=c, write_bw=1.0, read_bw=1.0, path=f"/dev/d{i}")
        for i, c in enumerate(capacities)
    ]
    return Node(index=-1, name=name, hostname=name, network_bw=1.0, disks=disks)


class Site:
    """A scheduler on virtual time whose servers answer every `allocate` at once."""

    def __init__(self, *nodes: tuple[float, ...], block_size: float = 0.0, **options: Any) -> None:
        self.clock = VirtualClock(T0)
        self.timers = TimerQueue()
        self.out = FakeOutbox()
        self.wire = WireAdapter(FakeRouter(self.out, "client"), FakeRouter(self.out, "server"),
                                heartbeat_interval=5.0)
        self.s = Scheduler(
            Cluster(), FirstFit(), self.clock, self.timers, self.wire, block_size=block_size,
            admins=frozenset({"root", "ops"}), **options,
        )  # fmt: skip
        self._served = 0
        for i, capacities in enumerate(nodes):
            self.register(make_node(f"n{i}", *capacities), f"addr{i}")

    def register(self, node: Node, address: str, exports: list[str] | None = None) -> int:
        """What the orchestrator does when a server registers."""
        index = self.s.admit_node(node)
        self.wire.bind(index, address)
        self.s.node_joined(index, exports or [])
        return index

    @property
    def now(self) -> float:
        return self.clock.now()

    def serve(self) -> None:
        """Answer the allocate orders sent since the last call, as a healthy server does."""
        while self._served < len(self.out.sent):
            _, address, msg = self.out.sent[self._served]
            self._served += 1
            if isinstance(msg, p.Allocate):
                export = f"j{msg.job_id}-p{msg.part}-000000"
                self.s.part_ready(msg.job_id, msg.part, msg.attempt, self.node_of(address),
                                  export, {"type": "nvme", "nqn": export})

    def node_of(self, address: Any) -> int:
        return self.wire.node_of_address[address]

    def submit(self, size: float, duration: float, **kw: Any) -> Job:
        kw.setdefault("user", "alice")
        kw.setdefault("client", f"client-{len(self.out.sent)}")
        job = self.s.submit(size=size, duration=duration, **kw)
        self.serve()
        return job

    def advance(self, until: float) -> None:
        """Move time, answering the servers' part as each timer fires (they are instant)."""
        while (deadline := self.timers.next_deadline()) is not None and deadline <= until:
            advance(self.clock, self.timers, deadline)
            self.serve()
        advance(self.clock, self.timers, until)
        self.serve()

    def release(self, job: Job, user: str = "alice") -> str:
        text = self.s.release(job.id, user)
        self.serve()
        return text

    def to_client(self, job: Job, kind: type[p.Message]) -> list[p.Message]:
        return [
            m
            for d, a, m in self.out.sent
            if d == "client" and a == job.client and isinstance(m, kind)
        ]

    def check_capacity(self) -> None:
        for node in self.s.cluster.nodes:
            for disk in node.disks:
                assert disk.usage.peak_all() <= disk.capacity + EPSILON, disk


# --- refusals ---------------------------------------------------------------------------


def test_before_any_server_registers_requests_wait_for_one():
    site = Site()
    fits = site.submit(1, 60)
    too_big = site.submit(500, 60)
    assert fits.state is State.PENDING and fits.start is None
    assert too_big.state is State.PENDING
    notices = [m.text for m in site.to_client(fits, p.Notice)]
    assert notices[-1] == f"job {fits.id} waiting for a storage server to register"
    site.register(make_node("n0", 100), "addr0")
    assert fits.state is State.CONFIGURING and fits.extents[0].node == 0
    # Once the disks are known, a request that can never fit is refused with the reason.
    assert too_big.state is State.REFUSED
    [refused] = site.to_client(too_big, p.Refused)
    assert "exceeds the largest disk (100 GB)" in refused.reason
    assert too_big.id not in site.s.jobs and too_big not in site.s.waiting


def test_larger_than_any_disk_without_stripes_is_refused_naming_stripes():
    site = Site((100, 100))
    job = site.submit(150, 60)
    assert job.state is State.REFUSED
    [refused] = site.to_client(job, p.Refused)
    assert "150 GB exceeds the largest disk (100 GB)" in refused.reason
    assert "--stripes" in refused.reason
    assert not site.out.of(p.Allocate)


def test_parts_that_cannot_fit_the_whole_site_are_refused():
    site = Site((100, 100))
    job = site.submit(300, 60, stripes=3)
    [refused] = site.to_client(job, p.Refused)
    assert "in 3 parts of 100 GB cannot fit on the 2 disks" in refused.reason


def test_same_request_with_stripes_that_let_it_fit_is_granted():
    site = Site((100, 100))
    job = site.submit(150, 60, stripes=2)
    assert job.state is State.ALLOCATED
    [granted] = site.to_client(job, p.Granted)
    assert len(granted.connections) == 2
    assert sorted(e.disk for e in job.extents) == [0, 1]


@pytest.mark.parametrize(
    "disks, size, stripes",
    [((100, 100), 200, 6), ((100,), 100, 3), ((10,), 10, 3)],
)
def test_parts_that_exactly_fill_the_disks_are_not_refused(disks, size, stripes):
    """200 GB in 6 parts is 6 x 33.33 GB: three per 100 GB disk fit exactly (the placement
    accepts them within EPSILON), so the request must not be refused as never fitting."""
    site = Site(disks)
    job = site.submit(size, 60, stripes=stripes)
    assert job.state is not State.REFUSED, job.reason
    assert job.state is State.ALLOCATED
    assert len(job.extents) == stripes
    site.check_capacity()


# --- conservative backfill ---------------------------------------------------------------


def test_small_job_passes_a_big_one_without_delaying_it():
    site = Site((100, 100))
    a = site.submit(150, 100, stripes=2)  # 75 GB on each disk until T0+100
    big = site.submit(100, 50)
    assert big.state is State.PENDING and big.start == a.end
    reservation = big.start
    small = site.submit(20, 1000)  # long: on the big job's disk it would delay it
    assert small.state is State.ALLOCATED and small.start == site.now
    assert big.start == reservation
    assert {e.disk for e in small.extents}.isdisjoint({e.disk for e in big.extents})
    late = site.submit(30, 1000)  # fits nowhere now: must queue behind, not jump in
    assert late.state is State.PENDING and late.start >= reservation
    assert big.start == reservation
    site.advance(reservation)
    assert big.state is State.ALLOCATED and big.start == reservation
    assert big.granted_at == reservation
    site.check_capacity()


def test_waiting_job_is_told_its_estimated_start_once():
    site = Site((100,))
    site.submit(100, 100)
    job = site.submit(50, 10)
    notices = [m.text for m in site.to_client(job, p.Notice)]
    assert notices == [
        f"Pending job allocation {job.id}",
        f"job {job.id} queued and waiting for resources",
        notices[2],
    ]
    assert notices[2].startswith(f"job {job.id} estimated start at ")


def test_release_moves_waiting_jobs_earlier():
    site = Site((100,))
    a = site.submit(100, 100)
    b = site.submit(60, 100)  # T0+100
    c = site.submit(60, 100)  # after b: T0+200
    assert (b.start, c.start) == (T0 + 100, T0 + 200)
    site.advance(T0 + 10)
    assert site.release(a) == f"job {a.id} released"
    assert b.state is State.ALLOCATED and b.start == T0 + 10
    assert c.state is State.PENDING and c.start == T0 + 110  # moved earlier with b's end
    teardown = site.out.of(p.Deallocate)
    assert [(m.job_id, m.part) for m in teardown] == [(a.id, 0)]


def test_release_frees_capacity_of_a_pending_job_too():
    site = Site((100,))
    site.submit(100, 100)
    b = site.submit(100, 100)
    c = site.submit(100, 100)
    assert c.start == T0 + 200
    assert site.release(b) == f"job {b.id} cancelled"
    assert c.start == T0 + 100
    assert not any(m.job_id == b.id for m in site.out.of(p.Deallocate))  # nothing was made


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["submit", "release", "wait"]),
            st.integers(1, 100),
            st.integers(1, 50),
            st.integers(1, 3),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_waiting_jobs_never_move_later(ops):
    """Whatever is submitted, released or expires, a booked start only ever moves earlier,
    jobs start at their booking, and no disk is ever over capacity."""
    site = Site((100, 60), (80,))
    planned: dict[int, float] = {}
    jobs: list[Job] = []
    for op, size, duration, stripes in ops:
        if op == "submit":
            jobs.append(site.submit(float(size), float(duration), stripes=stripes))
        elif op == "release":
            live = [j for j in jobs if j.state in (State.PENDING, State.ALLOCATED)]
            if live:
                site.release(live[size % len(live)], "root")
        else:
            site.advance(site.now + duration)
        site.check_capacity()
        for job in jobs:
            if job.state is State.PENDING and job.start is not None:
                if job.id in planned:
                    assert job.start <= planned[job.id], f"job {job.id} moved later"
                planned[job.id] = job.start
            if job.state is State.ALLOCATED:
                assert job.start <= planned.get(job.id, job.start)
                assert job.start == job.granted_at


# --- the instant where one lease ends and the next starts ---------------------------------


def test_ending_lease_is_torn_down_before_the_next_one_is_set_up_on_its_disk():
    """A real disk has the space only once the old volume is gone: at the instant where a
    booking ends and the next one on the same disk starts, the teardown must be sent first.
    Here the second job was booked (its start timer set) before the first one started."""
    site = Site((100,))
    first = site.submit(100, 100, begin=T0 + 10)
    second = site.submit(100, 100)
    assert second.start == first.end == T0 + 110
    site.advance(T0 + 110)
    orders = [
        (type(m).__name__, m.job_id)
        for d, _, m in site.out.sent
        if d == "server" and isinstance(m, p.Allocate | p.Deallocate)
    ]
    assert orders == [
        ("Allocate", first.id),
        ("Deallocate", first.id),
        ("Allocate", second.id),
    ]


# --- parts: all or nothing ----------------------------------------------------------------


def test_parts_are_booked_all_together_or_not_at_all():
    site = Site((100, 100))
    site.submit(60, 100)  # disk 0
    site.submit(60, 100)  # disk 1
    job = site.submit(120, 10, stripes=3)  # 3 x 40: two would fit now, three do not
    assert job.state is State.PENDING and job.start == T0 + 100
    assert not [m for m in site.out.of(p.Allocate) if m.job_id == job.id]
    for disk in site.s.cluster.nodes[0].disks:
        assert disk.usage.used_at(site.now) == 60  # nothing of the job's parts now
    site.advance(T0 + 100)
    allocs = [m for m in site.out.of(p.Allocate) if m.job_id == job.id]
    assert sorted(m.part for m in allocs) == [0, 1, 2]
    assert job.state is State.ALLOCATED


def test_grant_waits_for_every_part():
    site = Site((100, 100))
    job = site.s.submit(user="alice", size=150, duration=60, stripes=2, client="c")
    assert job.state is State.CONFIGURING
    assert site.s.part_ready(job.id, 0, 1, job.extents[0].node, "j0-p0-000000", {"nqn": "a"})
    assert job.state is State.CONFIGURING and not site.to_client(job, p.Granted)
    assert site.s.part_ready(job.id, 1, 1, job.extents[1].node, "j0-p1-000000", {"nqn": "b"})
    [granted] = site.to_client(job, p.Granted)
    assert granted.connections == [{"nqn": "a"}, {"nqn": "b"}]


def test_failed_part_tears_down_the_others_and_replans_elsewhere():
    site = Site((100, 100, 100))
    job = site.s.submit(user="alice", size=100, duration=60, stripes=2, client="c")
    first = {e.disk for e in job.extents}
    assert site.s.part_ready(job.id, 0, 1, job.extents[0].node, "j0-p0-000000", {"nqn": "a"})
    bad = job.extents[1]
    site.s.part_failed(job.id, 1, 1, bad.node, "lvcreate failed")
    teardown = [m for m in site.out.of(p.Deallocate) if m.job_id == job.id]
    assert sorted(m.part for m in teardown) == [0, 1]
    assert (bad.node, bad.disk) not in {(e.node, e.disk) for e in job.extents}
    assert job.state is State.CONFIGURING and {e.disk for e in job.extents} != first
    site.serve()
    assert job.state is State.ALLOCATED


def test_part_ready_for_a_released_job_is_refused():
    site = Site((100,))
    job = site.s.submit(user="alice", size=10, duration=60, client="c")
    node = job.extents[0].node
    site.s.release(job.id, "alice")
    assert not site.s.part_ready(job.id, 0, 1, node, "j0-p0-000000", {"nqn": "a"})


# --- splitting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, stripes, block, parts",
    [
        (100, 1, 0, [100]),
        (100, 4, 0, [25] * 4),
        (100, 1, 30, [25] * 4),  # ceil(100/30) = 4 equal parts, not 30+30+30+10
        (90, 1, 30, [30] * 3),  # exact multiple: no extra part from float noise
        (100, 5, 30, [20] * 5),  # more stripes than blocks: stripes win
        (0.3, 1, 0.1, [0.1] * 3),
    ],
)
def test_split_parts_gives_equal_parts(size, stripes, block, parts):
    got = split_parts(size, stripes, block)
    assert len(got) == len(parts)
    assert got == pytest.approx(parts)
    assert math.isclose(sum(got), size)


def test_block_size_splits_a_request_into_equal_parts_on_the_servers():
    site = Site((100, 100), block_size=30)
    job = site.submit(100, 60)
    allocs = [m for m in site.out.of(p.Allocate) if m.job_id == job.id]
    assert [m.capacity for m in allocs] == [25.0] * 4
    assert all(m.parts == 4 for m in allocs)
    assert job.state is State.ALLOCATED


# --- permissions and unknown jobs ---------------------------------------------------------


def test_release_rights_and_errors():
    site = Site((100,))
    job = site.submit(10, 60)
    with pytest.raises(SchedulerError, match=f"permission denied: job {job.id} belongs to alice"):
        site.s.release(job.id, "bob")
    with pytest.raises(SchedulerError, match="permission denied"):
        site.s.show(job.id, "bob")
    assert site.s.show(job.id, "alice")["connections"]
    assert site.s.release(job.id, "ops") == f"job {job.id} released"
    with pytest.raises(SchedulerError, match="has already ended") as ended:
        site.s.release(job.id, "alice")
    assert ended.value.code == "job_ended"
    with pytest.raises(SchedulerError, match="invalid job id specified: 42") as unknown:
        site.s.release(42, "root")
    assert unknown.value.code == "unknown_job"


def test_immediate_gives_up_with_a_reason_naming_the_option():
    site = Site((100,))
    site.submit(100, 100)
    job = site.submit(10, 10, immediate=5)
    assert job.state is State.PENDING
    site.advance(T0 + 5)
    assert job.state is State.REFUSED
    [refused] = site.to_client(job, p.Refused)
    assert refused.reason == "not granted within 5 s (--immediate)"
    assert job.id not in site.s.jobs and job not in site.s.waiting
    # its booking is gone: a request of the same size books where it would have
    assert site.submit(100, 10).start == T0 + 100


def test_immediate_job_that_starts_in_time_is_granted():
    site = Site((100,))
    site.submit(100, 3)
    job = site.submit(10, 10, immediate=5)
    site.advance(T0 + 10)
    assert job.state is State.ALLOCATED and not site.to_client(job, p.Refused)


# --- storage nodes going and coming -------------------------------------------------------


def test_node_down_moves_waiting_jobs_off_the_node_and_back_when_it_returns():
    site = Site((100,), (100,))
    a = site.submit(100, 100)  # node 0
    b = site.submit(100, 200)  # node 1
    c = site.submit(100, 10)
    assert c.start == T0 + 100 and c.extents[0].node == 0
    site.s.node_down(0)
    assert c.state is State.PENDING and c.extents[0].node == 1 and c.start == T0 + 200
    assert site.s.describe(a)["state"] == NODE_DOWN
    assert site.s.describe(b)["state"] == "ALLOCATED"
    d = site.submit(10, 10)  # no new placement on the down node
    assert all(e.node == 1 for e in d.extents)
    before = len(site.out.sent)
    site.register(make_node("n0", 100), "addr0-again", [a.exports[0], "j9-p0-000000"])
    [registered] = [m for _, _, m in site.out.sent[before:] if isinstance(m, p.Registered)]
    assert registered.node == 0 and registered.hold == [a.exports[0]]
    assert site.s.describe(a)["state"] == "ALLOCATED"
    assert c.extents[0].node == 0 and c.start == T0 + 100  # moved back, earlier


def test_waiting_job_with_no_node_left_waits_for_one():
    site = Site((100,))
    site.submit(100, 100)
    job = site.submit(50, 10)
    site.s.node_down(0)
    assert job.state is State.PENDING and job.start is None
    last = site.to_client(job, p.Notice)[-1]
    assert last.text == f"job {job.id} waiting for a storage node to come back"
    site.register(make_node("n0", 100), "addr0")
    assert job.start == T0 + 100


def test_node_returning_with_other_disks_replans_its_waiting_jobs():
    """A server that comes back with a different layout loses its allocations; the jobs that
    were only booked on it must be planned again, on the disks it has now."""
    site = Site((100, 100))
    site.submit(100, 100)  # disk 0
    site.submit(100, 100)  # disk 1
    waiting = site.submit(100, 10)
    assert waiting.start == T0 + 100 and waiting.extents[0].disk == 0
    site.register(make_node("n0", 200), "addr0")  # one bigger disk now
    assert waiting.state is not State.REFUSED
    assert waiting.start == site.now  # the old allocations are gone, the disk is free
    site.check_capacity()


# --- issue 9's reproductions, in process ----------------------------------------------------


def test_a_striped_request_behind_many_short_leases_is_planned_after_them():
    """More than 10,000 candidate starts before the only one that fits: the search is
    complete, so the job gets that start instead of waiting for ever."""
    site = Site((100, 100))
    disk = site.s.cluster.nodes[0].disks[0]
    for i in range(10_050):  # one small lease after another on disk 0
        site.s.cluster.book([Extent(0, 0, 1.0)], T0 + i, T0 + i + 1)
    del disk
    job = site.submit(200, 60, stripes=2)
    assert job.state is State.PENDING and job.start == T0 + 10_050


def test_a_node_back_with_other_disks_fails_its_jobs_and_frees_their_other_parts():
    site = Site((100,), (100,))
    job = site.submit(200, 600, stripes=2)
    assert job.state is State.ALLOCATED and {e.node for e in job.extents} == {0, 1}
    site.register(make_node("n0", 50, 50), "addr0")  # same name, new disks
    assert job.state is State.FAILED and job.reason_code == "node_lost"
    teardown = [(a, m.part) for d, a, m in site.out.sent if isinstance(m, p.Deallocate)]
    assert ("addr1", [e.node for e in job.extents].index(1)) in teardown
    assert site.s.cluster.nodes[1].disks[0].usage.used_at(site.now) == 0
    [ended] = site.to_client(job, p.Ended)
    assert ended.code == "node_lost" and ended.state == "FAILED"


def test_a_late_answer_to_an_earlier_attempt_grants_nothing():
    site = Site((100, 100))
    job = site.s.submit(user="alice", size=50, duration=60, client="c")
    first = job.extents[0]
    site.s.part_failed(job.id, 0, 1, first.node, "lvcreate failed")  # retried elsewhere
    assert job.state is State.CONFIGURING and job.attempts == [2]
    assert not site.s.part_ready(job.id, 0, 1, first.node, "late", {"nqn": "late"})
    assert job.state is State.CONFIGURING and not site.to_client(job, p.Granted)
    node = job.extents[0].node
    assert not site.s.part_ready(job.id, 0, 2, node + 1, "stray", {"nqn": "stray"})
    assert site.s.part_ready(job.id, 0, 2, node, "real", {"nqn": "real"})
    [granted] = site.to_client(job, p.Granted)
    assert granted.connections == [{"nqn": "real"}]


def test_show_of_an_ended_job_on_a_down_node_says_how_it_ended():
    site = Site((100,))
    job = site.submit(10, 60)
    site.s.node_down(0)
    assert site.s.show(job.id, "alice")["state"] == NODE_DOWN
    site.release(job)
    assert site.s.show(job.id, "alice")["state"] == "CANCELLED"


def test_a_huge_request_in_tiny_blocks_is_refused_without_building_its_parts():
    site = Site((100,), block_size=0.001)
    job = site.submit(1e7, 60)
    assert job.state is State.REFUSED and job.reason_code == "too_many_parts"
    assert job.parts == ()
    [refused] = site.to_client(job, p.Refused)
    assert "10000000000 parts" in refused.reason


def test_a_lease_ending_during_setup_ends_the_job_and_tells_its_client():
    site = Site((100,))
    job = site.s.submit(user="alice", size=10, duration=5, client="c")  # nobody answers
    advance(site.clock, site.timers, T0 + 5)
    assert job.state is State.FAILED and job.reason_code == "ended_before_setup"
    [refused] = site.to_client(job, p.Refused)
    assert refused.code == "ended_before_setup"
    assert [m.part for m in site.out.of(p.Deallocate)] == [0]


def test_a_warning_comes_before_the_lease_ends():
    site = Site((100,), warn_before=30.0)
    job = site.submit(10, 600)
    site.advance(T0 + 569)
    assert not [m for m in site.to_client(job, p.Notice) if "lease ends" in m.text]
    site.advance(T0 + 571)
    [warning] = [m for m in site.to_client(job, p.Notice) if "lease ends" in m.text]
    assert warning.text == f"job {job.id}: lease ends in 0:30; stop using its storage"


def test_a_resent_request_id_is_answered_from_its_job():
    site = Site((100,))
    job = site.submit(10, 600, request_id="r-1", client="first")
    again = site.submit(10, 600, request_id="r-1", client="second")
    assert again is job and site.s.next_id == 1
    [granted] = site.to_client(job, p.Granted)  # job.client is now "second"
    assert granted.job_id == job.id
