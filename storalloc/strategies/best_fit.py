"""best_fit: the fitting disk with the least free GB over the request's window."""

from __future__ import annotations

from storalloc.cluster import Disk
from storalloc.strategies.bandwidth import rank
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
    place_parts,
)


class BestFit:
    """Least free GB during the whole window among the disks where the part still fits;
    ties go to the first disk in (node, disk) order."""

    name = "best_fit"

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        return place_parts(request, view, _least_free)


def _least_free(decision: Decision, size: float, fitting: list[Disk]) -> Disk:
    # `min` keeps the first of equal keys, and `fitting` is in (node, disk) order.
    return min(fitting, key=lambda d: rank(decision.free(d)))
