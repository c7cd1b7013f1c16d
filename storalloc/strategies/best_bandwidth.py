"""best_bandwidth: most write bandwidth when sharing, instant by instant, with what is present.

The node's link caps all its disks together; see doc/strategies.md.
"""

from __future__ import annotations

import logging

from storalloc.core.cluster import Disk, Node
from storalloc.strategies.bandwidth import best_first, decision_window
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
    place_parts,
)

log = logging.getLogger(__name__)


def best_bandwidth_bound(disk: Disk, node_bound: float, decision: Decision) -> float:
    """Upper bound of `best_bandwidth_exact`: min(W·∫1/(k_d+1), B·∫1/(k_N+1))/T, where
    `node_bound` is `best_bandwidth_node_bound(node)`. Ignoring the decision's pending parts
    only loosens it."""
    start, end, duration = decision_window(decision)
    return min(disk.write_bw * disk.usage.share_integral(start, end) / duration, node_bound)


def best_bandwidth_node_bound(node: Node, decision: Decision) -> float:
    """B·∫1/(k_N+1)/T: what any disk of the node can get at best through the node's link."""
    start, end, duration = decision_window(decision)
    return node.network_bw * node.usage.share_integral(start, end) / duration


def best_bandwidth_exact(disk: Disk, node: Node, decision: Decision) -> float:
    """(1/T)·∫ min(W/(k_d(t)+1+p_d), B/(k_N(t)+1+p_N)) dt over the request's window.

    Walks the disk's and the node's segments together, so every piece of the window where
    either count changes is weighted exactly.
    """
    start, end, duration = decision_window(decision)
    p_disk = decision.pending_parts(disk) + 1
    p_node = decision.pending_parts_on_node(node.index) + 1
    w, b = disk.write_bw, node.network_bw
    disk_segs = disk.usage.segments(start, end)
    node_segs = node.usage.segments(start, end)
    _, disk_end, _, k_disk = next(disk_segs)
    _, node_end, _, k_node = next(node_segs)
    total = 0.0
    cursor = start
    while True:
        stop = disk_end if disk_end < node_end else node_end
        total += (stop - cursor) * min(w / (k_disk + p_disk), b / (k_node + p_node))
        if stop >= end:
            return total / duration
        cursor = stop
        # Both walks cover [start, end) exactly, so each ends on the same final breakpoint.
        if disk_end == stop:
            _, disk_end, _, k_disk = next(disk_segs)
        if node_end == stop:
            _, node_end, _, k_node = next(node_segs)


class BestBandwidth:
    """Pick the fitting disk maximising (1/T)·∫ min(W/(k_d+1+p_d), B/(k_N+1+p_N)) dt,
    by branch and bound over cheap upper bounds; see doc/strategies.md."""

    name = "best_bandwidth"

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        nodes = view.nodes
        debug = log.isEnabledFor(logging.DEBUG)

        def choose(decision: Decision, size: float, fitting: list[Disk]) -> Disk | None:
            evaluated = 0

            def exact(disk: Disk, _bound: float) -> float:
                nonlocal evaluated
                evaluated += 1
                return best_bandwidth_exact(disk, nodes[disk.node], decision)

            chosen = best_first(
                fitting,
                nodes,
                lambda node: best_bandwidth_node_bound(node, decision),
                lambda disk, node_bound: best_bandwidth_bound(disk, node_bound, decision),
                exact,
            )
            if debug and chosen is not None:
                log.debug(
                    "Best bandwidth for %g GB: node %d, disk %d (%d exact of %d fitting)",
                    size,
                    chosen.node,
                    chosen.index,
                    evaluated,
                    len(fitting),
                )
            return chosen

        return place_parts(request, view, choose)

    def figures(self, request: PlacementRequest, view: ClusterView) -> dict[tuple[int, int], float]:
        """Exact figure of every up disk for the request's first part, fitting or not."""
        decision = Decision(request)
        return {
            disk.key: best_bandwidth_exact(disk, view.nodes[disk.node], decision)
            for disk in view.up_disks()
        }
