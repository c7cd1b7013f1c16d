"""What produced a replay report: the trace (path, hash, format, reader options), the
system, the strategy and the code version. Recorded in the report's `inputs`.

Everything here is derived from the scheduler and the trace reader, never from file names
the orchestrator cannot know, so a one-process and a three-process replay of the same
inputs record the same `inputs`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import storalloc

__all__ = ["add_trace_source", "format_inputs", "run_inputs", "system_summary"]


def system_summary(cluster: Any) -> dict[str, Any]:
    """Nodes, disks and capacity of the simulated system, and a sha256 of its node names
    and disk capacities (equal systems, equal hash)."""
    layout = [[node.name, [disk.capacity for disk in node.disks]] for node in cluster.nodes]
    canonical = json.dumps(layout, separators=(",", ":")).encode()
    return {
        "nodes_count": len(layout),
        "disks_count": sum(len(disks) for _, disks in layout),
        "capacity_gb": round(sum(c for _, disks in layout for c in disks), 6) + 0.0,
        "sha256": hashlib.sha256(canonical).hexdigest(),
    }


def run_inputs(scheduler: Any) -> dict[str, Any]:
    """The inputs known where the report is built: strategy, block size, system, code."""
    strategy = scheduler.strategy
    return {
        "code_version": storalloc.__version__,
        "strategy": getattr(strategy, "name", type(strategy).__name__),
        "split_threshold_gb": round(float(scheduler.block_size), 6) + 0.0,
        "system": system_summary(scheduler.cluster),
    }


def add_trace_source(report: dict[str, Any], source: dict[str, Any] | None) -> None:
    """Record the trace a report replayed (`TraceStats.source`), when known."""
    if source is not None:
        report.setdefault("inputs", {})["trace"] = dict(source)


def format_inputs(inputs: dict[str, Any]) -> list[str]:
    """Report lines naming the inputs."""
    lines = []
    trace = inputs.get("trace")
    if trace:
        options = ", ".join(f"{k}={v}" for k, v in trace["options"].items())
        lines.append(f"  trace    {trace['path']} ({trace['format']}; {options})")
        lines.append(f"           sha256 {trace['sha256']}")
    system = inputs.get("system")
    if system:
        lines.append(f"  system   {system['nodes_count']} node(s), {system['disks_count']} "
                     f"disk(s), {system['capacity_gb']:,.0f} GB; sha256 "
                     f"{system['sha256'][:16]}")  # fmt: skip
    lines.append(f"  code     storalloc {inputs.get('code_version')}")
    return lines
