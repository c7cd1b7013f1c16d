"""The indexes behind the strategies at site scale: Cluster.rooms() stays equal to a fresh
computation, and best_first's heap (used above DIRECT_LIMIT fitting disks) picks exactly
the disk that evaluating every disk picks."""

from __future__ import annotations

import random

import pytest

from storalloc.core.cluster import Cluster, Disk, Extent, Node, build_node
from storalloc.registry import make_strategy
from storalloc.sim.replay import new_simulation
from storalloc.sim.traces.base import TraceRecord
from storalloc.strategies import bandwidth, busy_index, node_order, worst_case
from storalloc.strategies.base import Decision, PlacementRequest


def random_cluster(rng: random.Random, nodes: int, disks: int) -> Cluster:
    cluster = Cluster()
    for n in range(nodes):
        members = [Disk(n, i, rng.choice([50.0, 100.0]), rng.choice([0.5, 1.0, 2.93]), 1.0)
                   for i in range(disks)]  # fmt: skip
        cluster.add_node(Node(n, f"n{n}:0", f"n{n}", rng.choice([0.5, 2.0, 12.5]), members))
    return cluster


def random_load(rng: random.Random, cluster: Cluster, count: int) -> list:
    booked = []
    for _ in range(count):
        disk = rng.choice(cluster.up_disks())
        start = rng.randrange(0, 200) * 1.0
        end = start + rng.randrange(1, 100)
        size = rng.choice([1.0, 5.0, 20.0])
        if disk.fits(size, start, end):
            ext = [Extent(disk.node, disk.index, size)]
            cluster.book(ext, start, end)
            booked.append((ext, start, end))
    return booked


def test_rooms_follow_bookings_and_node_states() -> None:
    rng = random.Random(3)
    cluster = random_cluster(rng, 6, 4)
    cluster.rooms()  # built now, so that every later change must update it in place
    booked = random_load(rng, cluster, 300)
    for ext, start, end in booked[::3]:
        cluster.unbook(ext, start, end)
    cluster.set_up(2, False)
    cluster.set_drained(4, True)
    expected = [d.capacity - d.usage.held for d in cluster.up_disks()]
    assert cluster.rooms() == expected
    assert len(expected) == 16  # two of the six nodes closed to placements
    random_load(rng, cluster, 100)
    rooms = cluster.rooms()
    assert rooms == [d.capacity - d.usage.held for d in cluster.up_disks()]
    # A room is never more than what the all-time peak leaves: a part that fits the room
    # fits every window.
    assert all(room <= d.capacity - d.usage.peak_all() + 1e-9
               for room, d in zip(rooms, cluster.up_disks(), strict=True))  # fmt: skip


