"""doc/performance.md and its PNG from the figures of bench/bench_scale.py."""

from __future__ import annotations

import os
import platform
from pathlib import Path

NOTES = Path(__file__).resolve().parent / "performance_notes.md"
#: The label of the curves measured from the Python sources beside the compiled core.
FROM_SOURCES = "after, from the sources"


def _ok(value: float, limit: float, below: bool = True) -> str:
    return "met" if (value <= limit if below else value >= limit) else "**not met**"


def _cpu(t: dict, key: str) -> str:
    """CPU seconds of a run, with the same run from the Python sources when there is one."""
    text = f"{t[key]['cpu']:.1f} s"
    if f"{key}_py" in t:
        text += f" (sources: {t[key + '_py']['cpu']:.1f} s)"
    return text


def _growth(curve: dict) -> float:
    return curve[max(curve, key=int)] / curve[min(curve, key=int)]


def target_rows(data: dict) -> list[str]:
    t, c = data["targets"], data["curves"]
    rows = ["| target | figure | limit | status |", "|---|---:|---:|---|"]
    for disks in (8, 1000):
        r = t.get(f"80k_{disks}")
        if r:
            rows.append(f"| 80,000 requests, 10,000 live, {disks} disks (CPU s) | "
                        f"{_cpu(t, f'80k_{disks}')} | 8 s | {_ok(r['cpu'], 8)} |")  # fmt: skip
    for disks in (8, 1000):
        curve = c.get(f"{disks} disks, after")
        if curve:
            ratio = _growth(curve)
            text = f"{ratio:.2f}x"
            sources = c.get(f"{disks} disks, {FROM_SOURCES}")
            if sources:
                text += f" (sources: {_growth(sources):.2f}x)"
            rows.append(f"| cost per request at 10,000 live / at 100 live, {disks} disks | "
                        f"{text} | 1.5x | {_ok(ratio, 1.5)} |")  # fmt: skip
    if "placement" in t:
        ms = t["placement"]["median"] * 1e3
        rows.append(f"| worst_case decision, 1,000 disks x 100k reservations (median) | "
                    f"{ms:.2f} ms | 0.5 ms | {_ok(ms, 0.5)} |")  # fmt: skip
    if "million" in t:
        m = t["million"]
        rows.append(f"| 1,000,000 requests in one process (CPU s) | {_cpu(t, 'million')} | "
                    f"60 s | {_ok(m['cpu'], 60)} |")  # fmt: skip
        rows.append(f"| ... its peak memory (RSS) | {m['rss_mb']:.0f} MB | 1,024 MB | "
                    f"{_ok(m['rss_mb'], 1024)} |")  # fmt: skip
    if "swf" in t:
        s = t["swf"]
        rows.append(f"| SWF-shaped trace, 188,041 jobs, 3,359 live (CPU s) | {_cpu(t, 'swf')} | "
                    f"10 s | {_ok(s['cpu'], 10)} |")  # fmt: skip
    if "three" in t:
        x = t["three"]
        ratio = x["three"] / x["one"]
        rows.append(f"| synthetic year through three processes / one process (wall) | "
                    f"{ratio:.1f}x ({x['three']:.1f} s / {x['one']:.1f} s) | 3x | "
                    f"{_ok(ratio, 3)} |")  # fmt: skip
    if "wire" in t:
        w = t["wire"]
        share = w["grant"]["per_s"] / w["relay"]["per_s"]
        lat = w["grant"]["p50_ms"] / w["relay"]["p50_ms"]
        rows.append(f"| live grants / bare relay, throughput, 64 in flight | {share:.1%} "
                    f"({w['grant']['per_s']:,.0f} / {w['relay']['per_s']:,.0f} per s) | "
                    f">= 50% | {_ok(share, 0.5, below=False)} |")  # fmt: skip
        rows.append(f"| live grant p50 / relay round trip p50, unpipelined | {lat:.1f}x "
                    f"({w['grant']['p50_ms']:.2f} / {w['relay']['p50_ms']:.2f} ms; p99 "
                    f"{w['grant']['p99_ms']:.2f} / {w['relay']['p99_ms']:.2f} ms) | 2x | "
                    f"{_ok(lat, 2)} |")  # fmt: skip
        if "orch_cpu_us_64" in w["grant"]:
            g = w["grant"]
            rows.append(f"| orchestrator / server CPU per grant, 64 in flight (unpipelined) | "
                        f"{g['orch_cpu_us_64']:,.0f} / {g['server_cpu_us_64']:,.0f} us "
                        f"({g['orch_cpu_us_1']:,.0f} / {g['server_cpu_us_1']:,.0f} us) | - | "
                        "where the grant's time goes |")  # fmt: skip
    return rows


