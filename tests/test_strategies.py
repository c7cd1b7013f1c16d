"""Worked examples for every built-in strategy, with hand-computed figures."""

from __future__ import annotations

import logging
import math
import random
from typing import Any

import pytest

from storalloc.core.cluster import Cluster, Disk, Extent, Node
from storalloc.strategies.bandwidth import (
    FIGURE_DIGITS,
    format_capacity,
    rank,
    worst_case_box,
    worst_case_disk,
)
from storalloc.strategies.base import Decision, PlacementRequest
from storalloc.strategies.best_bandwidth import BestBandwidth, best_bandwidth_exact
from storalloc.strategies.best_fit import BestFit
from storalloc.strategies.first_fit import FirstFit
from storalloc.strategies.random_choice import RandomChoice
from storalloc.strategies.round_robin import RoundRobin
from storalloc.strategies.worst_case import WorstCase
from storalloc.strategies.worst_fit import WorstFit

DAY = 86400.0
WC_LOGGER = "storalloc.strategies.worst_case"


def make_cluster(*nodes: tuple[float, list[tuple[float, float]]]) -> Cluster:
    """Nodes given as (network_bw, [(capacity, write_bw), ...])."""
    cluster = Cluster()
    for n, (network_bw, disks) in enumerate(nodes):
        members = [Disk(n, i, cap, w, w) for i, (cap, w) in enumerate(disks)]
        cluster.add_node(Node(n, f"node{n}:0", f"node{n}", network_bw, members))
    return cluster


def book(cluster: Cluster, node: int, disk: int, start: float, end: float, gb: float = 1.0):
    cluster.book([Extent(node, disk, gb)], start, end)


def request(*parts: float, start: float = 0.0, end: float = 100.0) -> PlacementRequest:
    return PlacementRequest(1, parts, start, end)


def figures_wc(cluster: Cluster, req: PlacementRequest) -> dict[tuple[int, int], float]:
    decision = Decision(req)
    return {
        d.key: min(worst_case_disk(d, decision), worst_case_box(cluster.nodes[d.node], decision))
        for d in cluster.up_disks()
    }


def figures_bb(cluster: Cluster, req: PlacementRequest) -> dict[tuple[int, int], float]:
    decision = Decision(req)
    return {
        d.key: best_bandwidth_exact(d, cluster.nodes[d.node], decision) for d in cluster.up_disks()
    }


def debug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WC_LOGGER]


def chosen(placement) -> list[tuple[int, int]]:
    assert placement is not None
    return [(e.node, e.disk) for e in placement]


# -- worst_case and best_bandwidth: worked examples ------------------------------------------


def test_seed_ault14_lines_and_choice(caplog: pytest.LogCaptureFixture) -> None:
    cluster = make_cluster((12.5, [(8000.0, 2.93)] * 8))
    req = PlacementRequest(1, (200.0,), 1_700_000_000.0, 1_700_000_000.0 + 3600)
    with caplog.at_level(logging.DEBUG, logger=WC_LOGGER):
        placement = WorstCase().place(req, cluster)
    expected = [f"Access bandwidth for disk {i} (node 0, 8000 GB): 2.93 GBps" for i in range(8)]
    assert debug_lines(caplog) == [*expected, "Access bandwidth for box 0: 12.50 GBps"]
    assert placement == (Extent(0, 0, 200.0),)


def test_no_debug_lines_unless_enabled(caplog: pytest.LogCaptureFixture) -> None:
    cluster = make_cluster((12.5, [(8000.0, 2.93)] * 2))
    with caplog.at_level(logging.INFO, logger=WC_LOGGER):
        WorstCase().place(request(10.0), cluster)
    assert debug_lines(caplog) == []


