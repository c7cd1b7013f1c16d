"""worst_fit: the fitting disk with the most free GB over the request's window."""

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


class WorstFit:
    """Most free GB during the whole window (after the parts already chosen); ties go to
    the first disk in (node, disk) order."""

    name = "worst_fit"

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        return place_parts(request, view, _most_free)


def _most_free(decision: Decision, size: float, fitting: list[Disk]) -> Disk:
    # `max` keeps the first of equal keys, and `fitting` is in (node, disk) order.
    return max(fitting, key=lambda d: rank(decision.free(d)))