def floor_section(targets: dict) -> list[str]:
    """Floors: the same runs with a part of the work made free (what a target would take)."""
    rows = ["## Floors: the same runs with part of the work free", "",
            "The same runs with part of the work made free, in the same sitting "
            "(`bench/scale_tasks.py swf_floor`, `bench/bench_wire.py`). A free booking leaves "
            "its structure empty, so the reads on it answer at once too: a floor for any "
            "implementation of those structures, compiled ones included, with the rest of the "
            "code as it is. Unsynced commits are measured only, never offered: a power cut "
            "could lose a grant.", ""]  # fmt: skip
    before = len(rows)
    swf = targets.get("swf_py", targets.get("swf"))
    if swf and "swf_free_all" in targets:
        node, every = targets["swf_free_node"]["cpu"], targets["swf_free_all"]["cpu"]
        rows += ["| SWF-shaped trace (CPU s, limit 10 s) | figure |", "|---|---:|",
                 f"| from the Python sources | {swf['cpu']:.1f} s |",
                 f"| ... the node's count bookings free | {node:.1f} s |",
                 f"| ... every disk and node booking free | {every:.1f} s |"]  # fmt: skip
        if "swf_py" in targets:
            rows.append(f"| compiled core (`storalloc/accel.py`) | {targets['swf']['cpu']:.1f} s |")
        rows.append("")
    wire = targets.get("wire", {})
    if "grant_unsynced" in wire:
        relay = wire["relay"]
        rows += ["| live grants | throughput / relay (limit >= 50%) | p50 / relay (limit 2x) |",
                 "|---|---:|---:|"]  # fmt: skip
        for label, key in (("commits synced (as shipped)", "grant"),
                           ("commits unsynced (a floor, not offered)", "grant_unsynced")):
            g = wire[key]
            rows.append(f"| {label} | {g['per_s'] / relay['per_s']:.1%} | "
                        f"{g['p50_ms'] / relay['p50_ms']:.1f}x |")
        rows.append("")
    return rows if len(rows) > before else []


def curve_rows(curves: dict) -> list[str]:
    if not curves:
        return []
    lives = sorted({int(x) for curve in curves.values() for x in curve})
    rows = ["| site, capacity structure | " + " | ".join(f"{x:,} live" for x in lives) + " |",
            "|---|" + "---:|" * len(lives)]  # fmt: skip
    for key, curve in curves.items():
        cells = [f"{curve[str(x)] * 1e6:,.0f} us" if str(x) in curve else "-" for x in lives]
        rows.append(f"| {key} | " + " | ".join(cells) + " |")
    return rows


def plot(curves: dict, path: Path) -> bool:
    try:
        from storalloc.sim.plot import PlotUnavailable, require_matplotlib

        plt = require_matplotlib()
    except (ImportError, PlotUnavailable):
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, curve in curves.items():
        xs = sorted(int(x) for x in curve)
        style = "--" if "before" in key else ":" if key.endswith(FROM_SOURCES) else "-"
        ax.plot(xs, [curve[str(x)] for x in xs], style, marker="o", label=key)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("live leases")
    ax.set_ylabel("CPU seconds per request")
    ax.set_title("One-process replay (worst_case): cost per request")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(data: dict, out: Path) -> None:
    meta = data["meta"]
    png = out.with_name("performance-curve.png")
    if not data["curves"]:
        picture = "(no curves: skipped in this run)"
    elif plot(data["curves"], png):
        picture = f"![seconds per request]({png.name})"
    else:
        picture = "(no PNG: matplotlib missing)"
    host = f"{platform.python_implementation()} {platform.python_version()}, "
    host += f"{os.cpu_count()} CPU(s), {meta.get('compiled', 'compiled core: not built')}"
    lines = [
        "# Performance at site scale (issue 11)",
        "",
        f"Written by `make bench` (`{meta['command']}`) in {meta['seconds']:.0f} s on {host}; "
        f"load average {', '.join(f'{x:.1f}' for x in meta['load'])} when it started (other "
        "engineers' jobs shared the 2 cores, so CPU seconds of the measuring process are "
        "reported where they apply, and ratios come from one run)."
        + (" **Quick run: a tenth of the sizes.**" if meta["quick"] else ""),
        "",
        "## Targets",
        "",
        *target_rows(data),
        "",
        "## Seconds per request against live leases",
        "",
        "Steady state of a one-process replay with `worst_case`: CPU time per request "
        "once 95 % of the live leases are alive (the next 8,000 requests, 300 for *before*); "
        "*before* is the capacity structure as it was (`bench/legacy_capacity.py`) read by "
        "worst_case in its static node order, *after* the block structure of "
        "`storalloc/core/steps.py` (reads in `step_queries.py`) and worst_case's busy "
        "index (`strategies/busy_index.py`), on the compiled core when it is in use (with "
        "the structures' typed twins, `typed_steps.pyx` and `typed_overlaps.pyx`) and "
        "again *from the sources*.",
        "",
        *curve_rows(data["curves"]),
        "",
        picture,
        "",
    ]
    lines += floor_section(data["targets"])
    if NOTES.exists():
        lines += [NOTES.read_text().rstrip(), ""]
    lines += ["## Profiles (top functions by own time)", ""]
    for key, text in data["profiles"].items():
        lines += [f"### {key}", "", "```", text, "```", ""]
    wire = data["targets"].get("wire", {})
    if "profile" in wire:
        lines += ["### orchestrator on the live grant path", "", "```", wire["profile"], "```", ""]
    out.write_text("\n".join(lines))
