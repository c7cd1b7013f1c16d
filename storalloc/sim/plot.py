"""Optional PNG of a replay: used capacity per node over time, and requests waiting.

matplotlib is an optional extra, imported only when a plot is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from storalloc.core.jobs import Job
from storalloc.sim.report import held_intervals

Series = tuple[list[float], list[float]]  # times (epoch s), values, as a step function


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def require_matplotlib() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or PlotUnavailable."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(
            "plotting needs matplotlib, an optional extra: pip install matplotlib"
        ) from None
    matplotlib.use("Agg")  # no display needed; also safe in worker processes
    import matplotlib.pyplot as plt

    return plt


def step_series(events: Iterable[tuple[float, float]]) -> Series:
    """A step function from (time, change) events: the running total after each instant."""
    times: list[float] = []
    values: list[float] = []
    total = 0.0
    for t, change in sorted(events):
        total += change
        if times and times[-1] == t:
            values[-1] = total  # several changes at one instant: keep the final value
        else:
            times.append(t)
            values.append(total)
    return times, values


def node_usage(jobs: Sequence[Job], cluster: Any) -> dict[str, Series]:
    """GB in use on each node over time."""
    events: dict[int, list[tuple[float, float]]] = {n.index: [] for n in cluster.nodes}
    for job, start, stop in held_intervals(jobs):
        for ext in job.extents:
            events[ext.node] += [(start, ext.size), (stop, -ext.size)]
    return {n.name: step_series(events[n.index]) for n in cluster.nodes}


def waiting(jobs: Sequence[Job]) -> Series:
    """Requests waiting for capacity over time: from their begin to their start."""
    events: list[tuple[float, float]] = []
    for job, start, _ in held_intervals(jobs):
        if start > job.begin:
            events += [(job.begin, 1.0), (start, -1.0)]
    return step_series(events)


def plot_replay(
    jobs: Sequence[Job], cluster: Any, path: str | os.PathLike[str], title: str
) -> None:
    """Write a two-panel PNG: used GB per node, and the number of requests waiting."""
    plt = require_matplotlib()
    span = _span(jobs)
    usage = {name: _pad(series, span) for name, series in node_usage(jobs, cluster).items()}
    queue = _pad(waiting(jobs), span)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})  # fmt: skip
    for node in cluster.nodes:
        times, values = usage[node.name]
        capacity = sum(d.capacity for d in node.disks)
        top.step(_dates(times), values, where="post", linewidth=0.8,
                 label=f"{node.name} ({capacity:,.0f} GB)")  # fmt: skip
    top.set_ylabel("used capacity (GB)")
    top.set_title(title)
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    bottom.step(_dates(queue[0]), queue[1], where="post", color="tab:red", linewidth=0.8)
    top_count = max(1.0, *queue[1])
    bottom.set_ylim(-0.04 * top_count, 1.05 * top_count)  # a line at 0 stays visible
    bottom.yaxis.get_major_locator().set_params(integer=True)  # a count of requests
    bottom.set_ylabel("requests waiting")
    bottom.set_xlabel("simulated time (UTC)")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _dates(times: list[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in times]


def _span(jobs: Sequence[Job]) -> tuple[float, float]:
    held = held_intervals(jobs)
    first = min((j.submit for j in jobs), default=0.0)
    last = max((stop for _, _, stop in held), default=first)
    return first, max(last, max((j.submit for j in jobs), default=first))


def _pad(series: Series, span: tuple[float, float]) -> Series:
    """The series from the first to the last instant of the run, so panels line up and an
    empty series still draws a line at 0."""
    times, values = list(series[0]), list(series[1])
    if not times or times[0] > span[0]:
        times.insert(0, span[0])
        values.insert(0, 0.0)
    if times[-1] < span[1]:
        times.append(span[1])
        values.append(values[-1])
    return times, values
