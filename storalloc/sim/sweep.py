"""`python -m storalloc.sim.sweep`: replay a trace in one process, for sweeps over systems and
strategies, with the real Scheduler on virtual time (see doc/simulation.md).

Each system × strategy pair is an independent simulation; several run in parallel on a
process pool. A run gives the same report as a three-process replay of the same input,
because both feed the scheduler through `storalloc.sim.replay.submit_at`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from storalloc import registry
from storalloc.cli.common import EXIT_FAILED, EXIT_OK, add_verbosity, error, setup_logging
from storalloc.config.loader import (
    ConfigError,
    OrchestratorConfig,
    load_orchestrator_config,
    load_system,
)
from storalloc.sim.replay import make_node, new_simulation
from storalloc.sim.report import add_trace_stats, build_report, format_report, write_report
from storalloc.sim.report_text import percent
from storalloc.sim.traces import TraceError, TraceRecord, TraceStats, read_trace_with_stats
from storalloc.trace_options import add_trace_read_options

PROG = "simulate"


@dataclasses.dataclass(frozen=True, slots=True)
class SimTask:
    """One simulation: a system file replayed with one strategy. Plain data (picklable)."""

    system: str  # path of the system YAML
    label: str  # how the system is named in tables and file names
    strategy: str
    config: str | None  # orchestrator config path (None = defaults)
    block_size: float | None  # overrides the config's block_size
    plot_dir: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SimResult:
    task: SimTask
    report: dict[str, Any]
    seconds: float  # wall time of replay + report, not part of the (deterministic) report


def load_config(path: str | None) -> OrchestratorConfig:
    """The orchestrator config used for scheduler settings (defaults when no file)."""
    if path is None:
        return OrchestratorConfig()
    return load_orchestrator_config(path, strategy_names=registry.STRATEGIES)


def strategy_for(cfg: OrchestratorConfig, name: str) -> Any:
    """The strategy `name`; the config's strategy_options go only to the configured one."""
    if name != cfg.sched_strategy:
        cfg = dataclasses.replace(cfg, strategy_options={})
    return registry.make_strategy(name or cfg.sched_strategy, cfg.strategy_options, cfg.seed)


def run_task(task: SimTask, records: Sequence[TraceRecord], stats: TraceStats) -> SimResult:
    """Replay `records` on `task`'s system with its strategy; return the report."""
    began = time.perf_counter()
    cfg = load_config(task.config)
    block_size = cfg.block_size if task.block_size is None else task.block_size
    system = load_system(task.system)
    nodes = [make_node(f"{n.hostname}:{i}", n) for i, n in enumerate(system.nodes)]
    sim = new_simulation(
        nodes, strategy_for(cfg, task.strategy), block_size=block_size,
        admins=frozenset(cfg.admins),
    )  # fmt: skip
    sim.replay(records)
    report = add_trace_stats(build_report(sim.scheduler, sim.finished), stats)
    seconds = time.perf_counter() - began
    if task.plot_dir is not None:
        from storalloc.sim.plot import plot_replay, plot_title

        jobs = [*sim.finished, *sim.scheduler.jobs.values()]
        path = Path(task.plot_dir) / f"{file_stem(task)}.png"
        title = plot_title(task.label, task.strategy, report)
        plot_replay(jobs, sim.scheduler.cluster, path, title)
    return SimResult(task, report, seconds)


# Records are handed to each worker once, when it starts, not with every task.
_WORKER_INPUT: tuple[Sequence[TraceRecord], TraceStats] | None = None


def _init_worker(records: Sequence[TraceRecord], stats: TraceStats) -> None:
    global _WORKER_INPUT
    _WORKER_INPUT = (records, stats)


def _run_in_worker(task: SimTask) -> SimResult:
    assert _WORKER_INPUT is not None
    return run_task(task, *_WORKER_INPUT)


def run_all(
    tasks: Sequence[SimTask], records: Sequence[TraceRecord], stats: TraceStats, jobs: int
) -> list[SimResult]:
    """Run every task, `jobs` at a time in worker processes (in this one when 1); results
    come back in task order whatever order they finish in."""
    workers = max(1, min(jobs, len(tasks)))
    if workers == 1:
        return [run_task(task, records, stats) for task in tasks]
    # Through the module's import name, so workers find the functions even when this file
    # runs as __main__ (python -m) under a `spawn` start method.
    from storalloc.sim import sweep as engine

    with ProcessPoolExecutor(
        max_workers=workers, initializer=engine._init_worker, initargs=(records, stats)
    ) as pool:
        return list(pool.map(engine._run_in_worker, tasks))


