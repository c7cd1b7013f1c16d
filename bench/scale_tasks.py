"""Measurements of the scale benchmark, one per child process (fresh heap, own peak RSS).

    .venv/bin/python bench/scale_tasks.py TASK JSON-ARGS   ->  one JSON line on stdout
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import legacy_capacity  # noqa: E402
from workloads import SWF_JOBS, SWF_LIVE, ault14_site, trace  # noqa: E402

from storalloc.registry import make_strategy  # noqa: E402
from storalloc.sim.replay import new_simulation  # noqa: E402


def _simulation(nodes: int, before: bool, strategy: str = "worst_case"):
    site = ault14_site(nodes)
    if before:  # the capacity structure as it was before issue 11 (bench/legacy_capacity.py)
        # ... read by worst_case in its static node order: the busy index needs the new
        # structure's busy-run outlook.
        from storalloc.strategies.busy_index import BusyOrder

        BusyOrder.admissions = lambda self, view, order, start, end: order  # type: ignore
        for node in site:
            node.usage = legacy_capacity.DiskUsage()
            for disk in node.disks:
                disk.usage = legacy_capacity.DiskUsage()
    return new_simulation(site, make_strategy(strategy))


#: The share of the nominal live leases that must be alive before a steady state is timed.
FULL = 0.95


def steady(nodes: int, live: int, before: bool, measured: int) -> dict:
    """Seconds per request once `live` leases are alive: the replay runs until 95 % of
    them are (a trace fills up over about six times `live` requests, by Little's law: a
    warm-up of twice `live` timed 7,600 leases for 10,000), then times the next `measured`
    requests and stops. CPU time of this process: other jobs on the host slow the wall
    clock, not this."""
    sim = _simulation(nodes, before)
    jobs = sim.scheduler.jobs
    window: dict[str, float] = {}

    def on_record(count: int) -> None:
        if "first" not in window:
            if len(jobs) >= FULL * live:
                window.update(first=count, live_from=len(jobs), t0=time.process_time())
        elif count == window["first"] + measured:
            window.update(live_to=len(jobs), t1=time.process_time())

    def records():
        for record in trace(10 * live + measured, live, seed=live):
            if "t1" in window:
                return
            yield record

    sim.replay(records(), on_record)
    _check_placed(sim)
    if "t1" not in window:
        raise RuntimeError(f"{live} live: the trace never had {FULL:.0%} of them alive")
    return {"per_request": (window["t1"] - window["t0"]) / measured,
            "live": [window["live_from"], window["live_to"]]}  # fmt: skip


def _check_placed(sim) -> None:
    """A figure of failing placements would measure the failure: refuse to report it."""
    failed = [j for j in sim.finished if j.reason_code == "strategy_failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} placements failed, e.g. job {failed[0].id}: "
                           f"{failed[0].reason}")


def replay(nodes: int, requests: int, live: int, profile: bool = False) -> dict:
    """Wall and CPU seconds of a whole replay, with this process's peak RSS."""
    records = trace(requests, live) if live else trace_year(requests)
    return _timed(_simulation(nodes, False), records, profile)


def _timed(sim, records, profile: bool = False) -> dict:
    prof = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.runcall(sim.replay, records)
    else:
        sim.replay(records)
    _check_placed(sim)
    result = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
              "granted": len(sim.finished),
              "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip
    if prof:
        result["profile"] = top_functions(prof)
    return result


def trace_year(requests: int):
    """The synthetic year's shape (default WorkloadShape), `requests` long."""
    from storalloc.sim.traces import generate

    return generate(requests, seed=1)


def swf(profile: bool = False) -> dict:
    """The SWF-archive-shaped trace (188,041 jobs, ~3,359 alive) on ault14."""
    del profile
    return replay(1, SWF_JOBS, SWF_LIVE)


def swf_floor(free: str) -> dict:
    """The SWF shape with capacity bookings made free: on the node's count only
    (free="node") or on every disk and node too (free="all"). Not a correct replay: what is
    free stays empty, so the reads on it answer at once. It is a floor on what any
    implementation of those structures, compiled ones included, could reach with the rest
    of the code as it is."""
    from storalloc.core.capacity import DiskUsage

    class FreeUsage(DiskUsage):
        __slots__ = ()

        def add(self, start: float, end: float, size: float) -> None:
            pass

        def remove(self, start: float, end: float, size: float) -> None:
            pass

        def expire(self, start: float, end: float, size: float, now: float) -> None:
            pass

    if free not in ("node", "all"):
        raise ValueError(f"free: expected 'node' or 'all', got {free!r}")
    site = ault14_site(1)
    for node in site:
        node.usage = FreeUsage()
        for disk in node.disks if free == "all" else ():
            disk.usage = FreeUsage()
    return _timed(new_simulation(site, make_strategy("worst_case")), trace(SWF_JOBS, SWF_LIVE))


def placement(reservations: int, count: int, strategy: str) -> dict:
    """Median decision time among 1,000 disks loaded with `reservations` live bookings."""
    import bench_placement as bp

    rng = random.Random(42)
    cluster = bp.build_cluster()
    bp.book_live(cluster, reservations, rng)
    place = make_strategy(strategy).place
    times = []
    for req in bp.requests(count, rng):
        t0 = time.process_time()
        place(req, cluster)
        times.append(time.process_time() - t0)
    return {"median": statistics.median(times)}


def top_functions(prof: cProfile.Profile, top: int = 12) -> str:
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().replace(f"{ROOT}/", "").splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:])


def profile_steady(nodes: int, live: int, before: bool, measured: int) -> dict:
    prof = cProfile.Profile()
    prof.runcall(steady, nodes, live, before, measured)
    return {"profile": top_functions(prof)}


TASKS = {"steady": steady, "replay": replay, "swf": swf, "swf_floor": swf_floor,
         "placement": placement, "profile_steady": profile_steady}  # fmt: skip

if __name__ == "__main__":
    print(json.dumps(TASKS[sys.argv[1]](**json.loads(sys.argv[2]))))
