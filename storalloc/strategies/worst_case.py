"""worst_case (the default): most write bandwidth when sharing with every overlapping booking.

The newcomer splits the disk's write bandwidth, and its node's link, equally with all the
allocations that overlap its window, while any is present; see doc/strategies.md.
"""

from __future__ import annotations

import logging

from storalloc.core.cluster import Disk, Extent
from storalloc.strategies.bandwidth import (
    DIRECT_LIMIT,
    DiskValue,
    direct_best,
    format_capacity,
    worst_case_box,
    worst_case_disk,
    worst_case_figures,
)
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
)
from storalloc.strategies.busy_index import BusyOrder
from storalloc.strategies.node_order import OrderCache, lazy_best

log = logging.getLogger(__name__)


def _upper_w(disk: Disk, box: float) -> float:
    """A disk's figure is at most its write bandwidth, and its node's box figure."""
    w = disk.write_bw
    return box if box < w else w  # min(w, box), without the builtin's keyword parsing


class WorstCase:
    """Pick the fitting disk maximising min(disk_bw, box_bw); see doc/strategies.md."""

    name = "worst_case"

    def __init__(self) -> None:
        self._orders = OrderCache()
        self._busy = BusyOrder()

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        if log.isEnabledFor(logging.DEBUG):
            self._log_figures(request, view)
        nodes = view.nodes
        disks = view.up_disks()
        decision = Decision(request)
        large = len(disks) > DIRECT_LIMIT  # large sites: read only the nodes that can win
        order = self._orders.get(view) if large else None
        parts = sorted(request.parts, reverse=True)
        for i, size in enumerate(parts, 1):
            # The box figure is exact and bounds its disks; a disk is bounded by its W (or
            # by the busy index, see _disk_upper).
            box, exact = worst_case_figures(decision)
            if order is not None:
                admissions = self._busy.admissions(view, order, request.start, request.end)
                upper = self._disk_upper(decision)  # after admissions: the index it serves
                chosen = lazy_best(admissions, nodes, decision, size, box, upper, exact)
            else:
                chosen = direct_best(disks, nodes, box, _upper_w, exact, decision.fit_test(size))
            if chosen is None:
                return None
            if i == len(parts):  # no later part reads the decision: skip its bookkeeping
                return (*decision.extents, Extent(chosen.node, chosen.index, size))
            decision.take(chosen, size)
        return ()  # a request without parts

    def _disk_upper(self, decision: Decision) -> DiskValue:
        """lazy_best's bound of a disk: min(W, box), or, where the busy index serves the
        decision, min(the index's bound for the disk, box)."""
        index = self._busy.serving
        if index is None:
            return _upper_w
        start, duration = decision.start, decision.duration

        def upper(disk: Disk, box: float) -> float:
            # A busy link caps every disk of its node: reading the disk would rarely
            # lower the bound, and costs a reading per disk and change of the node.
            if box <= disk.write_bw:
                return box
            bound = index.disk_bound(disk, start, duration)
            return box if box < bound else bound

        return upper

    def figures(
        self, request: PlacementRequest, view: ClusterView
    ) -> dict[tuple[int, int], tuple[float, float]]:
        """(disk_bw, box_bw) of every up disk for the request's first part, fitting or not."""
        decision = Decision(request)
        boxes: dict[int, float] = {}
        result: dict[tuple[int, int], tuple[float, float]] = {}
        for disk in view.up_disks():
            box = boxes.get(disk.node)
            if box is None:
                box = boxes[disk.node] = worst_case_box(view.nodes[disk.node], decision)
            result[disk.key] = (worst_case_disk(disk, decision), box)
        return result

    def _log_figures(self, request: PlacementRequest, view: ClusterView) -> None:
        # The seed's lines: every disk of a node, then the node, node after node.
        figures = self.figures(request, view)
        last_node: int | None = None
        last_box = 0.0
        for disk in view.up_disks():
            disk_bw, box_bw = figures[disk.key]
            if last_node is not None and disk.node != last_node:
                log.debug("Access bandwidth for box %d: %.2f GBps", last_node, last_box)
            last_node, last_box = disk.node, box_bw
            log.debug(
                "Access bandwidth for disk %d (node %d, %s GB): %.2f GBps",
                disk.index,
                disk.node,
                format_capacity(disk.capacity),
                disk_bw,
            )
        if last_node is not None:
            log.debug("Access bandwidth for box %d: %.2f GBps", last_node, last_box)
