"""A replay runs with Python's cycle collector off (storalloc.sim.replay.no_cycle_collection):
that is safe only while a replay makes no cyclic garbage, and the collector must come back
on afterwards, also when the replay fails."""

from __future__ import annotations

import gc
import random

import pytest

from storalloc.core.cluster import build_node
from storalloc.registry import make_strategy
from storalloc.sim.replay import ReplayOrderError, new_simulation
from storalloc.sim.traces import TraceRecord

T0 = 1_700_000_000.0
DISK = {"capacity": 1000.0, "write_bw": 2.0, "read_bw": 3.0}


def _site() -> list:
    return [build_node(f"n{i}:0", f"n{i}", 10.0, [DISK] * 4) for i in range(3)]


def _mixed_trace(count: int) -> list[TraceRecord]:
    """Immediate starts, queued requests, striped ones (larger than a disk), later begins
    and refusals (larger than the site), by 5 users."""
    rng = random.Random(7)
    records, now = [], T0
    for i in range(count):
        now += rng.expovariate(1 / 30)
        size = rng.choice([10.0, 200.0, 900.0, 2500.0, 20_000.0])
        begin = now + 600 if rng.random() < 0.1 else None
        records.append(TraceRecord(id=str(i), submit=now, start=begin, user=f"u{i % 5}",
                                   duration=rng.uniform(60, 7200), capacity=size))  # fmt: skip
    return records


@pytest.mark.parametrize("strategy", ["worst_case", "best_bandwidth", "first_fit"])
def test_a_replay_leaves_no_cyclic_garbage(strategy: str) -> None:
    sim = new_simulation(_site(), make_strategy(strategy))
    gc.collect()
    gc.disable()  # else the first allocation after the replay would collect its garbage
    try:
        sim.replay(_mixed_trace(1500))
        # Whatever the replay dropped, reference counting freed: nothing for the collector.
        assert gc.collect() == 0
    finally:
        gc.enable()
    states = {job.state.value for job in sim.finished}
    assert {"COMPLETED", "REFUSED"} <= states  # the trace did exercise refusals
    assert len(sim.finished) == 1500


def test_the_collector_is_back_on_after_a_replay_also_a_failed_one() -> None:
    sim = new_simulation(_site(), make_strategy("worst_case"))
    assert gc.isenabled()
    sim.replay(_mixed_trace(20))
    assert gc.isenabled()
    late = TraceRecord(id="late", submit=T0, start=None, duration=60, capacity=1, user="u")
    with pytest.raises(ReplayOrderError):
        sim.replay([late])  # goes back in time
    assert gc.isenabled()


def test_a_replay_leaves_the_collector_off_if_it_was_off() -> None:
    gc.disable()
    try:
        new_simulation(_site(), make_strategy("worst_case")).replay(_mixed_trace(20))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_a_replay_keeps_goes_to_the_oldest_generation_without_a_walk() -> None:
    """Else the first collections after the replay walk every job it kept, twice."""
    sim = new_simulation(_site(), make_strategy("worst_case"))
    sim.replay(_mixed_trace(200))
    kept = sim.finished[-1]
    assert any(o is kept for o in gc.get_objects(generation=2))
    assert not any(o is kept for o in gc.get_objects(generation=0))
    assert gc.get_freeze_count() == 0  # nothing is left out of collection for good
