"""Replay report: counts, delays, concurrency and per-disk/per-node use, from job records.

Everything is computed from the jobs themselves (submit, begin, start, end, extents) with
sorted sweeps, O(n log n) for n jobs; nothing scans the scheduler's history per request.
Field names follow the prototype's `output.yml` where it had one; doc/simulation.md lists
them all. Floats are rounded to `DIGITS` decimals and sums use `math.fsum`, so the same
input gives a byte-identical report whichever path (one process or three) produced it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from storalloc.core.jobs import Job, State
from storalloc.sim.report_inputs import add_trace_source, run_inputs
from storalloc.sim.report_text import format_report, format_time

__all__ = [
    "add_trace_stats",
    "build_report",
    "dump_report",
    "format_report",
    "format_time",
    "held_intervals",
    "report_format",
    "write_report",
]

DIGITS = 6  # 1 µs, 1 kB, 1 ppm: far below what the inputs mean, far above float dust
PERCENTILES = (50, 90, 99)
_RUNNING = (State.COMPLETED, State.ALLOCATED, State.CONFIGURING, State.CANCELLED)

Interval = tuple[float, float, float]  # start, stop, GB
Held = tuple[Job, float, float]  # a job that held its extents, from start to stop


def build_report(scheduler: Any, finished: Sequence[Job]) -> dict[str, Any]:
    """The report of a replay: `finished` jobs plus any the scheduler still holds."""
    jobs = sorted([*finished, *scheduler.jobs.values()], key=lambda j: j.id)
    held = held_intervals(jobs)
    granted = [j for j, _, _ in held]
    first, last = _span(jobs, held)
    span = last - first if jobs else 0.0
    report: dict[str, Any] = {
        "inputs": run_inputs(scheduler),
        "strategy": getattr(scheduler.strategy, "name", type(scheduler.strategy).__name__),
        "split_threshold_gb": _num(scheduler.block_size),
        **_counts(jobs, granted),
        **_delays(granted),
        "max_concurrent_allocations": _peak((a, b, 1.0) for _, a, b in held)[1],
        "tt_requested_gb": _num(math.fsum(j.size for j in jobs)),
        "tt_allocated_gb": _num(math.fsum(j.size for j in granted)),
        "sim_first_ts": _num(first) if jobs else None,
        "sim_last_ts": _num(last) if jobs else None,
        "sim_duration": _num(span),
    }
    report.update(_usage(scheduler.cluster, held, span))
    return report


# --- which jobs ran, and when -------------------------------------------------------------


def held_intervals(jobs: Iterable[Job]) -> list[Held]:
    """(job, start, stop) of every job that held its extents, in the order given."""
    return [(j, *iv) for j in jobs if (iv := _held(j)) is not None]


def _held(job: Job) -> tuple[float, float] | None:
    """[start, stop) during which the job held its extents, or None if it never did."""
    if job.start is None or job.state not in _RUNNING or not job.extents:
        return None
    stop = job.end
    if job.ended_at is not None and job.state is State.CANCELLED:
        stop = min(stop, job.ended_at)
    return (job.start, stop) if stop > job.start else None


def _span(jobs: Sequence[Job], held: Sequence[Held]) -> tuple[float, float]:
    if not jobs:
        return 0.0, 0.0
    first = min(j.submit for j in jobs)
    last = max(
        max(j.submit for j in jobs),
        max((j.ended_at for j in jobs if j.ended_at is not None), default=first),
        max((stop for _, _, stop in held), default=first),
    )
    return first, last


# --- counts and delays --------------------------------------------------------------------


def _counts(jobs: Sequence[Job], granted: Sequence[Job]) -> dict[str, Any]:
    refused = [j for j in jobs if j.state is State.REFUSED]
    reasons: dict[str, int] = {}
    for job in refused:
        key = _reason_key(job)
        reasons[key] = reasons.get(key, 0) + 1
    active = (State.PENDING, State.CONFIGURING, State.ALLOCATED)
    return {
        "requests_count": len(jobs),
        "granted_requests_count": len(granted),
        "refused_requests_count": len(refused),
        "refused_reasons": reasons,
        "failed_requests_count": sum(j.state is State.FAILED for j in jobs),
        "cancelled_requests_count": sum(j.state is State.CANCELLED for j in jobs),
        "unfinished_requests_count": sum(j.state in active for j in jobs),
        "split_requests_count": sum(len(j.parts) > 1 for j in jobs),
        "parts_count": sum(len(j.parts) for j in jobs),
    }


def _reason_key(job: Job) -> str:
    """The scheduler's stable reason code (e.g. 'larger_than_disks'), so that equal reasons
    count as one whatever the request's figures."""
    return job.reason_code or "unknown"


def _delays(granted: Sequence[Job]) -> dict[str, Any]:
    """Wait = start − begin (begin = max(submit, requested start)), in minutes."""
    waits = sorted(j.start - j.begin for j in granted)
    delayed = [w for w in waits if w > 0]
    stats = {f"p{q}": _num(_percentile(waits, q) / 60) for q in PERCENTILES}
    stats["max"] = _num(waits[-1] / 60 if waits else 0.0)
    stats["mean"] = _num(math.fsum(waits) / len(waits) / 60 if waits else 0.0)
    return {
        "delayed_requests_count": len(delayed),
        "tt_delay_time_minutes": _num(math.fsum(delayed) / 60),
        "wait_time_minutes": stats,
    }


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none): an observed value, no
    interpolation, so it never depends on float summation order."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --- usage over time ----------------------------------------------------------------------