def test_two_overlapping_allocations(caplog: pytest.LogCaptureFixture) -> None:
    # Disk 0 holds [0, 100) and [50, 150); disk 1 is empty. Window [0, 100), T = 100.
    cluster = make_cluster((12.5, [(1000.0, 2.0), (1000.0, 2.0)]))
    book(cluster, 0, 0, 0, 100)
    book(cluster, 0, 0, 50, 150)
    req = request(10.0)
    # worst_case: n = 2, U = 100 -> 2·(100/3)/100; box: 12.5/3; disk 1 alone: 2.
    wc = figures_wc(cluster, req)
    assert wc[0, 0] == pytest.approx(2 / 3)
    assert wc[0, 1] == pytest.approx(2.0)
    with caplog.at_level(logging.DEBUG, logger=WC_LOGGER):
        assert chosen(WorstCase().place(req, cluster)) == [(0, 1)]
    assert debug_lines(caplog) == [
        "Access bandwidth for disk 0 (node 0, 1000 GB): 0.67 GBps",
        "Access bandwidth for disk 1 (node 0, 1000 GB): 2.00 GBps",
        "Access bandwidth for box 0: 4.17 GBps",
    ]
    # best_bandwidth, disk 0: 50 s with one present (2/2) then 50 s with two (2/3).
    bb = figures_bb(cluster, req)
    assert bb[0, 0] == pytest.approx((50 * 1.0 + 50 * 2 / 3) / 100)
    # Disk 1 is alone on its disk; the node (12.5/2, then 12.5/3) never caps 2 GBps.
    assert bb[0, 1] == pytest.approx(2.0)
    assert chosen(BestBandwidth().place(req, cluster)) == [(0, 1)]


def _partial_overlap() -> Cluster:
    # Window [0, 100). Disk 0: [60, 200). Disk 1: [0, 100). Disk 2: [-50, 10) and [90, 300).
    cluster = make_cluster((12.5, [(1000.0, 2.0)] * 3))
    book(cluster, 0, 0, 60, 200)
    book(cluster, 0, 1, 0, 100)
    book(cluster, 0, 2, -50, 10)
    book(cluster, 0, 2, 90, 300)
    return cluster


def test_partial_overlap_worst_case() -> None:
    cluster = _partial_overlap()
    req = request(10.0)
    decision = Decision(req)
    disks = cluster.nodes[0].disks
    # Disk 0: n=1, U=40 -> 2·(60 + 40/2)/100 = 1.6. Disk 1: n=1, U=100 -> 1.0.
    # Disk 2: n=2, U=20 -> 2·(80 + 20/3)/100 = 1.7333. Node: n=4, U=100 -> 12.5/5 = 2.5.
    assert worst_case_disk(disks[0], decision) == pytest.approx(1.6)
    assert worst_case_disk(disks[1], decision) == pytest.approx(1.0)
    assert worst_case_disk(disks[2], decision) == pytest.approx(2 * (80 + 20 / 3) / 100)
    assert worst_case_box(cluster.nodes[0], decision) == pytest.approx(2.5)
    assert chosen(WorstCase().place(req, cluster)) == [(0, 2)]


def test_partial_overlap_best_bandwidth() -> None:
    cluster = _partial_overlap()
    req = request(10.0)
    # Node counts: [0,10) 2, [10,60) 1, [60,90) 2, [90,100) 3.
    # Disk 0 (k_d 0 then 1 from 60): 10·2 + 50·2 + 30·1 + 10·1 = 160 -> 1.6.
    # Disk 1 (k_d 1 throughout): 1.0. Disk 2 (k_d 1, 0, 0, 1): 10 + 100 + 60 + 10 -> 1.8.
    bb = figures_bb(cluster, req)
    assert bb == pytest.approx({(0, 0): 1.6, (0, 1): 1.0, (0, 2): 1.8})
    assert chosen(BestBandwidth().place(req, cluster)) == [(0, 2)]


def test_window_of_three_days_does_not_wrap(caplog: pytest.LogCaptureFixture) -> None:
    start = 1_700_000_000.0
    cluster = make_cluster((12.5, [(1000.0, 3.0), (1000.0, 3.0)]))
    book(cluster, 0, 0, start, start + DAY)  # busy the first day only
    book(cluster, 0, 1, start, start + 3 * DAY + 3600)  # busy all along
    req = request(10.0, start=start, end=start + 3 * DAY)
    # worst_case disk 0: 3·(2 days + 1 day/2)/3 days = 2.5; disk 1: 1.5; node 12.5/3.
    with caplog.at_level(logging.DEBUG, logger=WC_LOGGER):
        assert chosen(WorstCase().place(req, cluster)) == [(0, 0)]
    assert debug_lines(caplog) == [
        "Access bandwidth for disk 0 (node 0, 1000 GB): 2.50 GBps",
        "Access bandwidth for disk 1 (node 0, 1000 GB): 1.50 GBps",
        "Access bandwidth for box 0: 4.17 GBps",
    ]
    # best_bandwidth disk 0: a day at min(3/2, 12.5/3), two at min(3, 12.5/2) -> 2.5.
    assert figures_bb(cluster, req) == pytest.approx({(0, 0): 2.5, (0, 1): 1.5})
    assert chosen(BestBandwidth().place(req, cluster)) == [(0, 0)]


