"""Finding a job's earliest feasible start and its placement there.

The strategy decides where a job goes at a given start; this module decides when. It is
pure: it reads the cluster and asks the strategy, and the caller books what it returns.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from storalloc.core.cluster import Cluster, Disk
from storalloc.strategies.base import Placement, PlacementRequest, Strategy

log = logging.getLogger(__name__)


class StrategyError(Exception):
    """The placement strategy raised: a bug in it (plug-ins are site code) must fail one
    job, not the orchestrator."""


_NONE: frozenset = frozenset()  # no disk excluded: most plans, shared


class PlanView:
    """The cluster as a strategy sees it for one job: without the disks it must avoid."""

    def __init__(self, cluster: Cluster, excluded: Iterable[tuple[int, int]] = ()) -> None:
        self.nodes = cluster.nodes
        self._cluster = cluster
        self._excluded = set(excluded) if excluded else _NONE

    def up_disks(self) -> list[Disk]:
        if not self._excluded:
            return self._cluster.up_disks()
        return [d for d in self._cluster.up_disks() if d.key not in self._excluded]

    def rooms(self) -> list[float] | None:
        """Cluster.rooms() aligned with up_disks(), or None when disks are excluded."""
        return None if self._excluded else self._cluster.rooms()

    @property
    def clock(self) -> Any:
        """The scheduler's clock, for strategies that keep indexes (None when disks are
        excluded: those indexes follow the cluster's own disk list)."""
        return None if self._excluded else self._cluster.clock

    def changes_since(self, seq: int) -> tuple[int, list[int] | None]:
        return self._cluster.changes_since(seq)


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
    current cluster. Raises StrategyError when the strategy fails.

    Complete, without a cap on the starts tried: room over [t, t + duration) only grows
    when t passes a breakpoint (between two, the window keeps its first segment and only
    gains segments on the right), so the earliest start is `not_before` or a breakpoint.
    Every breakpoint from the earliest instant at which one disk could hold the largest
    part is tried in order; past the last one the window is empty, so a job that does not
    fit there fits nowhere.
    """
    view = PlanView(cluster, excluded)
    placement = try_at(strategy, job_id, parts, view, not_before, duration)
    if placement is not None:
        return not_before, placement
    largest = max(parts)
    lower = min(
        (d.usage.earliest_fit(largest, duration, not_before, d.capacity)
         for d in view.up_disks()),
        default=float("inf"),
    )  # fmt: skip
    if lower == float("inf"):
        return None
    for start in candidate_starts(cluster, lower):
        placement = try_at(strategy, job_id, parts, view, start, duration)
        if placement is not None:
            return start, placement
    return None


def candidate_starts(cluster: Cluster, lower: float) -> Iterator[float]:
    """`lower`, then every later breakpoint of an open node (a node's breakpoints are its
    disks'), in time order, without repeats; lazily, so that an early success costs only
    what it reads."""
    last = lower
    yield lower
    merged = heapq.merge(*(n.usage.iter_times(lower) for n in cluster.nodes if n.open))
    for t in merged:
        if t > last:
            last = t
            yield t
