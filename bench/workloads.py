"""Workloads of the scale benchmark: synthetic traces with a chosen number of live leases,
ault14-like sites of any size, and an SWF-archive-shaped trace.

Live leases follow Little's law: live = arrival rate x mean duration, so the mean
interarrival is the shape's mean duration divided by the live count wanted. Sizes are small
(median 1 GB) so that 10,000 leases fit on 8 disks: the benchmark measures the cost of what is
alive, not queueing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from storalloc.core.cluster import Node, build_node
from storalloc.sim.traces import generate
from storalloc.sim.traces.base import TraceRecord
from storalloc.sim.traces.synthetic import WorkloadShape

#: Small leases: 10,000 of them (about 17 TB) fit on eight 8 TB disks.
SMALL = WorkloadShape(median_gb=1.0, sigma=1.0, tail_fraction=0.0, max_duration=86400.0)
#: The LCG archive's shape: 188,041 jobs, about 3,359 alive at once, hours-long jobs.
SWF_JOBS = 188_041
SWF_LIVE = 3_359


def mean_duration(shape: WorkloadShape) -> float:
    """Mean of the clamped log-normal duration, by numeric integration (no sampling noise)."""
    mu, sigma = math.log(shape.median_duration), shape.duration_sigma
    lo, hi, steps = math.log(shape.min_duration), math.log(shape.max_duration), 4000
    total = 0.0
    for k in range(steps + 1):  # the body between the clamps
        x = lo + (hi - lo) * k / steps
        pdf = math.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
        total += math.exp(x) * pdf * (hi - lo) / steps * (0.5 if k in (0, steps) else 1.0)
    below = 0.5 * (1 + math.erf((lo - mu) / (sigma * math.sqrt(2))))
    above = 1 - 0.5 * (1 + math.erf((hi - mu) / (sigma * math.sqrt(2))))
    return total + below * shape.min_duration + above * shape.max_duration


def trace(
    requests: int, live: int, seed: int = 1, shape: WorkloadShape = SMALL
) -> list[TraceRecord]:
    """`requests` records with about `live` leases alive at once in the steady state."""
    return generate(requests, seed=seed, mean_interarrival=mean_duration(shape) / live,
                    shape=shape)  # fmt: skip


def swf_like(seed: int = 1) -> list[TraceRecord]:
    """A trace shaped like the 188k-job LCG SWF archive (3,000+ alive at once)."""
    return trace(SWF_JOBS, SWF_LIVE, seed)


def ault14_site(nodes: int) -> list[Node]:
    """`nodes` ault14 nodes: 8 x 8000 GB disks at 2.93 GBps behind 12.5 GBps each."""
    disk = {"capacity": 8000.0, "write_bw": 2.93, "read_bw": 3.13}
    return [build_node(f"ault{n}:0", f"ault{n}", 12.5, [disk] * 8) for n in range(nodes)]


def live_peak(records: Iterable[TraceRecord]) -> int:
    """Most records alive at once if each started at submission (a check of the shape)."""
    edges = []
    for r in records:
        edges += [(r.submit, 1), (r.submit + r.duration, -1)]
    edges.sort()
    now = top = 0
    for _, delta in edges:
        now += delta
        top = max(top, now)
    return top