def test_node_with_low_network_caps_its_disks(caplog: pytest.LogCaptureFixture) -> None:
    # Node 0: an empty 3 GBps disk behind a 1 GBps link. Node 1: a shared disk, fast link.
    cluster = make_cluster((1.0, [(1000.0, 3.0)]), (12.5, [(1000.0, 3.0)]))
    book(cluster, 1, 0, 0, 100)
    req = request(10.0)
    with caplog.at_level(logging.DEBUG, logger=WC_LOGGER):
        assert chosen(WorstCase().place(req, cluster)) == [(1, 0)]
    assert debug_lines(caplog) == [
        "Access bandwidth for disk 0 (node 0, 1000 GB): 3.00 GBps",
        "Access bandwidth for box 0: 1.00 GBps",
        "Access bandwidth for disk 0 (node 1, 1000 GB): 1.50 GBps",
        "Access bandwidth for box 1: 6.25 GBps",
    ]
    assert figures_bb(cluster, req) == pytest.approx({(0, 0): 1.0, (1, 0): 1.5})
    assert chosen(BestBandwidth().place(req, cluster)) == [(1, 0)]


def test_best_bandwidth_node_caps_disks_together_and_ties_go_first() -> None:
    # Node 0 (2 GBps): disk 0 busy, disk 1 empty, so k_N = 1 and disk 1 gets min(3, 2/2) = 1.
    # Node 1 (12.5 GBps): one disk with two allocations: min(3/3, 12.5/3) = 1. A tie.
    cluster = make_cluster((2.0, [(1000.0, 3.0)] * 2), (12.5, [(1000.0, 3.0)]))
    book(cluster, 0, 0, 0, 100)
    book(cluster, 1, 0, 0, 100)
    book(cluster, 1, 0, 0, 100)
    req = request(10.0)
    assert figures_bb(cluster, req) == pytest.approx({(0, 0): 1.0, (0, 1): 1.0, (1, 0): 1.0})
    assert chosen(BestBandwidth().place(req, cluster)) == [(0, 0)]


def test_multi_part_counts_parts_already_chosen(caplog: pytest.LogCaptureFixture) -> None:
    # Empty node, B = 3, two 2 GBps disks. The first part takes disk 0 (tie); for the second,
    # disk 0 shares with it (2/2) and the node too (3/2): disk 1 wins with min(2, 1.5).
    cluster = make_cluster((3.0, [(1000.0, 2.0)] * 2))
    req = request(10.0, 10.0)
    with caplog.at_level(logging.DEBUG, logger=WC_LOGGER):
        assert chosen(WorstCase().place(req, cluster)) == [(0, 0), (0, 1)]
    assert len(debug_lines(caplog)) == 3  # first part only
    assert chosen(BestBandwidth().place(req, cluster)) == [(0, 0), (0, 1)]
    decision = Decision(req)
    decision.take(cluster.disk(0, 0), 10.0)
    node = cluster.nodes[0]
    assert worst_case_disk(cluster.disk(0, 0), decision) == pytest.approx(1.0)
    assert worst_case_box(node, decision) == pytest.approx(1.5)
    assert best_bandwidth_exact(cluster.disk(0, 1), node, decision) == pytest.approx(1.5)


def test_bandwidth_strategies_skip_disks_where_the_part_does_not_fit() -> None:
    cluster = make_cluster((12.5, [(100.0, 2.0), (100.0, 1.0)]))
    book(cluster, 0, 0, 50, 60, gb=95.0)  # disk 0 is the fastest but full mid-window
    for strategy in (WorstCase(), BestBandwidth()):
        assert chosen(strategy.place(request(10.0), cluster)) == [(0, 1)]
        assert strategy.place(request(150.0), cluster) is None


def test_empty_window_is_rejected() -> None:
    cluster = make_cluster((12.5, [(100.0, 2.0)]))
    for strategy in (WorstCase(), BestBandwidth()):
        with pytest.raises(ValueError, match="empty or reversed window"):
            strategy.place(request(1.0, start=10.0, end=10.0), cluster)


