"""The seeded synthetic trace generator: determinism, shape, writers and CLI."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from storalloc.sim.traces import TraceRecord, read_trace
from storalloc.sim.traces.synthetic import (
    DEFAULT_START,
    WorkloadShape,
    generate,
    main,
)

DAY = 86400.0


@pytest.fixture(scope="module")
def year() -> list[TraceRecord]:
    return generate(24001, seed=1)


def test_same_seed_same_records() -> None:
    assert generate(500, seed=7) == generate(500, seed=7)


def test_different_seed_different_records() -> None:
    first, second = generate(500, seed=7), generate(500, seed=8)
    assert first != second
    assert [r.capacity for r in first] != [r.capacity for r in second]


def test_records_are_valid_sorted_and_uniquely_named(year: list[TraceRecord]) -> None:
    assert len(year) == 24001
    assert year == sorted(year, key=lambda r: (r.submit, r.id))
    assert len({r.id for r in year}) == len(year)
    assert year[0].submit == DEFAULT_START
    assert all(r.start is None and r.capacity > 0 and r.duration > 0 for r in year)


def test_shape_resembles_the_prototype_year(year: list[TraceRecord]) -> None:
    capacities = [r.capacity for r in year]
    durations = [r.duration for r in year]
    span_days = (year[-1].submit - year[0].submit) / DAY
    assert 330 <= span_days <= 400  # the prototype: 364.8 days
    assert 10 <= statistics.median(capacities) <= 50  # a few tens of GB
    assert 50 <= statistics.mean(capacities) <= 90  # the prototype: ~68 GB
    assert 10 <= sum(c > 8000 for c in capacities) <= 80  # the prototype: 38 above 8 TB
    assert max(capacities) <= 16000
    assert min(durations) >= 300 and max(durations) <= DAY
    assert statistics.median(durations) < 6 * 3600
    assert len({r.user for r in year}) > 10


def test_december_burst_packs_more_requests_into_the_window() -> None:
    calm = generate(24001, seed=3)
    busy = generate(24001, seed=3, burst=True)

    def in_window(records: list[TraceRecord]) -> int:
        return sum(
            DEFAULT_START + 334 * DAY <= r.submit < DEFAULT_START + 348 * DAY for r in records
        )

    assert in_window(busy) > 1.8 * in_window(calm)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="mean_interarrival"):
        generate(3, seed=1, mean_interarrival=0)
    with pytest.raises(ValueError, match="max_gb"):
        generate(3, seed=1, shape=WorkloadShape(tail_min_gb=100, max_gb=50))
    assert generate(0, seed=1) == []


def test_cli_writes_csv_and_yaml_that_read_back(tmp_path: Path) -> None:
    expected = generate(50, seed=3, start=1e9)
    for name in ("t.csv", "t.yaml"):
        assert (
            main(
                [
                    "-n",
                    "50",
                    "--seed",
                    "3",
                    "--start",
                    "2001-09-09T01:46:40",
                    "-o",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
        assert read_trace(tmp_path / name) == expected


def test_cli_reports_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-n", "2", "-o", str(tmp_path / "missing" / "t.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_python_dash_m_runs_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "trace.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "storalloc.sim.traces.synthetic",
            "-n",
            "20",
            "--seed",
            "1",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert read_trace(out) == generate(20, seed=1)
