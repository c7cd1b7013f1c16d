"""Standard Workload Format: fields used, fallbacks, capacity model, malformed lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from storalloc.sim.traces import TraceError, TraceRecord, read_trace, read_trace_with_stats

DATA = Path(__file__).parent / "data" / "traces"
START = 1577836800.0  # the file's "; UnixStartTime:"


def line(*fields: object) -> str:
    return " ".join(str(f) for f in fields) + "\n"


# job, submit, wait, run, alloc, cpu, mem, req procs, req time, req mem, status, user, ...
GOOD = line(1, 0, 10, 3600, 4, -1, -1, 4, 7200, -1, 1, 7, 1, -1, 1, -1, -1, -1)


def test_swf_values_computed_by_hand() -> None:
    records = read_trace(DATA / "tiny.swf", gb_per_proc=2.5)
    assert records == [
        TraceRecord("1", START, None, 3600.0, 4 * 2.5, "7"),
        # allocated processors -1: the 8 requested; run time -1: the 1800 s requested.
        TraceRecord("2", START + 60, None, 1800.0, 8 * 2.5, "12"),
        # a run time of 0 s lasts 1 s; user -1 is unknown.
        TraceRecord("3", START + 120, None, 1.0, 2 * 2.5, "trace"),
    ]


def test_default_capacity_is_one_gb_per_processor() -> None:
    assert [r.capacity for r in read_trace(DATA / "tiny.swf")] == [4.0, 8.0, 2.0]


def test_no_unix_start_time_means_zero(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text("; no start time here\n" + GOOD)
    assert read_trace(path)[0].submit == 0.0


def test_truncated_swf_names_the_line() -> None:
    with pytest.raises(TraceError) as info:
        read_trace(DATA / "truncated.swf")
    assert str(info.value) == (
        f"{DATA / 'truncated.swf'}:10: fields: expected 18 whitespace-separated values "
        "(truncated line?), got 8"
    )


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (
            line(2, 5, 0, -1, 4, -1, -1, 4, -1, -1, 1, 7, 1, -1, 1, -1, -1, -1),
            "fields 4/9 (run time): expected seconds >= 0, got '-1'",
        ),
        (
            line(2, 5, 0, 60, -1, -1, -1, -1, 60, -1, 1, 7, 1, -1, 1, -1, -1, -1),
            "fields 5/8 (processors): expected a count > 0, got '-1'",
        ),
        (
            line(2, "x", 0, 60, 1, -1, -1, 1, 60, -1, 1, 7, 1, -1, 1, -1, -1, -1),
            "field 2: expected a number, got 'x'",
        ),
        (
            line(2, -1, 0, 60, 1, -1, -1, 1, 60, -1, 1, 7, 1, -1, 1, -1, -1, -1),
            "field 2 (submit time): expected seconds >= 0, got '-1'",
        ),
        (line(*range(1, 20)), "got 19"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, bad: str, needle: str) -> None:
    path = tmp_path / "t.swf"
    path.write_text("; UnixStartTime: 100\n" + GOOD + bad)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert needle in str(info.value)


def test_skip_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text(GOOD + "1 2 3\n" + GOOD.replace("1 0 10", "2 30 10", 1))
    records, stats = read_trace_with_stats(path, skip_bad=True, on_skip=lambda e: None)
    assert [(r.id, r.submit) for r in records] == [("1", 0.0), ("2", 30.0)]
    assert stats.skipped_bad == 1


def test_gb_per_proc_must_be_positive() -> None:
    with pytest.raises(ValueError, match="gb_per_proc"):
        read_trace(DATA / "tiny.swf", gb_per_proc=0)
