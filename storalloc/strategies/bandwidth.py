"""worst_case's bandwidth figures, and the branch-and-bound searches for the best disk.

`worst_case` and `best_bandwidth` (whose figures are in its own module) rank the fitting
disks by the write bandwidth a newcomer can expect over its window and pick the highest;
`worst_fit` and `best_fit` reuse `bounded_max`.
Figures are compared after rounding to `FIGURE_DIGITS` decimals (1 KB/s, or 1 KB of free
space), so that float noise never decides between two mathematically equal disks: equal
rounded figures are ties, broken by (node, disk) order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any

from storalloc.core.capacity import DiskUsage
from storalloc.core.cluster import Disk, Node
from storalloc.strategies.base import Decision

#: Decimals (GBps) kept when comparing figures; 6 decimals is 1 KB/s.
FIGURE_DIGITS = 6
#: Relative margin added to float-summed upper bounds: they round differently from the exact
#: figure's sum, and a bound must never fall below the figure it bounds. 1e-10 covers ~1e5
#: summed segments yet stays far below the rounding unit for figures up to 1000 GBps.
BOUND_SLACK = 1e-10
#: A rank is a whole number of these units.
_UNIT_SCALE = 10.0**FIGURE_DIGITS
#: Below this many units, figure * _UNIT_SCALE is within 1e-4 unit of the exact product
#: (a relative error of 2**-53), so its nearest whole unit can be read without round().
_FAST_UNITS = 1e12
#: A relative margin far above the rounding errors of a few float operations.
_SURELY_ABOVE = 1.0 + 1e-12
#: Up to this many fitting disks, evaluating them all beats the branch-and-bound heap.
DIRECT_LIMIT = 32

#: 1.5 * 2**52: a float below 2**51 in magnitude plus this lands where floats are whole
#: numbers, so adding then subtracting it rounds to the nearest one without leaving floats
#: (math.floor is a call, and its int result costs a conversion at each later operation).
_ROUNDER = 6755399441055744.0

NodeValue = Callable[[Node], float]
DiskValue = Callable[[Disk, float], float]


def rank(figure: float) -> float:
    """The figure as compared between disks (rounded to `FIGURE_DIGITS` decimals).

    Equal to round(figure, FIGURE_DIGITS), at half its cost: round() goes through a
    decimal string. Away from a half unit (by more than the product's error), the scaled
    figure's nearest whole number is round()'s decimal, and dividing it by the scale is
    correctly rounded, like round()'s conversion back: the same float. Near a half unit,
    and for huge or non-finite figures, round() decides."""
    scaled = figure * _UNIT_SCALE
    if -_FAST_UNITS < scaled < _FAST_UNITS:
        units = (scaled + _ROUNDER) - _ROUNDER  # its nearest whole number, still a float
        if -0.49 < scaled - units < 0.49:
            return units / _UNIT_SCALE
    return round(figure, FIGURE_DIGITS)


def format_capacity(capacity: float) -> str:
    """Capacity as the seed prints it: integral values without decimals (8000, not 8000.0)."""
    return str(int(capacity)) if float(capacity).is_integer() else str(capacity)


def decision_window(decision: Decision) -> tuple[float, float, float]:
    """(start, end, duration) of the decision's window; ValueError when it is empty."""
    duration = decision.duration
    if not duration > 0:
        r = decision.request
        raise ValueError(f"job {r.job_id}: empty or reversed window [{r.start}, {r.end})")
    return decision.start, decision.end, duration


def shared_bandwidth(bandwidth: float, duration: float, count: int, busy: float) -> float:
    """bandwidth·((T − U) + U/(n + 1))/T: the newcomer gets everything while nothing is
    present and an equal share with all n overlapping allocations while anything is."""
    return bandwidth * ((duration - busy) + busy / (count + 1)) / duration


def _worst_case(bandwidth: float, usage: DiskUsage, pending: int, decision: Decision) -> float:
    duration = decision.duration
    if not duration > 0:
        decision_window(decision)  # raises the error
    count, busy = usage.load(decision.start, decision.end)
    if pending:  # parts of this decision sit there for the whole window
        count, busy = count + pending, duration
    if not count:  # nothing to share with
        return bandwidth
    return shared_bandwidth(bandwidth, duration, count, busy)


def worst_case_disk(disk: Disk, decision: Decision) -> float:
    """worst_case figure of a disk alone (no node cap), given the parts already chosen."""
    return _worst_case(disk.write_bw, disk.usage, decision.pending_parts(disk), decision)


def worst_case_box(node: Node, decision: Decision) -> float:
    """worst_case figure of a node's network link, from its aggregate usage."""
    return _worst_case(
        node.network_bw, node.usage, decision.pending_parts_on_node(node.index), decision
    )


def worst_case_figures(decision: Decision) -> tuple[NodeValue, DiskValue]:
    """worst_case's figures for the decision's next part: (the box figure of a node,
    min(the figure of a disk, a box figure)). Before any part is chosen (the only part of
    most requests), nothing is pending anywhere, so they read the usage directly: looking
    up pending parts and unpacking the window cost a decision as much as the readings."""
    start, end, duration = decision.start, decision.end, decision.duration
    if decision.extents or not duration > 0:  # the general figures (they raise on the window)
        return (
            lambda node: worst_case_box(node, decision),
            lambda disk, box: min(worst_case_disk(disk, decision), box),
        )

    def box(node: Node) -> float:
        count, busy = node.usage.load(start, end)
        if not count:
            return node.network_bw
        return shared_bandwidth(node.network_bw, duration, count, busy)

    def capped(disk: Disk, box: float) -> float:
        # The figure is at least W / (n + 1), and the n reservations overlapping the
        # window are at most the disk's live ones (O(1)): a lightly used disk under a
        # busy link gets the box without reading its window. The margin dwarfs the few
        # rounding errors of either side, so `box < figure` would hold.
        if disk.write_bw > box * (len(disk.usage) + 1) * _SURELY_ABOVE:
            return box
        count, busy = disk.usage.load(start, end)
        figure = shared_bandwidth(disk.write_bw, duration, count, busy) if count else disk.write_bw
        return box if box < figure else figure

    return box, capped


def _refine(
    node: int, slot: int, stage: int, payload: Any, nodes: Sequence[Node],
    node_value: NodeValue, disk_upper: DiskValue, disk_exact: DiskValue,
) -> list[tuple[float, int, int, int, Any]]:
    """best_first's next step for a popped item: a node's bound becomes its value (stage 1),
    a value is split into its disks' bounds (2), a disk's bound becomes its exact figure (3)."""
    if stage == 0:
        value = node_value(nodes[node])
        top = min(value, max(d.write_bw for d in payload))
        return [(-upper_rank(top), node, -1, 1, (payload, value))]
    if stage == 1:
        disks, value = payload
        return [(-upper_rank(disk_upper(d, value)), node, d.index, 2, (d, value))
                for d in disks]  # fmt: skip
    disk, value = payload
    return [(-rank(disk_exact(disk, value)), node, slot, 3, disk)]


def best_first(
    fitting: Sequence[Disk],
    nodes: Sequence[Node],
    node_value: NodeValue,
    disk_upper: DiskValue,
    disk_exact: DiskValue,
) -> Disk | None:
    """The fitting disk with the highest exact figure (ties by (node, disk)), found by
    best-first branch and bound.

    `node_value(node)` must not exceed `node.network_bw`; it is computed only for nodes
    whose static bound min(network_bw, best W of its fitting disks) can still win, and it
    bounds all their disks. `disk_upper(disk, node_value)` and `disk_exact(disk,
    node_value)` must satisfy exact <= upper <= min(node_value, disk.write_bw). A heap
    orders every pending item by (-rank(bound), node, disk, stage): a node's static bound
    (stage 0) is replaced by its value (stage 1), which is split into its disks' bounds
    (stage 2), each replaced by the exact figure (stage 3); the first exact figure popped is
    the answer, because every other item's bound ranks lower, or equal with a later
    (node, disk) key.
    """
    if len(fitting) <= DIRECT_LIMIT:
        return direct_best(fitting, nodes, node_value, disk_upper, disk_exact)
    heap: list[tuple[float, int, int, int, Any]] = []
    # `fitting` is in (node, disk) order: groupby keeps each node's disks together.
    for index, members in groupby(fitting, attrgetter("node")):
        disks = list(members)
        top = min(nodes[index].network_bw, max(d.write_bw for d in disks))
        heap.append((-upper_rank(top), index, -1, 0, disks))
    heapq.heapify(heap)
    while heap:
        _, node, slot, stage, payload = heapq.heappop(heap)
        if stage == 3:
            return payload
        for item in _refine(node, slot, stage, payload, nodes, node_value, disk_upper,
                            disk_exact):  # fmt: skip
            heapq.heappush(heap, item)
    return None


def direct_best(
    fitting: Sequence[Disk],
    nodes: Sequence[Node],
    node_value: NodeValue,
    disk_upper: DiskValue,
    disk_exact: DiskValue,
    fits: Callable[[Disk], bool] | None = None,
) -> Disk | None:
    """best_first's answer by walking the disks in order: cheaper than the heap on small
    sites. `fitting` is in (node, disk) order, so keeping the first maximum breaks ties
    alike; a disk whose upper bound cannot beat that maximum is not evaluated (on a busy
    node the link's share is the figure of every disk, so the first disk decides). With
    `fits`, `fitting` may hold disks that do not fit (a small site's up disks): each is
    tested only once its bound could win, so on a busy site the others' peak usage is
    never read."""
    best: Disk | None = None
    best_rank = float("-inf")
    node_index, value = -1, 0.0
    last_upper = last_rank = float("nan")  # disks of a node mostly share their bound
    for disk in fitting:
        if disk.node != node_index:
            node_index, value = disk.node, node_value(nodes[disk.node])
        if best is not None:
            upper = disk_upper(disk, value)
            if upper != last_upper:
                last_upper, last_rank = upper, upper_rank(upper)
            if last_rank <= best_rank:
                continue
        if fits is not None and not fits(disk):
            continue
        figure = rank(disk_exact(disk, value))
        if figure > best_rank:
            best, best_rank = disk, figure
    return best


def bounded_max(
    fitting: Sequence[Disk],
    upper: Callable[[Disk], float],
    exact: Callable[[Disk], float],
    slack: float = BOUND_SLACK,
) -> Disk | None:
    """The disk with the highest rank(exact(disk)), ties to the first in `fitting` (which
    `place_parts` gives in (node, disk) order), given a cheap `upper(disk) >= exact(disk)`.

    Exact values are computed in descending bound order until no remaining bound can beat
    (or tie earlier than) the best one found. `slack` may be 0 when the bound is computed
    so that it can never round below the exact value.
    """
    bounds = list(map(upper, fitting))
    # A stable sort on the raw bounds keeps list order among equal ones.
    order = sorted(range(len(fitting)), key=bounds.__getitem__, reverse=True)
    best = -1
    best_rank = last_bound = last_rank = 0.0
    for i in order:
        if best >= 0:
            if bounds[i] != last_bound:  # equal bounds are common: round each value once
                last_bound = bounds[i]
                last_rank = upper_rank(last_bound, slack)
            if last_rank < best_rank:
                break  # the bounds only decrease from here
            if last_rank == best_rank and i > best:
                continue  # at best a later tie; an earlier disk may still follow
        value = rank(exact(fitting[i]))
        if best < 0 or value > best_rank or (value == best_rank and i < best):
            best, best_rank = i, value
    return fitting[best] if best >= 0 else None


def upper_rank(bound: float, slack: float = BOUND_SLACK) -> float:
    """The rank of an upper bound, raised by `slack` first: never below the rank of the
    figure it bounds, whatever rounding either went through."""
    return rank(bound + abs(bound) * slack)