def test_fit_test_answers_as_fits_does() -> None:
    """Decision.fit_test reads the held GB itself before the full test: on disks held
    below, at and past the point where that first test decides, and with a part already
    chosen on one of them, it must answer as `fits` does."""
    cluster = make_cluster((10.0, [(10.0, 1.0)] * 4))
    book(cluster, 0, 1, 0.0, 50.0, 6.0)  # held 6: only the full window test tells
    book(cluster, 0, 2, 200.0, 300.0, 9.0)  # held 9, but not during the window
    book(cluster, 0, 3, 0.0, 100.0, 10.0)  # full during the window
    for parts in [(1.0,), (4.0,), (4.0 + 1e-10,), (5.0,), (9.5,), (10.0,)]:
        for chosen_first in (False, True):
            decision = Decision(request(*parts))
            if chosen_first:
                decision.take(cluster.nodes[0].disks[0], 3.0)
            test = decision.fit_test(parts[0])
            for disk in cluster.up_disks():
                assert test(disk) == decision.fits(disk, parts[0]), (parts, disk.key)
    assert not Decision(request(5.0)).fit_test(5.0)(cluster.nodes[0].disks[3])
    assert Decision(request(9.5)).fit_test(9.5)(cluster.nodes[0].disks[2])


def test_format_capacity() -> None:
    assert format_capacity(8000.0) == "8000"
    assert format_capacity(7999.5) == "7999.5"


def test_rank_is_round_to_the_figure_digits() -> None:
    """rank() skips round()'s decimal conversion away from half units: it must still
    return round()'s float everywhere, next to half units and past its fast range too."""
    rng = random.Random(5)
    unit = 10.0**-FIGURE_DIGITS
    figures = [rng.random() * scale for scale in (1e-5, 1.0, 2.93, 12.5, 1e3, 1e7)
               for _ in range(3000)]  # fmt: skip
    for k in [*range(0, 3000), *(rng.randrange(10**9) for _ in range(3000))]:
        half = (k + 0.5) * unit
        figures += [half, math.nextafter(half, 0.0), math.nextafter(half, math.inf)]
    figures += [0.0, 1e9, 1e200, math.inf]
    for figure in figures:
        assert rank(figure) == round(figure, FIGURE_DIGITS), figure
        assert rank(-figure) == round(-figure, FIGURE_DIGITS), -figure
    assert math.isnan(rank(math.nan))


# -- the simple strategies -----------------------------------------------------------------


def test_random_is_reproducible_and_uniform_over_fitting_disks() -> None:
    cluster = make_cluster((10.0, [(100.0, 1.0)] * 3), (10.0, [(5.0, 1.0)]))
    req = request(10.0)  # does not fit on node 1

    def picks(seed: int) -> list[tuple[int, int]]:
        strategy = RandomChoice(seed=seed)
        return [chosen(strategy.place(req, cluster))[0] for _ in range(60)]

    assert picks(3) == picks(3)
    assert set(picks(3)) == {(0, 0), (0, 1), (0, 2)}
    assert picks(4) != picks(3)


def booked(rr: RoundRobin, req: PlacementRequest, cluster: Any) -> list[tuple[int, int]]:
    """Place and commit, as the scheduler does when it books a placement."""
    placement = rr.place(req, cluster)
    assert placement is not None
    rr.committed(req.job_id, placement)
    return chosen(placement)


def test_round_robin_cycles_skips_and_wraps() -> None:
    cluster = make_cluster((10.0, [(100.0, 1.0)] * 2), (10.0, [(100.0, 1.0)]))
    book(cluster, 0, 1, 0, 100, gb=95.0)
    rr = RoundRobin()
    picks = [booked(rr, request(10.0), cluster)[0] for _ in range(4)]
    assert picks == [(0, 0), (1, 0), (0, 0), (1, 0)]
    # In [100, 200) disk (0, 1) is free again and rejoins the rotation.
    assert booked(rr, request(10.0, start=100.0, end=200.0), cluster) == [(0, 0)]
    assert booked(rr, request(10.0, start=100.0, end=200.0), cluster) == [(0, 1)]


def test_round_robin_parts_take_consecutive_disks_and_refusal_keeps_cursor() -> None:
    cluster = make_cluster((10.0, [(100.0, 1.0)] * 3))
    rr = RoundRobin()
    assert booked(rr, request(10.0, 10.0), cluster) == [(0, 0), (0, 1)]
    assert rr.place(request(90.0, 90.0, 90.0, 90.0), cluster) is None
    assert booked(rr, request(10.0), cluster) == [(0, 2)]


