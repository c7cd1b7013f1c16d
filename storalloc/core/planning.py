"""Finding a job's earliest feasible start and its placement there.

The strategy decides where a job goes at a given start; this module decides when. It is
pure: it reads the cluster and asks the strategy, and the caller books what it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from storalloc.core.cluster import Cluster, Disk
from storalloc.strategies.base import Placement, PlacementRequest, Strategy

log = logging.getLogger(__name__)


class StrategyError(Exception):
    """The placement strategy raised: a bug in it (plug-ins are site code) must fail one
    job, not the orchestrator."""


class PlanView:
    """The cluster as a strategy sees it for one job: without the disks it must avoid."""

    def __init__(self, cluster: Cluster, excluded: Iterable[tuple[int, int]] = ()) -> None:
        self.nodes = cluster.nodes
        self._cluster = cluster
        self._excluded = set(excluded)

    def up_disks(self) -> list[Disk]:
        if not self._excluded:
            return self._cluster.up_disks()
        return [d for d in self._cluster.up_disks() if d.key not in self._excluded]


def try_at(
    strategy: Strategy, job_id: int, parts: tuple[float, ...], view: PlanView,
    start: float, duration: float,
) -> Placement | None:
    """The strategy's placement of the job starting at `start`, or None."""
    request = PlacementRequest(job_id, parts, start, start + duration)
    try:
        return strategy.place(request, view)
    except Exception as exc:
        log.exception("[%05d] the placement strategy failed", job_id)
        raise StrategyError(f"the placement strategy failed: {exc!r}") from exc


def find_slot(
    cluster: Cluster, strategy: Strategy, job_id: int, parts: tuple[float, ...],
    duration: float, not_before: float, excluded: Iterable[tuple[int, int]] = (),
) -> tuple[float, Placement] | None:
    """(earliest start >= not_before, placement there), or None when none exists on the
    current cluster. Raises StrategyError when the strategy fails."""
    view = PlanView(cluster, excluded)
    placement = try_at(strategy, job_id, parts, view, not_before, duration)
    if placement is not None:
        return not_before, placement
    # Capacity only frees up when a booking ends: the candidate starts are the ends of
    # bookings, from the earliest instant at which one disk could hold the largest part.
    largest = parts[0]
    lower = min(
        (d.usage.earliest_fit(largest, duration, not_before, d.capacity)
         for d in view.up_disks()),
        default=float("inf"),
    )  # fmt: skip
    if lower == float("inf"):
        return None
    starts = {lower}
    for node in cluster.nodes:
        if node.open:
            starts.update(node.usage.breakpoints_from(lower))
    # Every candidate is tried (no cap): a capped search left plannable jobs waiting for
    # ever. The last candidate, after every booking has ended, always fits a job that
    # passed admission on the open nodes.
    for start in sorted(starts):
        placement = try_at(strategy, job_id, parts, view, start, duration)
        if placement is not None:
            return start, placement
    return None
