"""Best-first search over nodes in order of their static bound, for the bandwidth
strategies at site scale: a decision reads only the nodes that can still win.

`best_first` (in `bandwidth`) starts from the list of every fitting disk, which costs one fit
test per disk and one figure per node. Here nodes enter the search lazily, best static bound
first (min(network_bw, best write_bw of its disks), which bounds every figure of the
node): a node's figure is computed only once its static bound could beat or tie the best
item found so far, and its disks are tested for fit only once that figure could. On a
quiet site the first node decides; where every node is busy during the window, every
node's figure is needed (still no fit test or figure for the disks of nodes that lose).
Within a node, a disk is tested for fit only if its bound can beat the best disk found.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from storalloc.core.cluster import Disk, Node
from storalloc.strategies.bandwidth import DiskValue, NodeValue, rank, upper_rank
from storalloc.strategies.base import ClusterView, Decision

#: (-rank(static bound), node index, the node's disks in the view, their best write_bw),
#: best first.
NodeOrder = list[tuple[float, int, list[Disk], float]]

#: A heap key after every real one.
_LAST = (float("inf"), 0, 0)


class OrderCache:
    """The node order of the last view's disk list: `Cluster.up_disks()` returns the same
    list object until a node joins or changes state, so the order is rebuilt only then."""

    __slots__ = ("_disks", "_order")

    def __init__(self) -> None:
        self._disks: Sequence[Disk] | None = None
        self._order: NodeOrder = []

    def get(self, view: ClusterView) -> NodeOrder:
        disks = view.up_disks()
        if disks is not self._disks:
            self._order = node_order(view.nodes, disks)
            self._disks = disks
        return self._order


def node_order(nodes: Sequence[Node], disks: Sequence[Disk]) -> NodeOrder:
    groups: dict[int, list[Disk]] = {}
    for disk in disks:
        groups.setdefault(disk.node, []).append(disk)
    order = []
    for i, members in groups.items():
        best_w = max(d.write_bw for d in members)
        order.append((-upper_rank(min(nodes[i].network_bw, best_w)), i, members, best_w))
    order.sort(key=lambda item: item[:2])
    return order


def lazy_best(
    order: Iterable[tuple[float, int, list[Disk], float]],
    nodes: Sequence[Node],
    decision: Decision,
    size: float,
    node_value: NodeValue,
    disk_upper: DiskValue,
    disk_exact: DiskValue,
) -> Disk | None:
    """The disk `best_first` would return among the disks of `order` where `size` fits,
    with the same contract for the three figures, reading nodes lazily. `order` yields
    (-rank(upper bound of the node's figure), node index, its disks, their best W) in
    increasing order: the static NodeOrder, or worst_case's BusyIndex. A popped node is
    searched at once (`_node_best`): its best exact figure and its deferred disks stay."""
    heap: list[tuple[float, int, int, int, Any]] = []
    push, pop = heapq.heappush, heapq.heappop
    fits = decision.fit_test(size)
    admissions = iter(order)
    nxt = next(admissions, None)
    while True:
        nxt = _admit_nodes(heap, nxt, admissions, nodes, node_value)
        if not heap:
            return None
        floor, node, slot, stage, payload = pop(heap)
        if stage == 3:
            return payload
        if stage == 2:
            disk, value = payload
            push(heap, (-rank(disk_exact(disk, value)), node, slot, 3, disk))
            continue
        frontier = _frontier(heap, nxt)
        key, disk = _node_best(node, *payload, floor, frontier, heap, fits, disk_upper,
                               disk_exact)  # fmt: skip
        if disk is not None:
            if (key, node, disk.index) < frontier:
                return disk  # nothing pending or to come can rank before it
            push(heap, (key, node, disk.index, 3, disk))


def _admit_nodes(
    heap: list[tuple[float, int, int, int, Any]], nxt: tuple | None,
    admissions: Iterator[tuple[float, int, list[Disk], float]], nodes: Sequence[Node],
    node_value: NodeValue,
) -> tuple | None:
    """Push every node whose key comes before the best pending item (popped next), with
    its figure; return the first node still to come."""
    while nxt is not None:
        if heap:
            head = heap[0]
            if nxt[0] > head[0] or (nxt[0] == head[0] and nxt[1] >= head[1]):
                break
        _, index, members, best_w = nxt
        nxt = next(admissions, None)
        value = node_value(nodes[index])
        top = best_w if best_w < value else value  # min(value, best_w), without its call
        heapq.heappush(heap, (-upper_rank(top), index, -1, 1, (members, value, top)))
    return nxt


def _frontier(heap: list, nxt: tuple | None) -> tuple[float, int, int]:
    """A key at or before everything still pending or to be admitted."""
    frontier = heap[0][:3] if heap else _LAST
    if nxt is not None and (nxt[0], nxt[1], -2) < frontier:
        return nxt[0], nxt[1], -2
    return frontier


def _node_best(
    node: int, members: list[Disk], value: float, top: float, floor: float,
    frontier: tuple[float, int, int], heap: list[tuple[float, int, int, int, Any]],
    fits: Callable[[Disk], bool], disk_upper: DiskValue, disk_exact: DiskValue,
) -> tuple[float, Disk | None]:
    """(-rank, disk) of the best exact figure among the fitting disks of a popped node whose
    bound ranks before `frontier` (ties by disk index); the fitting disks ranking after it
    are deferred to `heap`, as best_first would leave them. A disk whose bound cannot beat
    the best figure found is not even tested for fit: on a busy node the link's share caps
    every disk, so the first disk to reach it ends the search. `floor` is the node's key,
    -upper_rank(top): no disk of the node ranks before it."""
    best: Disk | None = None
    best_key = _LAST[0]
    edge = frontier[0]
    # The disks of a node mostly share one bound, often the node's own: round it once.
    last_upper, last_key = top, floor
    for disk in members:
        upper = disk_upper(disk, value)
        if upper != last_upper:
            last_upper, last_key = upper, -upper_rank(upper)
        key = last_key
        if key > best_key or (key == best_key and best is not None and disk.index > best.index):
            continue
        if not fits(disk):
            continue
        if key >= edge and (key, node, disk.index) > frontier:
            heapq.heappush(heap, (key, node, disk.index, 2, (disk, value)))
            continue
        exact = -rank(disk_exact(disk, value))
        if exact < best_key or (exact == best_key and (best is None or disk.index < best.index)):
            best, best_key = disk, exact
            if exact <= floor:
                break  # the later disks could only tie it
    return best_key, best
