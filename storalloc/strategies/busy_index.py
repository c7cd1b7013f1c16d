"""worst_case's index of busy nodes: the order in which `lazy_best` admits nodes, with a
bound per node tight enough that a busy site reads one or two nodes per decision.

The static order (`node_order`) bounds a node by min(link, best disk W). On a busy site
every node's figure is far below that, so every node gets read. Here a node is bounded by
what any window starting at s must share: the c reservations present at s all overlap
it, and the node stays busy until R, so its figure is at most

    B * (1 - u * c / (c + 1)),   u = min(1, (R - s) / T)

which is B / (c + 1) for a window inside the busy run. (c, R) are read at the scheduler's
now t0 and stay bounds for any start s with t0 <= s < E (E: the node's first reservation
end after t0) until the node's bookings change: reservations present at t0 are still
present at s, and the run [t0, R) covers [s, R). The cluster's change log says which nodes
to read again (a lease's end is a change, at the instant it ends). A start at or past the
first E of any node (a trial start in the future) is not covered: the static order serves.

Nodes come out in three sorted streams merged into one: idle ones (c = 0) by their static
bound, busy ones whose run covers the window by B / (c + 1), and the few busy ones whose
run ends inside the window by their computed bound.

The same bound holds for a disk alone, with its own (c, R) and W for B: worst_case uses it
(`disk_bound`) where the link does not cap the disks, so that on a filling site the partly
busy disks wait behind the idle ones instead of each getting an exact figure.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

from storalloc.core.cluster import Disk
from storalloc.strategies.bandwidth import upper_rank
from storalloc.strategies.base import ClusterView
from storalloc.strategies.node_order import NodeOrder

#: (key, node index, the node's disks in the view, their best write_bw), as in NodeOrder.
Admission = tuple[float, int, list, float]


class BusyIndex:
    """Per node (c, R, E) read at the scheduler's now, and the sorted streams built from
    them, for one static order (one list of up disks)."""

    def __init__(self, order: NodeOrder, view: ClusterView) -> None:
        self.order = order
        self._static = {item[1]: item for item in order}
        self._nodes = view.nodes
        self._state: dict[int, tuple[int, float, float]] = {}  # c, R, E
        # The admission streams hold the admissions themselves, yielded as they stand.
        self._idle: list[Admission] = []  # the static items of idle nodes
        self._long: list[Admission] = []  # keyed by -rank of min(B / (c + 1), best W), c >= 1
        self._runs: list[tuple[float, int]] = []  # (R, node), c >= 1
        self._ends: list[tuple[float, int]] = []  # (E, node)
        # a node's _long entry per c: a node's c mostly moves by one, back and forth
        self._long_items: dict[int, dict[int, Admission]] = {i: {} for i in self._static}
        # (c, R) of disks, read when first asked for after their node's last change
        self._disks: dict[int, dict[int, tuple[int, float]]] = {}
        self._now = 0.0

    def order_nodes(self) -> list[int]:
        return list(self._static)

    def covers(self, start: float) -> bool:
        """Whether no node has a reservation ending by `start` that was present when read."""
        return not self._ends or start < self._ends[0][0]

    def refresh(self, nodes: Iterable[int], now: float) -> None:
        """Read (c, R, E) of `nodes` again, at `now`."""
        self._now = now
        for index in set(nodes):
            if index in self._static:
                self._disks.pop(index, None)
                self._read(index, now)

    def disk_bound(self, disk: Disk, start: float, duration: float) -> float:
        """A bound on the worst_case figure of `disk` alone, W * (1 - u * c / (c + 1)) from
        the disk's own (c, R), for a window that `covers` accepts: where the link does not
        cap the disks (a filling site), it tells the partly busy disks from the idle ones
        without a figure for each. A disk's first end after its node's read is no earlier
        than the node's E, so `covers` vouches for the disk too."""
        known = self._disks.setdefault(disk.node, {})
        state = known.get(disk.index)
        if state is None:
            count, run_end, _ = disk.usage.outlook(self._now)
            state = known[disk.index] = (count, run_end)
        count, run_end = state
        if count == 0 or run_end <= start:
            return disk.write_bw
        covered = (run_end - start) / duration
        share = (covered if covered < 1.0 else 1.0) * count / (count + 1)
        return disk.write_bw * (1.0 - share)

    def _read(self, index: int, now: float) -> None:
        # Only the entries that change move: R mostly stays, and E often does. A node has
        # an entry in _ends once read, in _idle while c = 0, in _long and _runs while c > 0.
        count, run_end, next_end = state = self._nodes[index].usage.outlook(now)
        old = self._state.get(index)
        self._state[index] = state
        if old is None:
            old_count, old_run, old_end = -1, None, None
        else:
            old_count, old_run, old_end = old
        if next_end != old_end:
            _move(self._ends, None if old is None else (old_end, index), (next_end, index))
        if count == old_count and (count == 0 or run_end == old_run):
            return
        if (count == 0) != (old_count == 0):
            item = self._static[index]
            _move(self._idle, item if old_count == 0 else None, item if count == 0 else None)
        if count != old_count:
            was = self._long_item(index, old_count) if old_count > 0 else None
            _move(self._long, was, self._long_item(index, count) if count > 0 else None)
        was = (old_run, index) if old_count > 0 else None
        run = (run_end, index) if count > 0 else None
        if was != run:
            _move(self._runs, was, run)

    def _long_item(self, index: int, count: int) -> Admission:
        """The node's admission bounded by B / (count + 1), rounded once per count."""
        known = self._long_items[index]
        item = known.get(count)
        if item is None:
            _, _, members, best_w = self._static[index]
            bound = self._nodes[index].network_bw / (count + 1)
            item = known[count] = (-upper_rank(min(bound, best_w)), index, members, best_w)
        return item

    def admissions(self, start: float, end: float) -> Iterator[Admission]:
        """Every node of the order, best bound first (ties by node index), for a window
        that `covers` accepts."""
        # A decision mostly reads a few nodes of the long stream, so it is merged by hand
        # with the others (heapq.merge's set-up cost more than the reading). Each node is
        # in one stream, so comparing two admissions never reaches their disk lists.
        few = self._few(start, end)
        head = next(few, None)
        state = self._state
        for item in self._long:
            if state[item[1]][1] < end:
                continue  # its run ends inside the window: in `few`, bounded tighter
            while head is not None and head < item:
                yield head
                head = next(few, None)
            yield item
        while head is not None:
            yield head
            head = next(few, None)

    def _few(self, start: float, end: float) -> Iterator[Admission]:
        """The admissions of the idle nodes and of those whose run ends inside the window,
        in order: the idle ones are most nodes of a quiet site, read where they stand."""
        duration = end - start
        short = []
        static, state, nodes = self._static, self._state, self._nodes
        for run_end, index in self._runs[: bisect_left(self._runs, (end, -1))]:
            item = static[index]
            if run_end <= start:  # idle by then: the static bound is all there is
                short.append(item)
                continue
            count = state[index][0]
            share = (run_end - start) / duration * count / (count + 1)
            bound = nodes[index].network_bw * (1.0 - share)
            best_w = item[3]  # min by hand: CPython 3.11's min() parses keywords per call
            top = best_w if best_w < bound else bound
            short.append((-upper_rank(top), index, item[2], best_w))
        short.sort()
        idle, i, j = self._idle, 0, 0
        while i < len(idle) or j < len(short):
            if j == len(short) or (i < len(idle) and idle[i] < short[j]):
                yield idle[i]
                i += 1
            else:
                yield short[j]
                j += 1


