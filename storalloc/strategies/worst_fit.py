"""worst_fit: the fitting disk with the most free GB over the request's window."""

from __future__ import annotations

from storalloc.core.cluster import Disk
from storalloc.strategies.bandwidth import bounded_max
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


def _most_free(decision: Decision, size: float, fitting: list[Disk]) -> Disk | None:
    start = decision.request.start
    pending = decision.pending_gb if decision.extents else _nothing

    def upper(disk: Disk) -> float:
        # The window's peak is at least the usage at its first instant, and used_at is a
        # single bisection where the peak scans the whole window. Same float operations as
        # Decision.free, so the bound never rounds below it: no slack needed.
        return (disk.capacity - disk.usage.used_at(start)) - pending(disk)

    return bounded_max(fitting, upper, decision.free, slack=0.0)


def _nothing(disk: Disk) -> float:
    return 0.0  # no part chosen yet: skip the per-disk lookup on the common single-part path
