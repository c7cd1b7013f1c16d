"""Time the SWF reader on an archive-sized file (188,000 jobs, as the larger Parallel
Workloads Archive logs): `python bench/swf_read_timing.py [JOBS]`."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storalloc.sim.traces import read_trace_with_stats


def write_archive(path: Path, jobs: int, seed: int = 1) -> None:
    """Spec-shaped lines: fixed-width columns, checkpointed and cancelled jobs mixed in."""
    rng = random.Random(seed)
    lines = ["; Version: 2.2", "; UnixStartTime: 1262304000", "; MaxNodes: 1024",
             "; MaxProcs: 8192", ";"]  # fmt: skip
    submit = 0
    for job in range(1, jobs + 1):
        submit += rng.randint(0, 120)
        procs, run = rng.choice((1, 8, 64, 512)), rng.randint(1, 86400)
        status = rng.choices((1, 0, 5), (90, 7, 3))[0]
        if status == 5 and rng.random() < 0.5:
            run = -1  # cancelled while queued
        wait, user = rng.randint(0, 9999), rng.randint(1, 500)
        lines.append(f"{job:6d} {submit:9d} {wait:6d} {run:6d} {procs:5d} -1 -1 {procs:5d} "
                     f"{abs(run) * 2:6d} -1 {status} {user:4d} 1 -1 1 1 -1 -1")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 188_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.swf"
        write_archive(path, jobs)
        began = time.perf_counter()
        records, stats = read_trace_with_stats(path)
        took = time.perf_counter() - began
    print(f"{jobs:,} SWF jobs: {len(records):,} requests, {stats.skipped_zero:,} never ran, "
          f"read in {took:.2f} s ({jobs / took:,.0f} jobs/s)")


if __name__ == "__main__":
    main()
