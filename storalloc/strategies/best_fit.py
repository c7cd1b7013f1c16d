"""best_fit: the fitting disk with the least free GB over the request's window."""

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


class BestFit:
    """Least free GB during the whole window among the disks where the part still fits;
    ties go to the first disk in (node, disk) order."""

    name = "best_fit"

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        return place_parts(request, view, _least_free)


def _least_free(decision: Decision, size: float, fitting: list[Disk]) -> Disk | None:
    pending = decision.pending_gb if decision.extents else _nothing

    # Maximise −free. The free space over any window is at least capacity − the disk's
    # all-time peak (cached), which bounds −free from above without scanning the window;
    # computed like Decision.free, so it never rounds below it: no slack needed.
    def upper(disk: Disk) -> float:
        return -((disk.capacity - disk.usage.peak_all()) - pending(disk))

    return bounded_max(fitting, upper, lambda disk: -decision.free(disk), slack=0.0)


def _nothing(disk: Disk) -> float:
    return 0.0  # no part chosen yet: skip the per-disk lookup on the common single-part path
