"""DiskUsage against a brute-force model (a plain list of intervals), plus edge cases:
touching intervals, float dust, and a rejected `remove`."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from storalloc.core.capacity import EPSILON, DiskUsage

Reservation = tuple[float, float, float]


class Model:
    """The obvious, slow truth: every query scans every reservation."""

    def __init__(self) -> None:
        self.res: list[Reservation] = []

    def used_at(self, t: float) -> float:
        return sum(z for s, e, z in self.res if s <= t < e)

    def count_at(self, t: float) -> int:
        return sum(1 for s, e, _ in self.res if s <= t < e)

    def pieces(self, a: float, b: float) -> list[tuple[float, float]]:
        """[a, b) cut at every reservation edge inside it; usage is constant on each piece."""
        cuts = sorted({a, b} | {x for s, e, _ in self.res for x in (s, e) if a < x < b})
        return list(itertools.pairwise(cuts))

    def peak(self, a: float, b: float) -> float:
        return max((self.used_at(x) for x, _ in self.pieces(a, b)), default=0.0)

    def overlap_count(self, a: float, b: float) -> int:
        return sum(1 for s, e, _ in self.res if s < b and e > a)

    def busy_time(self, a: float, b: float) -> float:
        return sum(y - x for x, y in self.pieces(a, b) if self.count_at(x))

    def share_integral(self, a: float, b: float) -> float:
        return sum((y - x) / (self.count_at(x) + 1) for x, y in self.pieces(a, b))

    def earliest_fit(self, size: float, duration: float, not_before: float, cap: float) -> float:
        if size > cap + EPSILON:
            return math.inf
        # Room only grows where a reservation ends, so those are the only candidates.
        for t in sorted({not_before} | {e for _, e, _ in self.res if e > not_before}):
            if self.peak(t, t + duration) + size <= cap + EPSILON:
                return t
        raise AssertionError("the model always fits after the last end")


# Quarter-second times and sizes whose sums are inexact in binary, so float dust appears.
times = st.integers(0, 80).map(lambda q: q / 4)
lengths = st.integers(1, 40).map(lambda q: q / 4)
sizes = st.sampled_from([0.1, 0.2, 0.3, 0.7, 1 / 3, 1.0, 2.5, 10.0, 33.3])


class DiskUsageMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.usage = DiskUsage()
        self.model = Model()

    @rule(target=reservations, start=times, length=lengths, size=sizes)
    def add(self, start: float, length: float, size: float) -> Reservation:
        self.usage.add(start, start + length, size)
        self.model.res.append((start, start + length, size))
        return (start, start + length, size)

    @rule(r=consumes(reservations))
    def remove(self, r: Reservation) -> None:
        self.usage.remove(*r)
        self.model.res.remove(r)

    @rule(t=st.integers(-4, 130).map(lambda q: q / 4))
    def used_at(self, t: float) -> None:
        got = self.usage.used_at(t)
        assert got == pytest.approx(self.model.used_at(t), abs=1e-9)
        if self.model.count_at(t) == 0:
            assert got == 0.0  # no dust where nothing is booked

    @rule(a=times, length=lengths)
    def window_queries(self, a: float, length: float) -> None:
        b = a + length
        u, m = self.usage, self.model
        assert u.peak(a, b) == pytest.approx(m.peak(a, b), abs=1e-9)
        assert u.overlap_count(a, b) == m.overlap_count(a, b)
        cold = u.load(a, b)  # walks the window when the running integrals are stale
        assert u.busy_time(a, b) == pytest.approx(m.busy_time(a, b), abs=1e-9)
        warm = u.load(a, b)  # reads the running integrals
        for count, busy in (cold, warm):
            assert count == m.overlap_count(a, b)
            assert busy == pytest.approx(m.busy_time(a, b), abs=1e-9)
        assert u.share_integral(a, b) == pytest.approx(m.share_integral(a, b), abs=1e-9)

    @rule(size=sizes, length=lengths, not_before=times, cap=st.sampled_from([1.0, 10.0, 40.0]))
    def earliest_fit(self, size: float, length: float, not_before: float, cap: float) -> None:
        got = self.usage.earliest_fit(size, length, not_before, cap)
        assert got == self.model.earliest_fit(size, length, not_before, cap)

    @invariant()
    def totals(self) -> None:
        assert len(self.usage) == len(self.model.res)
        held = sum(z for _, _, z in self.model.res)
        assert self.usage.held == pytest.approx(held, abs=1e-9)
        if not self.model.res:
            assert self.usage.held == 0.0  # no dust once nothing is held
        top = max((self.model.used_at(s) for s, _, _ in self.model.res), default=0.0)
        assert self.usage.peak_all() == pytest.approx(top, abs=1e-9)
        if not self.model.res:
            assert self.usage.reservations_end() is None
        else:
            assert self.usage.reservations_end() == max(e for _, e, _ in self.model.res)


TestDiskUsageMatchesModel = DiskUsageMachine.TestCase
TestDiskUsageMatchesModel.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)


def test_touching_intervals_do_not_overlap():
    usage = DiskUsage()
    usage.add(0, 10, 5)
    usage.add(10, 20, 7)
    assert usage.overlap_count(0, 10) == 1
    assert usage.overlap_count(10, 20) == 1
    assert usage.overlap_count(9.5, 10.5) == 2
    assert usage.peak(0, 10) == 5
    assert usage.peak(10, 20) == 7
    assert usage.used_at(10) == 7
    assert usage.busy_time(0, 20) == 20
    assert usage.share_integral(0, 20) == 10  # always one other present: half of 20 s
    assert usage.earliest_fit(10, 5, 0, 15) == 0  # 5 + 10 <= 15 on [0, 5)
    assert usage.earliest_fit(10, 10, 0, 15) == 0  # [0, 10) holds 5 only, not the 7
    assert usage.earliest_fit(10, 11, 0, 15) == 20  # one second more meets the 7
    assert usage.earliest_fit(8, 11, 0, 15) == 0  # 7 + 8 fits exactly
    assert usage.earliest_fit(95, 10, 0, 100) == 0  # peak 5 on [0, 10): 5 + 95 fits


def test_float_dust_after_many_adds_and_removes_is_exactly_zero():
    """Thousands of inexact sizes on [5, 15), removed in another order: between two kept
    reservations the usage is exactly 0, so a full-disk request fits there."""
    rng = random.Random(7)
    usage = DiskUsage()
    usage.add(0, 5, 1.0)
    usage.add(15, 20, 1.0)
    booked = [
        (5 + rng.randrange(5), 10 + rng.randrange(6), rng.choice([0.1, 0.2, 0.7, 1 / 3]))
        for _ in range(2000)
    ]
    for r in booked:
        usage.add(*r)
    assert usage.used_at(9.5) > 100
    rng.shuffle(booked)
    for r in booked:
        usage.remove(*r)
    assert usage.used_at(7) == 0.0
    assert usage.used_at(12) == 0.0
    assert usage.peak(5, 15) == 0.0
    assert usage.busy_time(5, 15) == 0.0
    assert usage.earliest_fit(1.0, 10, 5, 1.0) == 5
    assert usage.breakpoints_from(0) == [0, 5, 15, 20]
    assert len(usage) == 2


def test_empty_or_reversed_interval_is_an_error():
    usage = DiskUsage()
    with pytest.raises(ValueError, match=r"empty or reversed interval \[5, 5\)"):
        usage.add(5, 5, 1)
    with pytest.raises(ValueError):
        usage.add(6, 5, 1)


def test_size_larger_than_the_capacity_never_fits():
    assert DiskUsage().earliest_fit(101, 10, 0, 100) == math.inf


def test_rejected_remove_leaves_the_usage_unchanged():
    """`remove` of a reservation that was never booked raises KeyError naming it, and the
    usage must be exactly as before (no half-done removal)."""
    usage = DiskUsage()
    usage.add(0, 10, 1)
    usage.add(5, 20, 1)
    with pytest.raises(KeyError, match=r"no reservation \[0, 5\)"):
        usage.remove(0, 5, 1)  # 0 and 5 are breakpoints, but no reservation ends at 5
    assert len(usage) == 2
    assert usage.overlap_count(0, 30) == 2
    assert usage.overlap_count(0, 4) == 1
    usage.remove(0, 10, 1)
    usage.remove(5, 20, 1)
    assert len(usage) == 0 and usage.overlap_count(0, 30) == 0


class SmallBlockMachine(DiskUsageMachine):
    """The same differential test with blocks of 4 breakpoints, so that random sequences
    split, merge and drop blocks and update whole blocks through their lazy adds."""

    def __init__(self) -> None:
        super().__init__()
        self.usage = DiskUsage(block=4)

    @invariant()
    def blocks_are_consistent(self) -> None:
        blocks = self.usage.layout()
        flat = [t for times, *_ in blocks for t in times]
        assert flat == sorted(set(flat))  # strictly increasing across blocks
        assert all(0 < len(times) <= 4 for times, *_ in blocks)
        for _times, used, counts, _lu, lc, bmax, bmin in blocks:
            assert bmax == max(used)
            assert bmin == min(counts)
            assert bmin + lc >= 0


TestSmallBlocksMatchModel = SmallBlockMachine.TestCase
TestSmallBlocksMatchModel.settings = settings(
    max_examples=200, stateful_step_count=60, deadline=None
)


@pytest.mark.parametrize("block", [2, 3, 8])
def test_random_sequences_with_small_blocks_match_the_model(block: int) -> None:
    """Longer random runs than hypothesis takes: 400 operations on 2-8 entry blocks."""
    rng = random.Random(block)
    usage, model = DiskUsage(block=block), Model()
    for _ in range(400):
        if model.res and rng.random() < 0.4:
            r = model.res.pop(rng.randrange(len(model.res)))
            usage.remove(*r)
        else:
            s = rng.randrange(60) / 2
            r = (s, s + rng.randrange(1, 30) / 2, rng.choice([0.1, 1 / 3, 2.0, 7.5]))
            usage.add(*r)
            model.res.append(r)
        a = rng.randrange(-4, 80) / 2
        b = a + rng.randrange(1, 30) / 2
        assert usage.peak(a, b) == pytest.approx(model.peak(a, b), abs=1e-9)
        assert usage.busy_time(a, b) == pytest.approx(model.busy_time(a, b), abs=1e-9)
        assert usage.share_integral(a, b) == pytest.approx(model.share_integral(a, b), abs=1e-9)
        assert usage.earliest_fit(3.0, b - a, a, 10.0) == model.earliest_fit(3.0, b - a, a, 10.0)
        assert usage.used_at(a) == pytest.approx(model.used_at(a), abs=1e-9)
        until = usage.busy_until(a)
        assert model.count_at(until) == 0 and model.busy_time(a, until) == until - a
        count, busy = usage.load(a, b)  # twice: the second may come from the busy-run cache
        assert usage.load(a, b) == (count, busy)
        assert busy == pytest.approx(model.busy_time(a, b), abs=1e-9)


def test_block_size_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="block: expected at least 2"):
        DiskUsage(block=1)


@pytest.mark.parametrize("count_only", [False, True])
@pytest.mark.parametrize("block", [2, 3, 8, 128])
def test_expiring_leases_as_time_passes_matches_the_model(block: int, count_only: bool) -> None:
    """A clock moves forward; leases are booked from `now`, some released early, the others
    expired once over. Every query from `now` on must match the model of the live ones,
    and history older than `now` must be dropped as leases expire. `count_only`: every
    lease of 0 GB, as a node's aggregate is booked (Cluster.book)."""
    rng = random.Random((200 if count_only else 100) + block)
    usage, model = DiskUsage(block=block), Model()
    now = 0.0
    for _ in range(1500):
        now += rng.randrange(0, 3) / 4
        over = [r for r in model.res if r[1] <= now]
        for r in over:
            usage.expire(*r, now)
            model.res.remove(r)
        if over:  # history dropped with the last expiry
            blocks = usage.layout()
            assert len(blocks) < 2 or blocks[1][0][0] > now
        roll = rng.random()
        if model.res and roll < 0.2:  # an early release: its start may be pruned already
            r = model.res.pop(rng.randrange(len(model.res)))
            usage.remove(*r)
        else:
            s = now + rng.randrange(0, 8) / 4
            length = rng.randrange(1, 60) / 4
            r = (s, s + length, 0.0 if count_only else rng.choice([0.1, 1 / 3, 2.0, 7.5]))
            usage.add(*r)
            model.res.append(r)
        a = now + rng.randrange(0, 20) / 4
        b = a + rng.randrange(1, 40) / 4
        assert usage.peak(a, b) == pytest.approx(model.peak(a, b), abs=1e-9)
        assert usage.overlap_count(a, b) == model.overlap_count(a, b)
        assert usage.busy_time(a, b) == pytest.approx(model.busy_time(a, b), abs=1e-9)
        assert usage.load(a, b)[1] == pytest.approx(model.busy_time(a, b), abs=1e-9)
        assert usage.share_integral(a, b) == pytest.approx(model.share_integral(a, b), abs=1e-9)
        until = usage.busy_until(a)
        assert model.count_at(until) == 0 and model.busy_time(a, until) == until - a
        assert usage.earliest_fit(3.0, b - a, a, 10.0) == model.earliest_fit(3.0, b - a, a, 10.0)
        assert usage.used_at(now) == pytest.approx(model.used_at(now), abs=1e-9)
        assert len(usage) == len(model.res)
        # What is held bounds every instant from now on: fit tests rely on it.
        assert usage.held == pytest.approx(sum(z for _, _, z in model.res), abs=1e-9)
        assert usage.held >= model.peak(now, now + 100) - 1e-9
    top = max((model.used_at(s) for s, _, _ in model.res), default=0.0)
    assert usage.peak_all() >= top - 1e-9  # history may still count: only ever more
    if count_only:
        assert usage.peak_all() == 0.0  # no GB anywhere, not even dust


