"""find_slot: the earliest start over every candidate, with no cap on how many it tries."""

from __future__ import annotations

from storalloc.core.cluster import Cluster, Disk, Extent, Node
from storalloc.core.planning import candidate_starts, find_slot
from storalloc.registry import make_strategy


def two_disk_node(capacity: float = 10.0) -> Cluster:
    cluster = Cluster()
    cluster.add_node(
        Node(0, "n0:0", "n0", 12.5, [Disk(0, i, capacity, 1.0, 1.0) for i in range(2)])
    )
    return cluster


def test_earliest_start_found_past_twenty_thousand_candidates() -> None:
    """Two 6 GB parts need both disks; disk 1 is full until t = 20,001, one booking per
    second, while the largest part alone fits on disk 0 at once. The old planner gave up
    after 10,000 candidate starts; the start must be exactly 20,001."""
    cluster = two_disk_node()
    for t in range(20_001):
        cluster.book([Extent(0, 1, 10.0)], float(t), float(t + 1))
    strategy = make_strategy("first_fit")
    found = find_slot(cluster, strategy, 1, (6.0, 6.0), 1.0, 0.0)
    assert found is not None
    start, placement = found
    assert start == 20_001.0
    assert sorted(e.disk for e in placement) == [0, 1]


def test_no_slot_when_the_parts_never_fit_together() -> None:
    cluster = two_disk_node()
    cluster.book([Extent(0, 1, 10.0)], 0.0, 5.0)
    # Three 6 GB parts on two 10 GB disks: impossible even once everything has ended.
    assert find_slot(cluster, make_strategy("worst_fit"), 1, (6.0, 6.0, 6.0), 1.0, 0.0) is None


def test_candidates_are_sorted_unique_and_start_at_the_lower_bound() -> None:
    cluster = two_disk_node()
    cluster.book([Extent(0, 0, 1.0)], 0.0, 10.0)
    cluster.book([Extent(0, 1, 1.0)], 5.0, 10.0)
    cluster.book([Extent(0, 1, 1.0)], 12.0, 20.0)
    assert list(candidate_starts(cluster, 4.0)) == [4.0, 5.0, 10.0, 12.0, 20.0]
    assert list(candidate_starts(cluster, 10.0)) == [10.0, 12.0, 20.0]
