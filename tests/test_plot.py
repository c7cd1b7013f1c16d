"""Replay plots: per-bin aggregation of step series, and the figure's panels and title."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storalloc.config.loader import load_system
from storalloc.sim.replay import make_node, new_simulation
from storalloc.sim.report import build_report
from storalloc.sim.series import bin_series, pad, step_series
from storalloc.sim.traces.synthetic import generate
from storalloc.strategies.first_fit import FirstFit

DATA = Path(__file__).parent / "data" / "sim"


def test_step_series_keeps_the_last_value_of_an_instant():
    assert step_series([(5.0, 2.0), (0.0, 1.0), (5.0, -1.0)]) == ([0.0, 5.0], [1.0, 2.0])


def test_bins_of_a_step_hand_computed():
    # 1 GB on [0, 5), 3 GB on [5, 10): two bins of 5 s, then one of 10 s over [0, 10).
    series = ([0.0, 5.0], [1.0, 3.0])
    binned = bin_series(series, (0.0, 10.0), 2)
    assert binned.edges == [0.0, 5.0, 10.0]
    assert binned.mean == [1.0, 3.0] and binned.peak == [1.0, 3.0]
    one = bin_series(series, (0.0, 10.0), 1)
    assert one.mean == [2.0] and one.peak == [3.0]


pieces = st.lists(st.tuples(st.integers(0, 99), st.integers(0, 50)), min_size=1, max_size=40)


@given(pieces, st.integers(1, 17))
def test_bins_match_brute_force(changes, bins):
    times = sorted({float(t) for t, _ in changes})
    values = [float(v) for _, v in changes[: len(times)]]
    series = pad((times, values), (0.0, 100.0))
    binned = bin_series(series, (0.0, 100.0), bins)

    def value_at(t: float) -> float:
        index = max(i for i, start in enumerate(series[0]) if start <= t)
        return series[1][index]

    for b in range(bins):
        lo, hi = binned.edges[b], binned.edges[b + 1]
        # The series is constant between integer instants: sample each unit piece.
        points = sorted({lo, *[float(t) for t in range(int(lo) + 1, int(hi) + 1) if t < hi]})
        bounds = [*points, hi]
        area = sum(value_at(a) * (z - a) for a, z in itertools.pairwise(bounds))
        assert binned.mean[b] == pytest.approx(area / (hi - lo))
        assert binned.peak[b] == max(value_at(p) for p in points)


def replay(system: str, count: int):
    nodes = [make_node(f"{n.hostname}:{i}", n)
             for i, n in enumerate(load_system(DATA / system).nodes)]  # fmt: skip
    sim = new_simulation(nodes, FirstFit(), block_size=0.0)
    sim.replay(generate(count, seed=5, mean_interarrival=60.0))
    return sim


def test_dense_trace_draws_one_panel_per_node_with_capacity():
    pytest.importorskip("matplotlib")
    from storalloc.sim.plot import BINS, draw_replay, plot_title, require_matplotlib

    sim = replay("pair.yml", 3000)  # two nodes, thousands of changes each
    jobs = [*sim.finished, *sim.scheduler.jobs.values()]
    report = build_report(sim.scheduler, sim.finished)
    title = plot_title("pair", "first_fit", report)
    fig = draw_replay(jobs, sim.scheduler.cluster, title)
    try:
        axes = fig.get_axes()
        assert len(axes) == 3  # left, right, waiting
        for ax, capacity, name in zip(axes, (160.0, 150.0), ("left:0", "right:1"), strict=False):
            lines = {tuple(line.get_ydata()): line for line in ax.get_lines()}
            assert (capacity, capacity) in lines  # the capacity line
            used = [ln for ln in ax.get_lines() if ln.get_label() == "mean per bin"]
            assert len(used) == 1 and len(used[0].get_xdata()) == BINS + 1  # aggregated
            assert name in ax.get_ylabel()
            assert ax.get_ylim()[1] > capacity
        assert fig._suptitle.get_text() == title
        assert "pair: 2 node(s), 310 GB" in title and "first_fit" in title
    finally:
        require_matplotlib().close(fig)


def test_many_nodes_are_stacked_under_the_site_capacity(tmp_path):
    pytest.importorskip("matplotlib")
    from storalloc.sim.plot import SMALL_MULTIPLES, draw_replay, plot_replay, require_matplotlib

    node = """  - hostname: n{i}
    ipv4: 127.0.0.1
    network: loopback
    network_bw: 1.0
    disks:
      - {{model: m, capacity: 50, write_bw: 1.0, read_bw: 1.0, path: /dev/fake0}}
"""
    system = tmp_path / "many.yml"
    system.write_text("nodes:\n" + "".join(node.format(i=i) for i in range(SMALL_MULTIPLES + 2)))
    nodes = [make_node(f"{n.hostname}:{i}", n) for i, n in enumerate(load_system(system).nodes)]
    sim = new_simulation(nodes, FirstFit(), block_size=0.0)
    sim.replay(generate(400, seed=2, mean_interarrival=60.0))
    jobs = [*sim.finished, *sim.scheduler.jobs.values()]
    fig = draw_replay(jobs, sim.scheduler.cluster, "t")
    try:
        stacked, _ = fig.get_axes()  # one stacked panel, and the waiting panel
        total = 50.0 * (SMALL_MULTIPLES + 2)
        assert (total, total) in {tuple(line.get_ydata()) for line in stacked.get_lines()}
        labels = stacked.get_legend_handles_labels()[1]
        assert "n0:0" in labels and f"n{SMALL_MULTIPLES + 1}:{SMALL_MULTIPLES + 1}" in labels
    finally:
        require_matplotlib().close(fig)
    path = tmp_path / "many.png"
    plot_replay(jobs, sim.scheduler.cluster, path, "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
