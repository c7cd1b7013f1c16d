"""Seeded synthetic traces shaped like the prototype's year of I/O jobs, and their CLI."""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from storalloc.sim.traces.base import TraceRecord
from storalloc.sim.traces.fields import FieldError, parse_time
from storalloc.sim.traces.native import write_native_csv, write_native_yaml

__all__ = ["WorkloadShape", "generate", "main", "write_native_csv", "write_native_yaml"]

DAY = 86400.0
DEFAULT_START = 1577836800.0  # 2020-01-01T00:00:00Z, the year the prototype replayed
YEAR_REQUESTS = 24001
# The prototype's trace: 24,001 requests over 364.8 days.
DEFAULT_MEAN_INTERARRIVAL = 364.8 * DAY / YEAR_REQUESTS


@dataclass(frozen=True, slots=True)
class WorkloadShape:
    """Distributions of a synthetic trace; the defaults mimic the prototype's 2020 workload.

    Capacity mixes a log-normal body (median ``median_gb``) with a rare log-uniform
    tail between ``tail_min_gb`` and ``max_gb``: about 38 of 24,001 requests above
    8 TB and a mean near 68 GB. Durations are log-normal, clamped to
    [``min_duration``, ``max_duration``] seconds.
    """

    median_gb: float = 20.0
    sigma: float = 1.1
    tail_fraction: float = 0.0048
    tail_min_gb: float = 2000.0
    max_gb: float = 16000.0
    median_duration: float = 2 * 3600.0
    duration_sigma: float = 1.2
    min_duration: float = 300.0
    max_duration: float = DAY
    users: int = 50
    # Early December for a trace starting on 1 January: arrivals this many times faster.
    burst_days: tuple[float, float] = (334.0, 348.0)
    burst_factor: float = 2.4

    def check(self) -> None:
        """Raise ValueError naming the first impossible parameter."""
        positive = ("median_gb", "sigma", "tail_min_gb", "median_duration", "min_duration")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected a number > 0, got {getattr(self, name)!r}")
        if not 0 <= self.tail_fraction <= 1:
            raise ValueError(f"tail_fraction: expected 0..1, got {self.tail_fraction!r}")
        if not self.tail_min_gb < self.max_gb:
            raise ValueError(f"max_gb: expected more than tail_min_gb, got {self.max_gb!r}")
        if not self.min_duration <= self.max_duration:
            raise ValueError(f"max_duration: expected >= min_duration, got {self.max_duration!r}")
        if self.users < 1:
            raise ValueError(f"users: expected at least 1, got {self.users!r}")
        if not self.burst_factor > 0:
            raise ValueError(f"burst_factor: expected a number > 0, got {self.burst_factor!r}")


def _capacity(rng: random.Random, shape: WorkloadShape) -> float:
    if rng.random() < shape.tail_fraction:
        gb = math.exp(rng.uniform(math.log(shape.tail_min_gb), math.log(shape.max_gb)))
    else:
        gb = rng.lognormvariate(math.log(shape.median_gb), shape.sigma)
        while gb >= shape.tail_min_gb:  # redraw rather than pile mass on the boundary
            gb = rng.lognormvariate(math.log(shape.median_gb), shape.sigma)
    return max(round(gb, 3), 0.001)


def _duration(rng: random.Random, shape: WorkloadShape) -> float:
    seconds = rng.lognormvariate(math.log(shape.median_duration), shape.duration_sigma)
    return float(round(min(max(seconds, shape.min_duration), shape.max_duration)))


def generate(
    n: int,
    *,
    seed: int,
    start: float = DEFAULT_START,
    mean_interarrival: float = DEFAULT_MEAN_INTERARRIVAL,
    burst: bool = False,
    shape: WorkloadShape | None = None,
) -> list[TraceRecord]:
    """Generate ``n`` requests, reproducible for a given ``seed``, sorted by submit time.

    Arrivals are Poisson with ``mean_interarrival`` seconds from ``start`` (epoch s);
    ``burst`` speeds arrivals up during ``shape.burst_days`` (days after ``start``).
    Every request asks to start as soon as possible (``start=None``).
    """
    shape = shape or WorkloadShape()
    shape.check()
    if n < 0 or not mean_interarrival > 0:
        raise ValueError(f"expected n >= 0 and mean_interarrival > 0, got {n}, {mean_interarrival}")
    rng = random.Random(seed)
    # Zipf-like popularity: a few users submit most of the jobs, as on real clusters.
    weights = [1.0 / rank for rank in range(1, shape.users + 1)]
    user_names = [f"user{k:03d}" for k in range(shape.users)]
    width = len(str(n))
    first, last = (start + d * DAY for d in shape.burst_days)
    records, now = [], start
    for index in range(n):
        records.append(
            TraceRecord(
                id=f"{index + 1:0{width}d}",
                submit=round(now, 3),
                start=None,
                duration=_duration(rng, shape),
                capacity=_capacity(rng, shape),
                user=rng.choices(user_names, weights)[0],
            )
        )
        rate = shape.burst_factor if burst and first <= now < last else 1.0
        now += rng.expovariate(rate / mean_interarrival)
    return records


def _parse_start(text: str) -> float:
    try:
        return parse_time("--start", text)
    except FieldError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m storalloc.sim.traces.synthetic",
        description="Write a seeded synthetic Storalloc trace (native CSV or YAML).",
    )
    parser.add_argument("-n", type=int, default=YEAR_REQUESTS, help="requests (default 24001)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("-o", "--output", default="-", help="file (.csv, .yml, .yaml) or - (CSV)")
    parser.add_argument(
        "--start",
        type=_parse_start,
        default=DEFAULT_START,
        help="first submit time: epoch seconds or ISO-8601 (default 2020-01-01)",
    )
    parser.add_argument(
        "--mean-interarrival",
        type=float,
        default=DEFAULT_MEAN_INTERARRIVAL,
        help="mean seconds between submissions (default ~1313, a year for 24001)",
    )
    parser.add_argument(
        "--december-burst",
        action="store_true",
        help="arrive 2.4x faster 334-348 days after --start",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m storalloc.sim.traces.synthetic -n 24001 -o t.csv``."""
    args = _parser().parse_args(argv)
    try:
        records = generate(
            args.n,
            seed=args.seed,
            start=args.start,
            mean_interarrival=args.mean_interarrival,
            burst=args.december_burst,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    target = sys.stdout if args.output == "-" else args.output
    as_yaml = Path(args.output).suffix.lower() in (".yml", ".yaml")
    try:
        (write_native_yaml if as_yaml else write_native_csv)(records, target)
    except OSError as err:
        print(f"error: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
