"""Properties every strategy must keep, checked by brute force on random clusters and loads."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storalloc.core.cluster import Cluster, Disk, Extent, Node
from storalloc.registry import STRATEGIES, load
from storalloc.strategies.bandwidth import rank
from storalloc.strategies.base import Decision, PlacementRequest

MARGIN = 1e-6  # GB: stay clear of the EPSILON borderline when judging by brute force
Booking = tuple[int, int, float, float, float]  # node, disk, start, end, GB

# -- generators ----------------------------------------------------------------------------

sizes = st.one_of(st.integers(1, 60).map(float), st.floats(0.1, 60.0))
durations = st.one_of(
    st.sampled_from([1.0, 60.0, 3600.0, 3 * 86400.0]), st.integers(1, 400).map(float)
)


@st.composite
def cluster_specs(draw: st.DrawFn) -> list[tuple[float, bool, list[tuple[float, float]]]]:
    """1-4 nodes of 1-5 disks: (network_bw, up, [(capacity, write_bw), ...])."""
    nodes = []
    for _ in range(draw(st.integers(1, 4))):
        network = draw(st.sampled_from([0.5, 2.0, 12.5]))
        up = draw(st.sampled_from([True, True, True, False]))
        disk = st.tuples(st.integers(5, 100).map(float), st.sampled_from([0.5, 1.0, 2.93]))
        nodes.append((network, up, draw(st.lists(disk, min_size=1, max_size=5))))
    return nodes


@st.composite
def workloads(draw: st.DrawFn, max_requests: int = 12) -> list[PlacementRequest]:
    base = draw(st.sampled_from([0.0, 1_700_000_000.0]))
    reqs = []
    for job in range(draw(st.integers(1, max_requests))):
        start = base + draw(st.integers(0, 40)) * 10.0
        parts = tuple(draw(st.lists(sizes, min_size=1, max_size=4)))
        reqs.append(PlacementRequest(job, parts, start, start + draw(durations)))
    return reqs


def build(spec: list[tuple[float, bool, list[tuple[float, float]]]]) -> Cluster:
    cluster = Cluster()
    for n, (network, up, disks) in enumerate(spec):
        members = [Disk(n, i, cap, w, w) for i, (cap, w) in enumerate(disks)]
        node = cluster.add_node(Node(n, f"n{n}:0", f"n{n}", network, members))
        node.up = up
    return cluster


# -- brute force, independent of DiskUsage -------------------------------------------------


def bf_peak(booked: list[Booking], key: tuple[int, int], start: float, end: float) -> float:
    """Highest GB on a disk at any instant of [start, end): usage only rises at starts."""
    mine = [b for b in booked if (b[0], b[1]) == key and b[2] < end and b[3] > start]
    instants = {start} | {b[2] for b in mine if b[2] > start}
    return max((sum(b[4] for b in mine if b[2] <= t < b[3]) for t in instants), default=0.0)


def check_capacity(cluster: Cluster, booked: list[Booking]) -> None:
    for node, disk, start, _, _ in booked:
        used = sum(b[4] for b in booked if (b[0], b[1]) == (node, disk) and b[2] <= start < b[3])
        assert used <= cluster.disk(node, disk).capacity + MARGIN, (node, disk, start)


def snapshot(cluster: Cluster) -> list[object]:
    """Everything a strategy could change, read through public queries."""

    def usage(u) -> tuple[object, ...]:
        return len(u), list(u.segments(-math.inf, math.inf))

    state: list[object] = []
    for node in cluster.nodes:
        state.append((node.index, node.name, node.up, node.network_bw, usage(node.usage)))
        state.extend(
            (d.node, d.index, d.capacity, d.write_bw, d.read_bw, usage(d.usage)) for d in node.disks
        )
    return state


def best_key(values: dict[tuple[int, int], float]) -> tuple[int, int]:
    """Highest rank, then lowest (node, disk)."""
    return min(values, key=lambda k: (-rank(values[k]), k))


def reference_choice(name: str, strategy, req: PlacementRequest, cluster: Cluster):
    """Where an exhaustive search puts a single-part request, or None when not checked."""
    decision = Decision(req)
    fitting = [d for d in cluster.up_disks() if decision.fits(d, req.parts[0])]
    if not fitting:
        return None
    keys = {d.key for d in fitting}
    if name == "worst_case":
        figures = strategy.figures(req, cluster)
        return best_key({k: min(figures[k]) for k in keys})
    if name == "best_bandwidth":
        figures = strategy.figures(req, cluster)
        return best_key({k: figures[k] for k in keys})
    if name == "worst_fit":
        return best_key({d.key: decision.free(d) for d in fitting})
    if name == "best_fit":
        return best_key({d.key: -decision.free(d) for d in fitting})
    if name == "first_fit":
        return fitting[0].key
    return None


# -- properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@settings(max_examples=40, deadline=None)
@given(spec=cluster_specs(), reqs=workloads())
def test_strategy_invariants(name: str, spec, reqs: list[PlacementRequest]) -> None:
    cluster = build(spec)
    strategy = load(STRATEGIES, name)()
    up = {d.key for d in cluster.up_disks()}
    booked: list[Booking] = []
    for req in reqs:
        before = snapshot(cluster)
        expected = reference_choice(name, strategy, req, cluster) if len(req.parts) == 1 else None
        placement = strategy.place(req, cluster)
        assert snapshot(cluster) == before, "place() changed the cluster"
        if placement is None:
            if len(req.parts) == 1:  # completeness: a single part that fits is placed
                size = req.parts[0]
                assert not any(
                    bf_peak(booked, d.key, req.start, req.end) + size <= d.capacity - MARGIN
                    for d in cluster.up_disks()
                ), f"{name} refused {req} that fits"
            continue
        # All or nothing: one extent per part, the same sizes, on up disks.
        assert len(placement) == len(req.parts)
        assert sorted(e.size for e in placement) == sorted(req.parts)
        assert all((e.node, e.disk) in up for e in placement)
        if expected is not None:
            assert (placement[0].node, placement[0].disk) == expected
        cluster.book(placement, req.start, req.end)
        booked.extend((e.node, e.disk, req.start, req.end, e.size) for e in placement)
        check_capacity(cluster, booked)


@st.composite
def loaded_clusters(draw: st.DrawFn) -> tuple[Cluster, PlacementRequest]:
    """A cluster with up to 40 random bookings (where they fit) and one request."""
    cluster = build(draw(cluster_specs()))
    disks = [d for node in cluster.nodes for d in node.disks]
    for _ in range(draw(st.integers(0, 40))):
        disk = draw(st.sampled_from(disks))
        start = draw(st.integers(0, 40)) * 10.0
        end = start + draw(durations)
        size = draw(sizes)
        if disk.fits(size, start, end):
            cluster.book([Extent(disk.node, disk.index, size)], start, end)
    start = draw(st.integers(0, 40)) * 10.0
    return cluster, PlacementRequest(0, (draw(sizes),), start, start + draw(durations))


@pytest.mark.parametrize("name", ["worst_case", "best_bandwidth", "worst_fit", "best_fit"])
@settings(max_examples=60, deadline=None)
@given(case=loaded_clusters())
def test_pruned_search_matches_exhaustive_search(name: str, case) -> None:
    cluster, req = case
    strategy = load(STRATEGIES, name)()
    expected = reference_choice(name, strategy, req, cluster)
    placement = strategy.place(req, cluster)
    if expected is None:
        assert placement is None
    else:
        assert placement is not None
        assert (placement[0].node, placement[0].disk) == expected