def test_round_robin_trial_placements_do_not_move_the_cursor() -> None:
    cluster = make_cluster((10.0, [(100.0, 1.0)] * 3))
    rr = RoundRobin()
    for _ in range(5):  # the planner trying starts it then throws away
        assert chosen(rr.place(request(10.0), cluster)) == [(0, 0)]
    assert booked(rr, request(10.0), cluster) == [(0, 0)]
    assert chosen(rr.place(request(10.0), cluster)) == [(0, 1)]


def test_worst_fit_takes_most_free_and_counts_chosen_parts() -> None:
    cluster = make_cluster((10.0, [(100.0, 1.0), (100.0, 1.0), (80.0, 1.0)]))
    book(cluster, 0, 0, 50, 60, gb=30.0)  # free 70 over [0, 100)
    book(cluster, 0, 1, 100, 200, gb=90.0)  # after the window: free 100
    assert chosen(WorstFit().place(request(10.0), cluster)) == [(0, 1)]
    # Parts 40, 40: disk 1 (100 -> 60), then disk 2 (80) beats disk 0 (70) and disk 1 (60).
    assert chosen(WorstFit().place(request(40.0, 40.0), cluster)) == [(0, 1), (0, 2)]


def test_worst_fit_and_best_fit_ties_go_to_the_first_disk() -> None:
    cluster = make_cluster((10.0, [(1.0, 1.0)] * 2), (10.0, [(1.0, 1.0)]))
    assert chosen(WorstFit().place(request(0.1), cluster)) == [(0, 0)]
    assert chosen(BestFit().place(request(0.1), cluster)) == [(0, 0)]
    book(cluster, 1, 0, 0, 100, gb=0.2)
    book(cluster, 1, 0, 0, 100, gb=0.4)  # free 0.3999999999999999 in floats
    book(cluster, 0, 1, 0, 100, gb=0.6)  # free 0.4: float dust must not break the tie
    assert chosen(BestFit().place(request(0.1), cluster)) == [(0, 1)]


def test_worst_fit_tie_with_an_earlier_disk_of_lower_bound() -> None:
    # Disk 1 looks emptiest at the window's start (bound 100) but peaks at 20 GB later;
    # disk 0 holds 20 GB from the start (bound 80). Both have 80 GB free: disk 0 wins.
    cluster = make_cluster((10.0, [(100.0, 1.0), (100.0, 1.0)]))
    book(cluster, 0, 0, 0, 100, gb=20.0)
    book(cluster, 0, 1, 50, 60, gb=20.0)
    assert chosen(WorstFit().place(request(10.0), cluster)) == [(0, 0)]


def test_best_fit_takes_least_free_that_still_fits() -> None:
    cluster = make_cluster((10.0, [(100.0, 1.0), (100.0, 1.0), (100.0, 1.0)]))
    book(cluster, 0, 0, 0, 100, gb=95.0)  # free 5: too small
    book(cluster, 0, 1, 0, 10, gb=70.0)  # free 30
    book(cluster, 0, 2, 200, 300, gb=99.0)  # free 100 in the window, tight later
    assert chosen(BestFit().place(request(20.0), cluster)) == [(0, 1)]
    # A second 20 no longer fits in the 10 GB left on disk 1; a 10 does.
    assert chosen(BestFit().place(request(20.0, 20.0), cluster)) == [(0, 1), (0, 2)]
    assert chosen(BestFit().place(request(10.0, 20.0), cluster)) == [(0, 1), (0, 1)]


def test_first_fit_takes_parts_largest_first() -> None:
    cluster = make_cluster((10.0, [(30.0, 1.0), (100.0, 1.0)]))
    assert chosen(FirstFit().place(request(5.0), cluster)) == [(0, 0)]
    placement = FirstFit().place(request(5.0, 50.0), cluster)
    assert placement == (Extent(0, 1, 50.0), Extent(0, 0, 5.0))
    assert FirstFit().place(request(60.0, 60.0), cluster) is None


def test_down_nodes_are_never_used() -> None:
    cluster = make_cluster((10.0, [(100.0, 3.0)]), (10.0, [(100.0, 1.0)]))
    cluster.nodes[0].up = False
    strategies = [WorstCase(), BestBandwidth(), RandomChoice(), RoundRobin()]
    strategies += [WorstFit(), BestFit(), FirstFit()]
    for strategy in strategies:
        assert chosen(strategy.place(request(10.0), cluster)) == [(1, 0)], strategy.name