def file_stem(task: SimTask) -> str:
    """`<system label>-<strategy>`, safe as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{task.label}-{task.strategy}")


def system_labels(paths: Sequence[str]) -> list[str]:
    """File stems, or the paths as given when two files share a stem."""
    stems = [Path(p).stem for p in paths]
    return [s if stems.count(s) == 1 else p for s, p in zip(stems, paths, strict=True)]


COLUMNS = (
    ("system", "<", lambda r, t: t.label),
    ("strategy", "<", lambda r, t: t.strategy),
    ("requests", ">", lambda r, t: f"{r['requests_count']:,}"),
    ("granted", ">", lambda r, t: f"{r['granted_requests_count']:,}"),
    ("refused", ">", lambda r, t: f"{r['refused_requests_count']:,}"),
    ("split", ">", lambda r, t: f"{r['split_requests_count']:,}"),
    ("delayed", ">", lambda r, t: f"{r['delayed_requests_count']:,}"),
    ("delay min", ">", lambda r, t: f"{r['tt_delay_time_minutes']:,.1f}"),
    ("p99 wait min", ">", lambda r, t: f"{r['wait_time_minutes']['p99']:,.1f}"),
    ("max conc", ">", lambda r, t: f"{r['max_concurrent_allocations']:,}"),
    ("allocated GB", ">", lambda r, t: f"{r['tt_allocated_gb']:,.1f}"),
    ("mean use", ">", lambda r, t: percent(r["mean_capacity_utilisation"])),
    ("busy use", ">", lambda r, t: percent(r.get("busy_mean_capacity_utilisation", 0.0))),
    ("peak use", ">", lambda r, t: percent(r["max_cap_utilisation"])),
)


def comparison_table(results: Sequence[SimResult]) -> str:
    """One row per system × strategy."""
    rows = [[str(cell(res.report, res.task)) for _, _, cell in COLUMNS] for res in results]
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, (name, _, _) in
              enumerate(COLUMNS)]  # fmt: skip

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{COLUMNS[i][1]}{widths[i]}}" for i, c in enumerate(cells)).rstrip()

    out = [line([name for name, _, _ in COLUMNS]), "  ".join("-" * w for w in widths)]
    return "\n".join(out + [line(row) for row in rows])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m storalloc.sim.sweep",
        description="Replay a trace in one process on one or more systems with one or more "
        "strategies, and compare the results (same reports as client.py --trace).",
    )
    # fmt: off
    parser.add_argument("trace", metavar="TRACE", help="trace file (or Darshan log directory)")
    parser.add_argument("--system", action="append", required=True, metavar="SYS.yml",
                        help="system YAML (repeat to compare systems)")
    parser.add_argument("--strategy", action="append", metavar="NAME",
                        help="placement strategy (repeat to compare; default: the config's)")
    parser.add_argument("--block-size", type=float, metavar="GB",
                        help="split requests into parts of at most GB (default: the config's)")
    parser.add_argument("--orchestrator-config", metavar="CFG",
                        help="orchestrator YAML for block_size, seed, strategy options, ...")
    add_trace_read_options(parser)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="simulations run in parallel (default: number of CPUs)")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="write each report as DIR/<system>-<strategy>.yml")
    parser.add_argument("--plot", metavar="DIR",
                        help="draw DIR/<system>-<strategy>.png (needs matplotlib)")
    # fmt: on
    add_verbosity(parser)
    return parser


def _prepare(args: argparse.Namespace) -> tuple[list[SimTask], list[TraceRecord], TraceStats]:
    """Check everything that can be wrong before any simulation starts."""
    cfg = load_config(args.orchestrator_config)
    strategies = args.strategy or [cfg.sched_strategy]
    for name in strategies:
        strategy_for(cfg, name)
    for path in args.system:
        load_system(path)
    if args.block_size is not None and not args.block_size >= 0:
        raise ValueError(f"--block-size: expected a number of GB >= 0, got {args.block_size}")
    if args.jobs < 1:
        raise ValueError(f"--jobs: expected at least 1, got {args.jobs}")
    for directory in (args.report_dir, args.plot):
        if directory:
            os.makedirs(directory, exist_ok=True)
    if args.plot:
        from storalloc.sim.plot import require_matplotlib

        require_matplotlib()
    records, stats = read_trace_with_stats(
        args.trace, args.trace_format, skip_bad=args.skip_bad, gb_per_proc=args.gb_per_proc,
        gb_per_core_hour=args.gb_per_core_hour,
        on_skip=lambda exc: error(PROG, f"skipping bad record: {exc}"),
    )  # fmt: skip
    tasks = [
        SimTask(path, label, name, args.orchestrator_config, args.block_size, args.plot)
        for path, label in zip(args.system, system_labels(args.system), strict=True)
        for name in strategies
    ]
    return tasks, records, stats


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    from storalloc.sim.plot import PlotUnavailable

    try:
        tasks, records, stats = _prepare(args)
    except (ConfigError, registry.PluginError, TraceError, PlotUnavailable, ValueError,
            OSError) as exc:  # fmt: skip
        error(PROG, str(exc))
        return EXIT_FAILED
    began = time.perf_counter()
    results = run_all(tasks, records, stats, args.jobs)
    if len(results) == 1:
        print(format_report(results[0].report), end="\n\n")
    print(comparison_table(results), flush=True)
    if args.report_dir:
        for res in results:
            write_report(res.report, Path(args.report_dir) / f"{file_stem(res.task)}.yml")
    if not args.quiet:
        took = ", ".join(f"{file_stem(r.task)} {r.seconds:.2f} s" for r in results)
        print(f"{PROG}: {len(records):,} records, {len(results)} simulation(s) in "
              f"{time.perf_counter() - began:.2f} s ({took})", file=sys.stderr)  # fmt: skip
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
