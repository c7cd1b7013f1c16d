"""The storage the orchestrator knows: nodes, their disks, and what is booked on them.

`Cluster` is owned and mutated by the scheduler only. Strategies receive it typed as the
read-only `ClusterView` protocol (see `storalloc.strategies.base`) and only query it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from storalloc.core.capacity import EPSILON, DiskUsage

#: Booking changes remembered for `Cluster.changes_since`.
CHANGE_LOG = 4096


@dataclass(slots=True, eq=False)
class Disk:
    """One disk of a storage node, with its usage over time."""

    node: int  # global node index
    index: int  # disk index within its node
    capacity: float  # GB
    write_bw: float  # GBps
    read_bw: float  # GBps
    model: str = ""
    path: str = ""
    usage: DiskUsage = field(default_factory=DiskUsage)

    @property
    def key(self) -> tuple[int, int]:
        return self.node, self.index

    def free(self, start: float, end: float) -> float:
        """GB that stay free during the whole of [start, end)."""
        return self.capacity - self.usage.peak(start, end)

    def fits(self, size: float, start: float, end: float) -> bool:
        """Whether `size` GB can be booked on [start, end) (from now on)."""
        # Fast paths: most disks are far from full. What is held bounds every instant from
        # now on, in O(1); the all-time peak is cached until the next booking.
        if self.capacity - self.usage.held + EPSILON >= size:
            return True
        if self.capacity - self.usage.peak_all() + EPSILON >= size:
            return True
        return self.capacity - self.usage.peak(start, end) + EPSILON >= size


@dataclass(slots=True, eq=False)
class Node:
    """A storage node (one server process), its disks and the aggregate of their bookings."""

    index: int  # global, stable for the orchestrator's lifetime
    name: str  # stable name, e.g. "ault14:0"
    hostname: str
    network_bw: float  # GBps
    disks: list[Disk]
    # Every booking on any of its disks, counted but with no GB: the bandwidth strategies
    # read the node's overlaps and busy time, nothing reads its GB (the sum of its disks'),
    # and a count-only range update skips half the work on the busiest structure.
    usage: DiskUsage = field(default_factory=DiskUsage)
    up: bool = True
    drained: bool = False  # an admin closed it to new placements; its leases go on

    @property
    def open(self) -> bool:
        """Whether new placements may go to this node."""
        return self.up and not self.drained


DISK_FIELDS = ("capacity", "write_bw", "read_bw", "model", "path")


def describe_disks(disks: Iterable[Any]) -> list[dict[str, Any]]:
    """Disk descriptions as they travel (register message, state file), from any objects
    with the DISK_FIELDS attributes (config disks, cluster disks)."""
    return [{name: getattr(d, name) for name in DISK_FIELDS} for d in disks]


def build_node(
    name: str,
    hostname: str,
    network_bw: float,
    disks: Iterable[Mapping[str, Any]],
    *,
    up: bool = True,
) -> Node:
    """A node from disk descriptions; its global index is given when it is added."""
    members = [
        Disk(node=-1, index=i, capacity=float(d["capacity"]), write_bw=float(d["write_bw"]),
             read_bw=float(d["read_bw"]), model=str(d.get("model") or ""),
             path=str(d.get("path") or ""))
        for i, d in enumerate(disks)
    ]  # fmt: skip
    return Node(index=-1, name=name, hostname=hostname, network_bw=float(network_bw),
                disks=members, up=up)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Extent:
    """One part of a placement: `size` GB on disk `disk` of node `node`."""

    node: int
    disk: int
    size: float


class Cluster:
    """Nodes and disks, indexed by global node number, with booking of extents over time."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._by_name: dict[str, int] = {}
        self._capacities: list[float] | None = None
        self._up_disks: list[Disk] | None = None  # rebuilt when a node joins or changes state
        # capacity - GB held, of each up disk, in up_disks() order: kept current by
        # book/unbook/expire so that fit tests need no call per disk (see rooms()).
        self._rooms: list[float] | None = None
        self._slots: dict[tuple[int, int], int] = {}
        # The last CHANGE_LOG nodes whose bookings changed, by sequence number: an index
        # kept by a strategy catches up on what changed since it last looked.
        self._changes = [0] * CHANGE_LOG
        self._change_seq = 0
        # The scheduler's clock (set by the scheduler): when "now" is for indexes that
        # bound what any window from now on can see.
        self.clock: Any = None

    def node_index(self, name: str) -> int | None:
        return self._by_name.get(name)

    def add_node(self, node: Node) -> Node:
        """Register a node; a known name keeps its index (and its bookings stay valid only
        if its disks are unchanged, which the caller checks)."""
        self._capacities = self._up_disks = self._rooms = None
        known = self._by_name.get(node.name)
        if known is None:
            node.index = len(self.nodes)
            self.nodes.append(node)
            self._by_name[node.name] = node.index
        else:
            node.index = known
            self.nodes[known] = node
        for disk in node.disks:
            disk.node = node.index
        return node

    def forget(self, index: int) -> None:
        """An admin removed the node: its number stays taken (numbers are stable in logs
        and stores) but it holds no disk and its name is free again."""
        node = self.nodes[index]
        self._by_name.pop(node.name, None)
        self.nodes[index] = Node(index, "", node.hostname, 0.0, [], up=False)
        self._capacities = self._up_disks = None

    def disk(self, node: int, disk: int) -> Disk:
        return self.nodes[node].disks[disk]

    def set_up(self, index: int, up: bool) -> None:
        """Mark a node up (it may take new placements) or down."""
        self.nodes[index].up = up
        self._up_disks = self._rooms = None

    def set_drained(self, index: int, drained: bool) -> None:
        """Close a node to new placements (an admin's drain), or open it again."""
        self.nodes[index].drained = drained
        self._up_disks = self._rooms = None

    def up_disks(self) -> list[Disk]:
        """Every disk a new placement may use (up, not drained), in (node, disk) order.
        Do not modify the list."""
        if self._up_disks is None:
            self._up_disks = [d for node in self.nodes if node.open for d in node.disks]
        return self._up_disks

    def rooms(self) -> list[float]:
        """GB free at every instant from now on (capacity - GB held) of each disk of
        up_disks(), in the same order: a part no larger fits there whatever its window.
        Bookings must go through book/unbook/expire, which keep it current. Do not modify
        the list."""
        if self._rooms is None:
            disks = self.up_disks()
            self._rooms = [d.capacity - d.usage.held for d in disks]
            self._slots = {d.key: i for i, d in enumerate(disks)}
        return self._rooms

    def changes_since(self, seq: int) -> tuple[int, list[int] | None]:
        """(current sequence number, the nodes whose bookings changed since `seq`, in
        order, repeats included), or None instead of the list when more than CHANGE_LOG
        changes happened since (the caller then looks at every node)."""
        now = self._change_seq
        if now - seq > CHANGE_LOG or seq > now:
            return now, None
        log = self._changes
        return now, [log[i % CHANGE_LOG] for i in range(seq, now)]

    def _changed(self, disk: Disk) -> None:
        self._changes[self._change_seq % CHANGE_LOG] = disk.node
        self._change_seq += 1
        if self._rooms is not None:
            slot = self._slots.get(disk.key)
            if slot is not None:
                self._rooms[slot] = disk.capacity - disk.usage.held

    def book(self, extents: Iterable[Extent], start: float, end: float) -> None:
        for ext in extents:
            node = self.nodes[ext.node]
            disk = node.disks[ext.disk]
            disk.usage.add(start, end, ext.size)
            node.usage.add(start, end, 0.0)
            self._changed(disk)

    def unbook(self, extents: Iterable[Extent], start: float, end: float) -> None:
        for ext in extents:
            node = self.nodes[ext.node]
            disk = node.disks[ext.disk]
            disk.usage.remove(start, end, ext.size)
            node.usage.remove(start, end, 0.0)
            self._changed(disk)

    def expire(self, extents: Iterable[Extent], start: float, end: float, now: float) -> None:
        """`unbook` for a reservation that is over (end <= now): cheaper, same effect on
        every instant from `now` on (see DiskUsage.expire)."""
        for ext in extents:
            node = self.nodes[ext.node]
            disk = node.disks[ext.disk]
            disk.usage.expire(start, end, ext.size, now)
            node.usage.expire(start, end, 0.0, now)
            self._changed(disk)

    def capacities(self) -> list[float]:
        """Capacity of every known disk, up or down, largest first (cached: nodes rarely
        change; admission reads the largest for every request)."""
        if self._capacities is None:
            self._capacities = sorted((d.capacity for n in self.nodes for d in n.disks),
                                      reverse=True)  # fmt: skip
        return self._capacities
