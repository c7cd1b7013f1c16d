"""The typed twins of the capacity structures (storalloc/core/typed_steps.pyx and
typed_overlaps.pyx, built with the compiled core) against the Python sources they stand in
for, on random operation sequences: every answer the same, float for float (compared by
repr, so that even the sign of a zero counts), and the same blocks inside."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

import storalloc.core
from storalloc.core import capacity
from tests.compiled import need_build

SOURCE = Path(storalloc.core.__file__).parent / "capacity.py"  # the package's own source
SIZES = [0.1, 1 / 3, 0.7, 2.0, 7.5, 33.3]


@pytest.fixture(scope="module")
def source_usage() -> type:
    """DiskUsage of capacity.py on the Python structures (steps.py, overlaps.py): the same
    source loaded again, with the typed twins made unimportable while it loads."""
    need_build("no typed twins to compare")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "storalloc.core.typed_steps", None)
        patch.setitem(sys.modules, "storalloc.core.typed_overlaps", None)
        spec = importlib.util.spec_from_file_location("capacity_from_sources", SOURCE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    assert module.BlockSteps.__module__ == "storalloc.core.steps"
    assert capacity.BlockSteps.__module__ == "storalloc.core.typed_steps"
    return module.DiskUsage


def _answers(usage, rng: random.Random, now: float) -> list[str]:
    """Every read a strategy or the scheduler makes, at random windows from now on."""
    out = [repr((len(usage), usage.held, usage.peak_all(), usage.reservations_end(),
                 usage.layout()))]  # fmt: skip
    for lead in (-30.0, 0, 0, 0):  # one window mostly before every breakpoint
        a = now + lead + rng.randrange(0, 80) / 4
        b = a + rng.randrange(1, 60) / 4
        out.append(repr((
            usage.used_at(a), usage.peak(a, b), usage.overlap_count(a, b), usage.load(a, b),
            usage.outlook(a), usage.busy_time(a, b), usage.busy_until(a),
            usage.share_integral(a, b), list(usage.segments(a, b)),
            usage.breakpoints_from(a), usage.earliest_fit(rng.choice(SIZES), b - a, a, 40.0),
            usage.last_above(a, b, rng.choice([0.0, 1.0, 10.0])),
        )))  # fmt: skip
    return out


@pytest.mark.parametrize(("block", "seed", "count_only"),
                         [(2, 1, False), (4, 2, False), (64, 3, False), (4, 4, True),
                          (8, 5, False)])  # fmt: skip
def test_the_twins_answer_as_the_sources_do(source_usage, block, seed, count_only):
    rng = random.Random(seed)
    twin, source = capacity.DiskUsage(block=block), source_usage(block=block)
    live: list[tuple[float, float, float]] = []
    now = 0.0
    assert _answers(twin, random.Random(0), now) == _answers(source, random.Random(0), now)
    for step in range(700):
        now += rng.randrange(0, 3) / 4
        for r in [r for r in live if r[1] <= now]:
            for usage in (twin, source):
                usage.expire(*r, now)
            live.remove(r)
        if live and rng.random() < 0.2:  # an early release, its start perhaps dropped
            r = live.pop(rng.randrange(len(live)))
            for usage in (twin, source):
                usage.remove(*r)
        else:
            start = now + rng.randrange(0, 12) / 4
            r = (start, start + rng.randrange(1, 90) / 4, 0.0 if count_only else rng.choice(SIZES))
            for usage in (twin, source):
                usage.add(*r)
            live.append(r)
        state = rng.getstate()
        expected = _answers(source, rng, now)
        rng.setstate(state)
        assert _answers(twin, rng, now) == expected, f"step {step}"


def test_the_twins_refuse_what_the_sources_refuse(source_usage):
    for usage in (capacity.DiskUsage(), source_usage()):
        usage.add(0.0, 10.0, 1.0)
        with pytest.raises(KeyError, match=r"no reservation \[0.0, 9.0\) of 1.0 GB"):
            usage.remove(0.0, 9.0, 1.0)
        with pytest.raises(ValueError, match="block: expected at least 2, got 1"):
            type(usage)(block=1)
        assert len(usage) == 1 and usage.peak(0.0, 10.0) == 1.0
