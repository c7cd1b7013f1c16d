"""Text for `--list` (squeue-like table) and `--show` (scontrol-like record)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storalloc.units import format_size, format_time_left

COLUMNS = ("JOBID", "USER", "SIZE", "TIME_LEFT", "STATE", "NODE", "DISK")


def shown(value: object) -> str:
    """`value` as text safe for a terminal: control characters (escape sequences) escaped."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED", "REFUSED"})


def time_left(job: dict[str, Any], now: float) -> float | None:
    """Seconds until the lease ends; a job that has not started shows its whole length,
    an ended one has none (None), as squeue shows no TIME_LEFT for finished jobs."""
    if job["state"] in ENDED:
        return None
    if job.get("start") is None or job["start"] > now:
        return job["duration_s"]
    return max(0.0, job["end"] - now)


def with_time_left(job: dict[str, Any], now: float) -> dict[str, Any]:
    return {**job, "time_left_s": time_left(job, now)}


def pending_reason(job: dict[str, Any], now: float) -> str:
    """squeue's reason for a pending job: the orchestrator's when it sends one, else
    BeginTime while a --begin lies ahead, else Resources."""
    if job.get("pending_reason"):
        return str(job["pending_reason"])
    begin = job.get("begin")
    if begin is not None and begin > now:
        return "BeginTime"
    return "Resources"


def _where(job: dict[str, Any], now: float) -> tuple[str, str]:
    extents = job["extents"]
    if job["state"] == "PENDING" or not extents:
        return f"({pending_reason(job, now)})" if job["state"] == "PENDING" else "-", "-"
    nodes = ",".join(dict.fromkeys(str(e["node"]) for e in extents))
    disks = ",".join(str(e["disk"]) for e in extents)
    return nodes, disks


def _columns(rows: list[tuple[str, ...]], right: set[int]) -> str:
    """Aligned columns; numbers (indices in `right`) align right, as squeue's do."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def format_table(jobs: list[dict[str, Any]], now: float) -> str:
    rows = [COLUMNS]
    for job in jobs:
        node, disk = _where(job, now)
        rows.append((
            str(job["job_id"]), shown(job["user"]), format_size(job["size_gb"]),
            _left(job, now), job["state"], node, disk,
        ))
    return _columns(rows, {0, 2, 3})


def _left(job: dict[str, Any], now: float) -> str:
    left = time_left(job, now)
    return "-" if left is None else format_time_left(left)


NODE_COLUMNS = ("NODE", "NAME", "STATE", "DISKS", "SIZE", "USED", "FREE", "NETWORK")


def format_nodes(nodes: list[dict[str, Any]]) -> str:
    """`--nodes`, sinfo-like: one line per storage node, with what is used now."""
    rows = [NODE_COLUMNS]
    for n in nodes:
        rows.append((
            str(n["node"]), shown(n["name"]), n["state"], str(n["disks"]),
            format_size(n["capacity_gb"]), format_size(n["used_gb"]),
            format_size(n["capacity_gb"] - n["used_gb"]), f"{n['network_bw']:g} GBps",
        ))
    return _columns(rows, {0, 3, 4, 5, 6})


def _when(t: float | None) -> str:
    return "Unknown" if t is None else datetime.fromtimestamp(t).isoformat(timespec="seconds")


def format_job(job: dict[str, Any], now: float) -> str:
    """`scontrol show job`-style: Key=Value fields, one extent per line."""
    reason = job.get("reason")
    if job["state"] == "PENDING" and not reason:
        reason = pending_reason(job, now)
    left = time_left(job, now)
    lines = [
        f"JobId={job['job_id']} UserId={shown(job['user'])} State={job['state']}"
        + (f" Reason={shown(reason)}" if reason else ""),
        f"   Size={format_size(job['size_gb'])} Parts={len(job['extents'])} "
        f"TimeLimit={format_time_left(job['duration_s'])}"
        + ("" if left is None else f" TimeLeft={format_time_left(left)}"),
        f"   SubmitTime={_when(job['submit'])} StartTime={_when(job['start'])} "
        f"EndTime={_when(job['end'])}",
    ]
    conns = job.get("connections", [])
    for i, ext in enumerate(job["extents"]):
        line = (f"   Part={i} Node={ext['node']}({shown(ext['node_name'])}) Disk={ext['disk']} "
                f"Size={format_size(ext['size_gb'])}")
        if i < len(conns):
            line += " " + " ".join(f"{shown(k).capitalize()}={shown(v)}"
                                   for k, v in conns[i].items())
        lines.append(line)
    return "\n".join(lines)
