"""round_robin: the next fitting disk after the last one chosen, in (node, disk) order."""

from __future__ import annotations

from storalloc.core.cluster import Disk
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
    place_parts,
)


class RoundRobin:
    """A cursor walks the disks in global (node, disk) order, wrapping around; each part
    goes to the first fitting disk strictly after the cursor."""

    name = "round_robin"

    def __init__(self) -> None:
        # Key of the last disk chosen; kept as a key, not a position, so that nodes coming
        # and going do not shift it.
        self._cursor: tuple[int, int] | None = None

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None. The cursor moves between the
        parts of one request, but only `committed` moves it for good: the planner tries
        several starts and throws most placements away."""
        saved = self._cursor
        try:
            return place_parts(request, view, self._choose)
        finally:
            self._cursor = saved

    def committed(self, job_id: int, placement: Placement) -> None:
        """The scheduler booked `placement`: the rotation goes on after its last disk."""
        if placement:
            last = placement[-1]
            self._cursor = (last.node, last.disk)

    def _choose(self, decision: Decision, size: float, fitting: list[Disk]) -> Disk:
        cursor = self._cursor
        chosen = fitting[0]  # wrap around when nothing fits after the cursor
        if cursor is not None:
            chosen = next((d for d in fitting if d.key > cursor), chosen)
        self._cursor = chosen.key
        return chosen