def _move(items: list, old: tuple | None, new: tuple | None) -> None:
    """Replace `old` by `new` in the sorted list `items` (None: absent)."""
    if old is not None:
        del items[bisect_left(items, old)]
    if new is not None:
        insort(items, new)


class BusyOrder:
    """worst_case's admission order for a window: the BusyIndex where it covers the
    window, the static order elsewhere (and for views without a clock or change log)."""

    def __init__(self) -> None:
        self._index: BusyIndex | None = None
        self._seq = 0
        #: The index when it served the last call of `admissions`, else None.
        self.serving: BusyIndex | None = None

    def admissions(
        self, view: ClusterView, order: NodeOrder, start: float, end: float
    ) -> Iterable[Admission]:
        self.serving = None
        clock = getattr(view, "clock", None)
        changes_since = getattr(view, "changes_since", None)
        if clock is None or changes_since is None:
            return order
        now = clock.now()
        index = self._index
        if index is None or index.order is not order:
            index = self._index = BusyIndex(order, view)
            self._seq, _ = changes_since(0)
            index.refresh(index.order_nodes(), now)
        else:
            self._seq, changed = changes_since(self._seq)
            index.refresh(index.order_nodes() if changed is None else changed, now)
        if start < now or not index.covers(start):
            return order
        self.serving = index
        return index.admissions(start, end)
