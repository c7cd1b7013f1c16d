"""The replay report as a table for people (the report itself is data: storalloc.sim.report)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storalloc.sim.report_inputs import format_inputs

__all__ = ["format_report", "format_time", "percent", "small"]


def format_time(ts: float | None) -> str:
    """Epoch seconds as ISO-8601 UTC ('-' for None)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def small(value: float) -> str:
    """Two decimals, or two significant digits below 0.01 (so a tiny mean is not '0.00')."""
    if value == 0:
        return "0"
    return f"{value:.2f}" if abs(value) >= 0.01 else f"{value:.2g}"


def percent(fraction: float) -> str:
    """A fraction as a percentage that stays readable when small: 12.35 %, 0.0031 %, 0 %."""
    return f"{small(fraction * 100)} %"


def _capacity_lines(r: dict[str, Any]) -> list[str]:
    span = r["sim_duration"]
    busy = r.get("busy_seconds", 0.0)
    lines = [f"  capacity used         mean {percent(r['mean_capacity_utilisation'])}  "
             f"peak {percent(r['max_cap_utilisation'])} ({r['max_used_gb']:,.1f} GB)"]  # fmt: skip
    if "busy_mean_capacity_utilisation" in r:
        share = f" ({percent(busy / span)} of the span)" if span > 0 else ""
        lines += [
            f"  while busy            mean {percent(r['busy_mean_capacity_utilisation'])}"
            f" over {busy / 86400:,.2f} days with allocations{share}",
            f"  allocated GB-hours    {r['allocated_gb_hours']:>14,.1f}",
        ]
    return lines


def format_report(report: dict[str, Any]) -> str:
    """A human-readable table of the report."""
    r = report
    wait = r["wait_time_minutes"]
    lines = [
        f"Replay report: strategy {r['strategy']}, split threshold {r['split_threshold_gb']:g} GB,"
        f" {r['nodes_count']} node(s), {r['disks_count']} disk(s),"
        f" {r['total_capacity_gb']:,.0f} GB",
        *format_inputs(r.get("inputs", {})),
        f"  requests              {r['requests_count']:>10,}",
        f"  granted               {r['granted_requests_count']:>10,}",
        f"  refused               {r['refused_requests_count']:>10,}",
        *[f"    {n:>8,}  {why}" for why, n in sorted(r["refused_reasons"].items())],
        f"  failed / cancelled    {r['failed_requests_count']:>10,} / "
        f"{r['cancelled_requests_count']:,}",
        f"  split (> 1 part)      {r['split_requests_count']:>10,}   ({r['parts_count']:,} parts)",
        f"  delayed               {r['delayed_requests_count']:>10,}   total "
        f"{r['tt_delay_time_minutes']:,.1f} min",
        f"  wait (min)            p50 {wait['p50']:,.1f}  p90 {wait['p90']:,.1f}  "
        f"p99 {wait['p99']:,.1f}  max {wait['max']:,.1f}  mean {wait['mean']:,.2f}",
        f"  max concurrent        {r['max_concurrent_allocations']:>10,}",
        f"  allocated GB          {r['tt_allocated_gb']:>14,.1f} of {r['tt_requested_gb']:,.1f}"
        " requested",
        *_capacity_lines(r),
        f"  simulated span        {format_time(r['sim_first_ts'])} .. "
        f"{format_time(r['sim_last_ts'])} ({r['sim_duration'] / 86400:,.2f} days)",
        *_skipped_lines(r),
    ]
    if r.get("unfinished_requests_count"):
        lines.append(f"  unfinished            {r['unfinished_requests_count']:>10,}")
    lines += ["", *_usage_table(r["nodes"], r["disks"])]
    return "\n".join(lines)


def _skipped_lines(r: dict[str, Any]) -> list[str]:
    lines = []
    if r.get("skipped_bad_records_count") or r.get("skipped_empty_records_count"):
        lines.append(
            f"  trace records skipped {r.get('skipped_bad_records_count', 0):>10,} bad, "
            f"{r.get('skipped_empty_records_count', 0):,} storing nothing"
        )
    if r.get("partial_logs_count"):
        lines.append(f"  partial Darshan logs  {r['partial_logs_count']:>10,}   (kept; bytes "
                     "may be under-counted)")  # fmt: skip
    return lines


def _usage_table(nodes: list[dict], disks: list[dict]) -> list[str]:
    head = (f"{'node/disk':<24} {'capacity GB':>12} {'allocs':>8} {'mean alloc':>10} "
            f"{'max alloc':>9} {'mean used':>9} {'busy used':>9} {'peak used':>9}")  # fmt: skip
    rows = [head, "-" * len(head)]
    by_node: dict[str, list[dict]] = {}
    for disk in disks:
        by_node.setdefault(disk["node"], []).append(disk)
    for node in nodes:
        rows.append(_usage_row(node["node"], node))
        for disk in by_node.get(node["node"], []):
            rows.append(_usage_row(f"  disk {disk['disk']}", disk))
    return rows


def _usage_row(label: str, s: dict) -> str:
    busy = s.get("busy_mean_capacity_utilisation", 0.0)
    return (
        f"{label:<24} {s['capacity_gb']:>12,.0f} {s['allocations_count']:>8,} "
        f"{small(s['mean_allocations']):>10} {s['max_allocations']:>9,} "
        f"{percent(s['mean_capacity_utilisation']):>9} {percent(busy):>9} "
        f"{percent(s['max_cap_utilisation']):>9}"
    )
