"""random: a uniformly random fitting disk, reproducible from a seed."""

from __future__ import annotations

import random

from storalloc.core.cluster import Disk
from storalloc.strategies.base import (
    ClusterView,
    Decision,
    Placement,
    PlacementRequest,
    place_parts,
)


class RandomChoice:
    """Each part goes to a disk drawn uniformly among those where it fits."""

    name = "random"

    def __init__(self, *, seed: int = 0) -> None:
        # Own generator: the sequence depends only on the seed and the requests seen.
        self._rng = random.Random(seed)

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None:
        """Place every part of `request`, or return None."""
        return place_parts(request, view, self._choose)

    def _choose(self, decision: Decision, size: float, fitting: list[Disk]) -> Disk:
        return fitting[self._rng.randrange(len(fitting))]