def _peak(intervals: Iterable[Interval]) -> tuple[float, int]:
    """Highest total GB and highest number of intervals present at any instant (intervals
    are half-open: one ending when another starts never overlaps it)."""
    events: list[tuple[float, int, float]] = []
    for start, stop, size in intervals:
        events.append((start, 1, size))
        events.append((stop, -1, -size))
    events.sort()  # at equal times ends (-1) come before starts (+1)
    used = peak_gb = 0.0
    count = peak_count = 0
    for _, step, size in events:
        used += size
        count += step
        if step > 0:
            if used > peak_gb:
                peak_gb = used
            if count > peak_count:
                peak_count = count
    return peak_gb, peak_count


def _stats(intervals: list[Interval], capacity: float, span: float) -> dict[str, Any]:
    peak_gb, peak_count = _peak(intervals)
    gb_seconds = math.fsum(size * (stop - start) for start, stop, size in intervals)
    busy_seconds = math.fsum(stop - start for start, stop, _ in intervals)
    mean_gb = gb_seconds / span if span > 0 else 0.0
    busy = _busy_seconds(intervals)
    busy_gb = gb_seconds / busy if busy > 0 else 0.0
    return {
        "capacity_gb": _num(capacity),
        "allocations_count": len(intervals),
        "mean_allocations": _num(busy_seconds / span if span > 0 else 0.0),
        "max_allocations": peak_count,
        "mean_used_gb": _num(mean_gb),
        "max_used_gb": _num(peak_gb),
        "mean_capacity_utilisation": _num(mean_gb / capacity if capacity else 0.0),
        "max_cap_utilisation": _num(peak_gb / capacity if capacity else 0.0),
        # Over the time something was allocated: a long, mostly idle trace (years of
        # Darshan logs) otherwise shows only 0.00 %.
        "busy_seconds": _num(busy),
        "busy_mean_used_gb": _num(busy_gb),
        "busy_mean_capacity_utilisation": _num(busy_gb / capacity if capacity else 0.0),
        "allocated_gb_hours": _num(gb_seconds / 3600),
    }


def _busy_seconds(intervals: list[Interval]) -> float:
    """Length of the union of the intervals: the time at least one was present."""
    total, stop = 0.0, -math.inf
    for start, end, _ in sorted(intervals):
        if end <= stop:
            continue
        total += end - max(start, stop)
        stop = end
    return total


def _usage(cluster: Any, held: Sequence[Held], span: float) -> dict[str, Any]:
    per_disk: dict[tuple[int, int], list[Interval]] = {}
    for job, start, stop in held:
        for ext in job.extents:
            per_disk.setdefault((ext.node, ext.disk), []).append((start, stop, ext.size))
    nodes, disks, everything = [], [], []
    total = 0.0
    for node in cluster.nodes:
        on_node: list[Interval] = []
        for disk in node.disks:
            mine = per_disk.get((node.index, disk.index), [])
            on_node.extend(mine)
            disks.append({"node": node.name, "disk": disk.index,
                          **_stats(mine, disk.capacity, span)})  # fmt: skip
        capacity = math.fsum(d.capacity for d in node.disks)
        total += capacity
        everything.extend(on_node)
        nodes.append({"node": node.name, "disks_count": len(node.disks),
                      **_stats(on_node, capacity, span)})  # fmt: skip
    # One node is the whole site: skip sorting the same events a third time.
    site = nodes[0] if len(nodes) == 1 else _stats(everything, total, span)
    return {
        "nodes_count": len(nodes),
        "disks_count": len(disks),
        "total_capacity_gb": site["capacity_gb"],
        "mean_used_gb": site["mean_used_gb"],
        "max_used_gb": site["max_used_gb"],
        "mean_capacity_utilisation": site["mean_capacity_utilisation"],
        "max_cap_utilisation": site["max_cap_utilisation"],
        "busy_seconds": site["busy_seconds"],
        "busy_mean_capacity_utilisation": site["busy_mean_capacity_utilisation"],
        "allocated_gb_hours": site["allocated_gb_hours"],
        "nodes": nodes,
        "disks": disks,
    }


def _num(value: float) -> float:
    """Rounded to DIGITS decimals, never -0.0; always a float, so a field keeps its type
    from one report to the next."""
    return round(float(value), DIGITS) + 0.0


def add_trace_stats(report: dict[str, Any], stats: Any) -> dict[str, Any]:
    """Add what the trace reader left out (a `storalloc.sim.traces.TraceStats`): bad records
    skipped with --skip-bad, jobs that stored nothing, Darshan logs with a partial module;
    and which trace it read (`inputs.trace`)."""
    report["skipped_bad_records_count"] = stats.skipped_bad
    report["skipped_empty_records_count"] = stats.skipped_zero
    report["partial_logs_count"] = getattr(stats, "partial_logs", 0)
    add_trace_source(report, getattr(stats, "source", None))
    return report


# --- output -------------------------------------------------------------------------------


def report_format(path: str | os.PathLike[str]) -> str:
    """'json' or 'yaml' from a file name; ValueError for any other extension."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".json":
        return "json"
    if ext in (".yml", ".yaml"):
        return "yaml"
    raise ValueError(f"{os.fspath(path)}: report file name must end in .yml, .yaml or .json")


def dump_report(report: dict[str, Any], fmt: str = "yaml") -> str:
    """The report as YAML or JSON text, keys sorted (deterministic)."""
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n"
    import yaml

    return yaml.safe_dump(report, sort_keys=True, default_flow_style=False, width=4096,
                          allow_unicode=True)  # fmt: skip


def write_report(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report as YAML or JSON, chosen by the file's extension."""
    text = dump_report(report, report_format(path))
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
