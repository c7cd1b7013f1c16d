"""What a placement strategy receives and returns, and helpers shared by strategies.

A strategy is pure: it reads the cluster through `ClusterView`, never changes it, never
reads a clock and does no I/O other than debug logging. The scheduler books what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from storalloc.core.capacity import EPSILON
from storalloc.core.cluster import Disk, Extent, Node

Placement = tuple[Extent, ...]


@dataclass(slots=True)
class PlacementRequest:
    """Place every part (GB each) on [start, end). All parts or none. Strategies read it
    and must not change it (it is not frozen: a frozen dataclass costs three times as much
    to build on CPython 3.11, and a replay builds one per request)."""

    job_id: int
    parts: tuple[float, ...]
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def size(self) -> float:
        return sum(self.parts)


class ClusterView(Protocol):
    """The read-only face of `storalloc.core.cluster.Cluster` that strategies may use."""

    nodes: Sequence[Node]

    def up_disks(self) -> Sequence[Disk]: ...


class Strategy(Protocol):
    """Chooses where a request goes. Construct with keyword options from the config."""

    name: str

    def place(self, request: PlacementRequest, view: ClusterView) -> Placement | None: ...

    # Optional: `committed(job_id, placement)` is called when the scheduler books a
    # placement. `place` is also called for trial starts that are thrown away, so a
    # strategy with memory (round_robin's cursor) updates it here, not in `place`.


class Decision:
    """Extents chosen so far while placing the parts of one request.

    They count against free space (and as extra concurrent allocations) for the next part,
    because all parts share the same window.
    """

    __slots__ = ("_count", "_extra", "duration", "end", "extents", "request", "start")

    def __init__(self, request: PlacementRequest) -> None:
        self.request = request
        # Unpacked once: strategies read them for every disk they consider.
        self.start, self.end = request.start, request.end
        self.duration = request.end - request.start
        self.extents: list[Extent] = []
        self._extra: dict[tuple[int, int], float] = {}
        self._count: dict[tuple[int, int], int] = {}

    def pending_gb(self, disk: Disk) -> float:
        return self._extra.get((disk.node, disk.index), 0.0) if self._extra else 0.0

    def pending_parts(self, disk: Disk) -> int:
        return self._count.get((disk.node, disk.index), 0) if self._count else 0

    def pending_parts_on_node(self, node: int) -> int:
        if not self._count:
            return 0
        return sum(n for (nd, _), n in self._count.items() if nd == node)

    def free(self, disk: Disk) -> float:
        """GB free on `disk` over the whole window, after the parts already chosen."""
        r = self.request
        return disk.free(r.start, r.end) - self.pending_gb(disk)

    def fits(self, disk: Disk, size: float) -> bool:
        if not self._extra or (disk.node, disk.index) not in self._extra:
            return disk.fits(size, self.start, self.end)
        return self.free(disk) + EPSILON >= size

    def fit_test(self, size: float) -> Callable[[Disk], bool]:
        """`fits(disk, size)` as a test of one argument, for the disks one part considers.
        Before any part is chosen (most requests have one), it reads the held GB first, in
        one call where `fits` takes three (Disk.fits's own first test; most disks pass)."""
        if self._extra:
            return lambda disk: self.fits(disk, size)
        start, end = self.start, self.end

        def fits(disk: Disk) -> bool:
            return disk.capacity - disk.usage.held + EPSILON >= size or disk.fits(
                size, start, end
            )

        return fits

    def take(self, disk: Disk, size: float) -> None:
        key = disk.key
        self.extents.append(Extent(key[0], key[1], size))
        self._extra[key] = self._extra.get(key, 0.0) + size
        self._count[key] = self._count.get(key, 0) + 1


def view_rooms(view: ClusterView) -> Sequence[float] | None:
    """`Cluster.rooms()` through the view when it offers them (views of plug-in code need
    not), aligned with `view.up_disks()`; None otherwise."""
    rooms = getattr(view, "rooms", None)
    return rooms() if rooms is not None else None


def place_parts(
    request: PlacementRequest,
    view: ClusterView,
    choose: Callable[[Decision, float, list[Disk]], Disk | None],
) -> Placement | None:
    """Place parts one at a time, largest first, with `choose(decision, size, fitting)`.

    `fitting` lists the up disks where the part fits; `choose` returns one of them (or None
    to give up). Returns every extent, or None if any part could not be placed.
    """
    decision = Decision(request)
    disks = view.up_disks()
    rooms = view_rooms(view)
    start, end = request.start, request.end
    for size in sorted(request.parts, reverse=True):
        if decision.extents:
            fitting = [d for d in disks if decision.fits(d, size)]
        elif rooms is not None:  # Disk.fits's fast path, read from the cluster's index
            fitting = [d for d, room in zip(disks, rooms, strict=True)
                       if room + EPSILON >= size or d.fits(size, start, end)]  # fmt: skip
        else:  # nothing chosen yet: the disks' own (cached) test is enough
            fitting = [d for d in disks if d.fits(size, start, end)]
        if not fitting:
            return None
        chosen = choose(decision, size, fitting)
        if chosen is None:
            return None
        decision.take(chosen, size)
    return tuple(decision.extents)