def test_expire_refuses_a_lease_that_is_not_over() -> None:
    usage = DiskUsage()
    usage.add(0, 10, 1)
    with pytest.raises(ValueError, match="not over"):
        usage.expire(0, 10, 1, now=5)
    with pytest.raises(KeyError, match=r"no reservation \[0, 9\)"):
        usage.expire(0, 9, 1, now=20)
    assert len(usage) == 1 and usage.peak(5, 6) == 1


def test_ended_leases_leave_their_starts_until_dropped_in_bulk_never_a_later_one():
    """Many short leases end while a few wait to start: the starts left behind are dropped
    in bulk, and the later starts still count."""
    usage = DiskUsage()
    for i in range(64):  # as many as it takes to drop them all at once
        usage.add(i / 64, 1.0, 1.0)
    for i in range(10):
        usage.add(5.0 + i, 20.0, 1.0)
    for i in range(64):
        usage.expire(i / 64, 1.0, 1.0, now=1.0)
    assert len(usage) == 10
    assert usage._overlaps.kept_starts() == [5.0 + i for i in range(10)]  # dropped in bulk
    assert usage.overlap_count(1.0, 5.5) == 1
    assert usage.overlap_count(1.0, 30.0) == 10
    usage.remove(7.0, 20.0, 1.0)  # a later one released before it starts
    assert usage.overlap_count(1.0, 30.0) == 9 and usage.overlap_count(6.5, 7.5) == 2


def test_releasing_the_lease_on_the_first_kept_breakpoint_keeps_the_others() -> None:
    """History is dropped up to the breakpoint in force at now, here the start of B; then B
    is released (a scancel). A, booked before, is still there: it must still count."""
    usage = DiskUsage()
    short = [(i, i + 0.5, 1.0) for i in range(40)]  # 80 past breakpoints: history to drop
    for r in short:
        usage.add(*r)
    usage.add(45, 200, 5.0)  # A
    usage.add(50, 150, 3.0)  # B
    for r in short:
        usage.expire(*r, 60)
    assert usage.first_time() == 50  # B's start is the first breakpoint kept
    usage.remove(50, 150, 3.0)
    assert usage.used_at(60) == 5.0
    assert usage.peak(60, 100) == 5.0
    assert usage.overlap_count(60, 100) == 1
    assert usage.busy_time(60, 100) == 40
