"""best_bandwidth: most write bandwidth when sharing, instant by instant, with what is present.

The node's link caps all its disks together; see doc/strategies.md.
"""

from __future__ import annotations

import logging

from storalloc.core.cluster import Disk
from storalloc.strategies.bandwidth import (
    best_bandwidth_bound,
    best_bandwidth_exact,
    best_bandwidth_node_bound,
    best_first,
)
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
    place_parts,
)

log = logging.getLogger(__name__)


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
