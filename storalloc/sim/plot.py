"""Optional PNG of a replay: used capacity per node against its capacity, and requests waiting.

Up to SMALL_MULTIPLES nodes get one panel each (a second node never hides the first);
more are stacked in one panel under the site's capacity. A series with more changes than
the plot has room for is drawn per bin: the mean (line) and the peak (shaded) of each bin.
matplotlib is an optional extra, imported only when a plot is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from storalloc.core.jobs import Job
from storalloc.sim.report import held_intervals
from storalloc.sim.series import Series, bin_series, pad, step_series

__all__ = [
    "PlotUnavailable",
    "draw_replay",
    "node_usage",
    "plot_replay",
    "plot_title",
    "require_matplotlib",
    "waiting",
]

BINS = 600  # about one bin per two pixels of a 11-inch-wide figure at 110 dpi
SMALL_MULTIPLES = 8
STACK_BINS = 200  # coarser when stacked: thin bands of many nodes otherwise blur together
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:cyan",
            "tab:olive", "tab:pink")  # fmt: skip


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
    """Write the PNG: used GB per node with its capacity, and the requests waiting."""
    plt = require_matplotlib()
    fig = draw_replay(jobs, cluster, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_replay(jobs: Sequence[Job], cluster: Any, title: str) -> Any:
    """The figure of `plot_replay` (the caller closes it)."""
    plt = require_matplotlib()
    span = _span(jobs)
    usage = node_usage(jobs, cluster)
    nodes = list(cluster.nodes)
    panels = len(nodes) if len(nodes) <= SMALL_MULTIPLES else 1
    fig, axes = plt.subplots(panels + 1, 1, sharex=True, squeeze=False,
                             figsize=(11, min(3.0 + 1.7 * panels, 16)),
                             gridspec_kw={"height_ratios": [2] * panels + [1]})  # fmt: skip
    axes = [a[0] for a in axes]
    if panels == len(nodes):
        for index, (ax, node) in enumerate(zip(axes, nodes, strict=False)):
            _node_panel(ax, node, pad(usage[node.name], span), span, _COLOURS[index % 8])
    else:
        _stacked_panel(axes[0], nodes, usage, span)
    _waiting_panel(axes[-1], pad(waiting(jobs), span), span)
    fig.suptitle(title, fontsize="medium")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _capacity(node: Any) -> float:
    return sum(d.capacity for d in node.disks)


def _node_panel(ax: Any, node: Any, series: Series, span: tuple[float, float],
                colour: str) -> None:  # fmt: skip
    capacity = _capacity(node)
    if len(series[0]) > BINS:
        binned = bin_series(series, span, BINS)
        edges = _dates(binned.edges)
        ax.fill_between(edges, [*binned.peak, binned.peak[-1]], step="post", color=colour,
                        alpha=0.25, linewidth=0, label="peak per bin")  # fmt: skip
        ax.step(edges, [*binned.mean, binned.mean[-1]], where="post", color=colour,
                linewidth=0.9, label="mean per bin")  # fmt: skip
    else:
        ax.fill_between(_dates(series[0]), series[1], step="post", color=colour, alpha=0.25,
                        linewidth=0)  # fmt: skip
        ax.step(_dates(series[0]), series[1], where="post", color=colour, linewidth=0.9,
                label="used")  # fmt: skip
    ax.axhline(capacity, color="black", linestyle="--", linewidth=0.8,
               label=f"capacity {capacity:,.0f} GB")  # fmt: skip
    ax.set_ylim(0, capacity * 1.08 if capacity > 0 else 1.0)
    ax.set_ylabel(f"{node.name}\nused GB", fontsize="small")
    ax.legend(loc="upper left", fontsize="x-small", ncol=3)
    ax.grid(alpha=0.3)


def _stacked_panel(ax: Any, nodes: list[Any], usage: dict[str, Series],
                   span: tuple[float, float]) -> None:  # fmt: skip
    """Many nodes: their bin means stacked, under the whole site's capacity."""
    means = [bin_series(pad(usage[n.name], span), span, STACK_BINS) for n in nodes]
    edges = _dates(means[0].edges)
    colours = [_colour(i, len(nodes)) for i in range(len(nodes))]
    ax.stackplot(edges, *[[*m.mean, m.mean[-1]] for m in means], step="post", linewidth=0,
                 colors=colours, labels=[n.name for n in nodes])  # fmt: skip
    total = sum(_capacity(n) for n in nodes)
    ax.axhline(total, color="black", linestyle="--", linewidth=0.8,
               label=f"site capacity {total:,.0f} GB ({len(nodes)} nodes, stacked)")  # fmt: skip
    ax.set_ylim(0, total * 1.08 if total > 0 else 1.0)
    ax.set_ylabel("used GB (mean per bin)")
    ax.legend(loc="upper left", fontsize="xx-small", ncol=min(len(nodes) + 1, 7))
    ax.grid(alpha=0.3)


def _colour(index: int, count: int) -> Any:
    if count <= len(_COLOURS):
        return _COLOURS[index]
    import matplotlib

    return matplotlib.colormaps["tab20"](index % 20)


def _waiting_panel(ax: Any, series: Series, span: tuple[float, float]) -> None:
    if len(series[0]) > BINS:
        binned = bin_series(series, span, BINS)
        times, values = binned.edges, [*binned.peak, binned.peak[-1]]
        label = "peak per bin"
    else:
        times, values, label = series[0], series[1], "waiting"
    ax.step(_dates(times), values, where="post", color="tab:red", linewidth=0.8, label=label)
    top = max(1.0, *values)
    ax.set_ylim(-0.04 * top, 1.05 * top)  # a line at 0 stays visible
    ax.yaxis.get_major_locator().set_params(integer=True)  # a count of requests
    ax.set_ylabel("requests\nwaiting", fontsize="small")
    ax.set_xlabel("simulated time (UTC)")
    ax.grid(alpha=0.3)


def _dates(times: Sequence[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in times]


def _span(jobs: Sequence[Job]) -> tuple[float, float]:
    held = held_intervals(jobs)
    first = min((j.submit for j in jobs), default=0.0)
    last = max((stop for _, _, stop in held), default=first)
    return first, max(last, max((j.submit for j in jobs), default=first))


def plot_title(label: str, strategy: str, report: dict[str, Any]) -> str:
    """Two lines naming the inputs: trace (format, hash, options), system, strategy, code."""
    inputs = report.get("inputs", {})
    trace = inputs.get("trace")
    head = "trace (unknown)"
    if trace:
        options = ", ".join(f"{k}={v}" for k, v in trace["options"].items() if k != "skip_bad")
        detail = "; ".join(p for p in (trace["format"], f"sha256 {trace['sha256'][:12]}",
                                        options) if p)  # fmt: skip
        head = f"{os.path.basename(trace['path'])} ({detail})"
    system = inputs.get("system", {})
    return (f"{head}\n{label}: {system.get('nodes_count', '?')} node(s), "
            f"{system.get('capacity_gb', 0):,.0f} GB — {strategy}, split threshold "
            f"{report.get('split_threshold_gb', 0):g} GB — storalloc "
            f"{inputs.get('code_version', '?')}")  # fmt: skip