@pytest.mark.parametrize("name", ["worst_case", "best_bandwidth"])
@pytest.mark.parametrize("seed", range(12))
def test_heap_search_agrees_with_evaluating_every_disk(
    name: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12 nodes x 6 disks (72 > DIRECT_LIMIT) under random load: the heap searches
    (lazy_best for worst_case, best_first for best_bandwidth) pick what evaluating every
    disk picks."""
    rng = random.Random(seed)
    cluster = random_cluster(rng, 12, 6)
    random_load(rng, cluster, rng.choice([50, 400, 1500]))
    strategy = make_strategy(name)
    requests = [
        PlacementRequest(i, tuple(rng.choice([1.0, 4.0, 30.0]) for _ in range(rng.randint(1, 3))),
                         s, s + rng.randrange(1, 150))
        for i, s in enumerate(rng.randrange(0, 250) * 1.0 for _ in range(15))
    ]  # fmt: skip
    with_heap = [strategy.place(r, cluster) for r in requests]
    monkeypatch.setattr(bandwidth, "DIRECT_LIMIT", 10_000)
    monkeypatch.setattr(worst_case, "DIRECT_LIMIT", 10_000)
    direct = [strategy.place(r, cluster) for r in requests]
    assert with_heap == direct
    assert any(p is not None for p in direct)


def _replay_placements(records: list, block_size: float) -> tuple[list, int]:
    """(job id, start, extents) of every job of a worst_case replay on 12 nodes x 4 disks
    of three link speeds, and how many decisions the busy index served."""
    used = 0
    real = busy_index.BusyOrder.admissions

    def counting(self, view, order, start, end):
        nonlocal used
        result = real(self, view, order, start, end)
        used += result is not order
        return result

    nodes = [build_node(f"n{i}:0", f"n{i}", [2.0, 6.0, 12.5][i % 3],
                        [{"capacity": 400.0, "write_bw": [1.0, 2.93][i % 2], "read_bw": 3.0}] * 4)
             for i in range(12)]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(busy_index.BusyOrder, "admissions", counting)
        sim = new_simulation(nodes, make_strategy("worst_case"), block_size=block_size)
        sim.replay(records)
    jobs = sorted([*sim.finished, *sim.scheduler.jobs.values()], key=lambda j: j.id)
    return [(j.id, j.start, j.extents) for j in jobs], used


def _busy_records(rng: random.Random) -> list[TraceRecord]:
    records, now = [], 0.0
    for i in range(1500):
        now += rng.expovariate(1 / 20)
        later = now + rng.choice([0.0, 0.0, 0.0, rng.uniform(10, 3000)])
        records.append(TraceRecord(str(i), now, later if later > now else None,
                                   rng.choice([60.0, 600.0, 3600.0, 7200.0]),
                                   rng.choice([1.0, 20.0, 90.0, 300.0]), "u"))  # fmt: skip
    return records


@pytest.mark.parametrize("seed", range(4))
def test_busy_index_places_every_job_where_the_static_order_does(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay under load (queueing, later starts, split jobs, leases ending while others
    wait): worst_case with its busy index places every job where reading nodes in their
    static order places it, and the index served most decisions."""
    rng = random.Random(seed)
    records = _busy_records(rng)
    block = rng.choice([0.0, 100.0])
    indexed, used = _replay_placements(records, block)
    monkeypatch.setattr(busy_index.BusyOrder, "admissions",
                        lambda self, view, order, start, end: order)  # fmt: skip
    static, _ = _replay_placements(records, block)
    assert indexed == static
    assert used > len(records) // 2
    assert any(start is not None and start > rec.submit for (_, start, _), rec
               in zip(indexed, records, strict=True))  # some jobs waited or began later


@pytest.mark.parametrize("seed", range(30))
def test_lazy_best_picks_the_best_figure_whatever_the_bounds(seed: int) -> None:
    """lazy_best against evaluating every fitting disk, with made-up figures drawn from a
    few values (many ties, across nodes and within one) and node keys anywhere between the
    node's figure and its static bound: the search may defer disks, cut a node short or
    answer without the heap, never change the answer."""
    rng = random.Random(seed)
    nodes = []
    for n in range(rng.randint(1, 9)):
        members = [Disk(n, i, rng.choice([10.0, 100.0]), rng.choice([0.5, 1.0, 2.0]), 1.0)
                   for i in range(rng.randint(1, 6))]  # fmt: skip
        nodes.append(Node(n, f"n{n}:0", f"n{n}", rng.choice([0.5, 1.0, 4.0]), members))
    disks = [d for node in nodes for d in node.disks]
    fitting = [d for d in disks if d.capacity >= 50.0]
    decision = Decision(PlacementRequest(1, (50.0,), 0.0, 10.0))
    levels = [0.125, 0.25, 0.5, 1.0, 2.0]
    for _ in range(20):
        box = {n.index: rng.choice([v for v in levels if v <= n.network_bw]) for n in nodes}
        own = {d.key: rng.choice([v for v in levels if v <= d.write_bw]) for d in disks}
        order = []
        for key, index, members, best_w in node_order.node_order(nodes, disks):
            tight = -bandwidth.upper_rank(min(box[index], best_w))
            order.append((rng.choice([key, tight, (key + tight) / 2]), index, members, best_w))
        order.sort(key=lambda item: item[:2])
        chosen = node_order.lazy_best(
            order, nodes, decision, 50.0,
            lambda node: box[node.index],  # noqa: B023 (called before the next round)
            lambda disk, value: min(disk.write_bw, value),
            lambda disk, value: min(own[disk.key], value),  # noqa: B023
        )  # fmt: skip
        figure = {d.key: bandwidth.rank(min(own[d.key], box[d.node])) for d in fitting}
        assert chosen is min(fitting, default=None, key=lambda d: (-figure[d.key], d.key))


@pytest.mark.parametrize("seed", range(3))
def test_disk_bounds_of_the_busy_index_never_fall_below_the_figure(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a replay with leases ending, queueing and later starts, every bound the
    index gives for a disk (from a reading kept until its node changes) ranks at or above
    the disk's exact worst_case figure for that window."""
    real = busy_index.BusyIndex.disk_bound
    checked = 0

    def checking(self, disk, start, duration):
        nonlocal checked
        bound = real(self, disk, start, duration)
        window = Decision(PlacementRequest(0, (1.0,), start, start + duration))
        assert bandwidth.upper_rank(bound) >= bandwidth.rank(
            bandwidth.worst_case_disk(disk, window))
        checked += 1
        return bound

    monkeypatch.setattr(busy_index.BusyIndex, "disk_bound", checking)
    _replay_placements(_busy_records(random.Random(seed)), 0.0)
    assert checked > 1000


def test_disk_bounds_are_read_again_when_their_node_changes() -> None:
    """A disk's (c, R) is kept between decisions only until its node's bookings change."""
    cluster = random_cluster(random.Random(1), 2, 2)
    disk = cluster.nodes[0].disks[0]
    leases = [([Extent(0, 0, 1.0)], 0.0, 100.0), ([Extent(0, 0, 1.0)], 0.0, 80.0)]
    for lease in leases:
        cluster.book(*lease)
    index = busy_index.BusyIndex(node_order.node_order(cluster.nodes, cluster.up_disks()),
                                 cluster)  # fmt: skip
    index.refresh([0, 1], 0.0)
    window = Decision(PlacementRequest(0, (1.0,), 10.0, 110.0))
    assert index.disk_bound(disk, 10.0, 100.0) == pytest.approx(disk.write_bw * (1 - 0.9 * 2 / 3))
    cluster.unbook(*leases[1])
    index.refresh([0], 5.0)
    bound = index.disk_bound(disk, 10.0, 100.0)
    assert bound == pytest.approx(disk.write_bw * (1 - 0.9 / 2))
    assert bound >= bandwidth.worst_case_disk(disk, window)
    idle = cluster.nodes[1].disks[0]
    assert index.disk_bound(idle, 10.0, 100.0) == idle.write_bw


@pytest.mark.parametrize("seed", range(4))
def test_worst_case_figures_equal_the_general_figures(seed: int) -> None:
    """The shortcut figures of a decision's first part are the general ones to the bit
    (also for the light disks under a busy link, answered without reading their window),
    and a later part (pending parts count) gets the general ones."""
    rng = random.Random(seed)
    cluster = random_cluster(rng, 5, 4)
    random_load(rng, cluster, 400)
    checked = light = 0
    for _ in range(30):
        start = rng.randrange(0, 250) * 1.0
        decision = Decision(PlacementRequest(1, (1.0, 1.0), start, start + rng.randrange(1, 150)))
        box, capped = bandwidth.worst_case_figures(decision)
        for node in cluster.nodes:
            value = bandwidth.worst_case_box(node, decision)
            assert box(node) == value
            for disk in node.disks:
                exact = min(bandwidth.worst_case_disk(disk, decision), value)
                assert capped(disk, value) == exact
                checked += exact < value  # some disks are below their box
                light += disk.write_bw > value * (len(disk.usage) + 1) * 1.01  # not read
        decision.take(cluster.nodes[0].disks[0], 1.0)
        box, capped = bandwidth.worst_case_figures(decision)
        node, disk = cluster.nodes[0], cluster.nodes[0].disks[0]
        assert box(node) == bandwidth.worst_case_box(node, decision)
        assert capped(disk, 9.0) == min(bandwidth.worst_case_disk(disk, decision), 9.0)
    assert checked > 0
    assert light > 0


@pytest.mark.parametrize("seed", range(3))
def test_busy_index_streams_follow_its_readings(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh moves only the entries that changed: through a replay with leases ending,
    queueing and later starts, every stream stays what the readings (c, R, E) of the nodes
    give, and a window the index serves admits every node once, in (key, node) order."""
    real = busy_index.BusyOrder.admissions
    served = 0

    def checking(self, view, order, start, end):
        nonlocal served
        result = real(self, view, order, start, end)
        index = self._index
        if index is None:
            return result
        static, state = index._static, index._state
        long = [(-bandwidth.upper_rank(min(view.nodes[i].network_bw / (c + 1), static[i][3])), i)
                for i, (c, _, _) in state.items() if c > 0]  # fmt: skip
        assert [item[:2] for item in index._long] == sorted(long)
        assert index._idle == sorted(static[i] for i, (c, _, _) in state.items() if c == 0)
        assert index._runs == sorted((r, i) for i, (c, r, _) in state.items() if c > 0)
        assert index._ends == sorted((e, i) for i, (_, _, e) in state.items())
        assert sorted(state) == sorted(static)
        if self.serving is index:
            admitted = [item[:2] for item in index.admissions(start, end)]
            assert admitted == sorted(admitted)
            assert sorted(i for _, i in admitted) == sorted(static)
            served += 1
        return result

    monkeypatch.setattr(busy_index.BusyOrder, "admissions", checking)
    _replay_placements(_busy_records(random.Random(seed)), 0.0)
    assert served > 500
