"""An example strategy plug-in, loaded by dotted path ('tests.plugin_strategy:LargestDisk')."""

from __future__ import annotations

from storalloc.core.cluster import Disk
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
    place_parts,
)


class LargestDisk:
    """Each part goes to the fitting disk with the largest capacity (first one on ties)."""

    name = "largest_disk"

    def __init__(self, *, minimum_gb: float = 0.0) -> None:
        self.minimum_gb = minimum_gb  # an option, as `strategy_options` would pass it

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request` on the largest disks, or return None."""
        return place_parts(request, view, self._choose)

    def _choose(self, decision: Decision, size: float, fitting: list[Disk]) -> Disk | None:
        large = [d for d in fitting if d.capacity >= self.minimum_gb]
        return max(large, key=lambda d: d.capacity, default=None)


class Faulty(LargestDisk):
    """A plug-in with a bug: it raises for 13 GB requests (the orchestrator must survive)."""

    name = "faulty"

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        if request.parts == (13.0,):
            raise RuntimeError("unlucky size")
        return super().place(request, view)
