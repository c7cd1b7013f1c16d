"""first_fit: the first disk, in (node, disk) order, where the part fits."""

from __future__ import annotations

from storalloc.strategies.base import ClusterView, Decision, Placement, PlacementRequest


class FirstFit:
    """Each part (largest first, as `place_parts` does) goes to the first fitting disk."""

    name = "first_fit"

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        # Same semantics as place_parts with `fitting[0]`, but stops scanning at the first
        # fit instead of testing every disk, which is the point of first fit.
        decision = Decision(request)
        disks = view.up_disks()
        for size in sorted(request.parts, reverse=True):
            chosen = next((d for d in disks if decision.fits(d, size)), None)
            if chosen is None:
                return None
            decision.take(chosen, size)
        return tuple(decision.extents)
