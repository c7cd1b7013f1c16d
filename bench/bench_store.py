"""Store benchmark: the commit cost of one lifecycle transition with 100k active jobs.

Fills a fresh SQLite store (WAL) with N active jobs, then times transitions the way the
loop makes them: mark one job changed, flush (one transaction, fsync). Also with several
transitions per flush (a busy loop turn), and with synchronous=NORMAL for comparison.
Results go to doc/benchmarks-store.md.

    .venv/bin/python bench/bench_store.py [--jobs N] [--transitions N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storalloc.core.cluster import Extent
from storalloc.core.jobs import Job, State
from storalloc.orchestrator.store import Store

OUT = Path(__file__).resolve().parent.parent / "doc" / "benchmarks-store.md"
STATES = (State.PENDING, State.CONFIGURING, State.ALLOCATED)


def make_job(i: int) -> Job:
    job = Job(id=i, user=f"user{i % 97}", size=200.0, duration=3600.0, submit=1e9,
              begin=1e9, parts=(100.0, 100.0), request_id=f"req{i:08d}",
              hostnqn="nqn.2014-08.org.nvmexpress:uuid:0000", state=State.ALLOCATED,
              start=1e9)  # fmt: skip
    job.extents = (Extent(i % 125, i % 8, 100.0), Extent((i + 1) % 125, i % 8, 100.0))
    job.exports = [f"j{i}p0", f"j{i}p1"]
    job.connections = [{"type": "nvme", "nqn": f"nqn.2026-11.io.storalloc:n:j{i}p{p}"}
                       for p in range(2)]  # fmt: skip
    return job


def fill(store: Store, jobs: list[Job]) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(jobs), 10_000):
        for job in jobs[start : start + 10_000]:
            store.job_changed(job)
        store.flush()
    return time.perf_counter() - t0


def per_transition(store: Store, jobs: list[Job], count: int, batch: int) -> list[float]:
    """Seconds per transition, one sample per flush of `batch` transitions."""
    samples = []
    for n in range(count // batch):
        t0 = time.perf_counter()
        for k in range(batch):
            job = jobs[(n * batch + k) * 7919 % len(jobs)]
            job.state = STATES[(n + k) % 3]
            store.job_changed(job)
        store.flush()
        samples.append((time.perf_counter() - t0) / batch)
    return samples


def row(label: str, samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return (f"| {label} | {statistics.median(samples) * 1e3:.2f} | {q[98] * 1e3:.2f} | "
            f"{len(samples)} |")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--transitions", type=int, default=2_000)
    ap.add_argument("--dir", help="directory for the database (default: a temporary one)")
    args = ap.parse_args()
    jobs = [make_job(i) for i in range(args.jobs)]
    lines = ["| mode | median ms / transition | p99 ms | flushes |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for sync in ("FULL", "NORMAL"):
            store = Store(Path(tmp) / f"bench-{sync}.db", synchronous=sync)
            filled = fill(store, jobs)
            print(f"synchronous={sync}: filled {args.jobs} jobs in {filled:.1f} s", flush=True)
            for batch in (1, 10, 100):
                samples = per_transition(store, jobs, args.transitions, batch)
                lines.append(row(f"synchronous={sync}, {batch} per flush", samples))
                print(lines[-1], flush=True)
            size = (Path(tmp) / f"bench-{sync}.db").stat().st_size
            store.close()
    text = (f"# Store benchmark\n\nCommit cost per lifecycle transition with {args.jobs:,} "
            f"active jobs in the SQLite store (WAL, a row per job updated in place; "
            f"database of {size / 1e6:.0f} MB). Produced by `{' '.join(sys.argv)}` on "
            f"{time.strftime('%Y-%m-%d')}; the machine is shared, so figures vary.\n\n"
            + "\n".join(lines) + "\n\nFor comparison, issue 10 measured the former JSON "
            "state file at 80 ms per change with 10k active jobs and 613 ms with 50k.\n")
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
