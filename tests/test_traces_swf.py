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
    records, stats = read_trace_with_stats(DATA / "tiny.swf", gb_per_proc=2.5)
    assert records == [
        # submit 0 + wait 10: the request comes when the job started.
        TraceRecord("1", START + 10, None, 3600.0, 4 * 2.5, "7"),
        # allocated processors -1: the 8 requested; run time -1: the 1800 s requested.
        TraceRecord("2", START + 60, None, 1800.0, 8 * 2.5, "12"),
    ]
    assert stats.skipped_zero == 1  # job 3: cancelled (status 5) before it ran (0 s)


def test_default_capacity_is_one_gb_per_processor() -> None:
    assert [r.capacity for r in read_trace(DATA / "tiny.swf")] == [4.0, 8.0]


def test_no_unix_start_time_means_zero(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text("; no start time here\n" + GOOD)
    assert read_trace(path)[0].submit == 10.0


ARCHIVE_START = 1262304000.0


def test_archive_shaped_file() -> None:
    records, stats = read_trace_with_stats(DATA / "archive.swf")
    assert records == [
        TraceRecord("1", ARCHIVE_START + 30, None, 600.0, 64.0, "3"),
        # checkpointed: the summary line (status 1) is the job; its partial executions
        # (status 2 and 3, same job number) are not jobs of their own, nor duplicates.
        TraceRecord("2", ARCHIVE_START + 180, None, 7000.0, 32.0, "4"),
        # status 5 after 1800 s of run time: it ran, and held its space until cancelled.
        TraceRecord("4", ARCHIVE_START + 250, None, 1800.0, 128.0, "7"),
        # status 0 (failed) after running: its run time counts; wait 0.
        TraceRecord("5", ARCHIVE_START + 300, None, 3600.0, 16.0, "8"),
    ]
    # job 3: cancelled before it ran (status 5, run time -1): no request, counted.
    assert (stats.skipped_zero, stats.skipped_bad) == (1, 0)


def test_unknown_wait_means_the_submit_time(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text(GOOD.replace("1 0 10 3600", "1 50 -1 3600", 1))
    assert read_trace(path)[0].submit == 50.0


def test_more_processors_than_max_procs_is_a_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text("; MaxNodes: 1\n; MaxProcs: 3\n" + GOOD)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value) == (
        f"{path}:3: fields 5/8 (processors): expected at most MaxProcs = 3, got '4'"
    )
    path.write_text("; MaxNodes: 1\n; MaxProcs: 4\n" + GOOD)  # MaxNodes is not a limit
    assert read_trace(path)[0].capacity == 4.0


def test_gb_per_core_hour_model() -> None:
    records = read_trace(DATA / "archive.swf", gb_per_core_hour=0.5)
    # job 1: 64 processors x 600 s = 10.67 core-hours
    assert [r.capacity for r in records] == pytest.approx(
        [0.5 * 64 * 600 / 3600, 0.5 * 32 * 7000 / 3600, 0.5 * 128 * 1800 / 3600, 0.5 * 16]
    )
    with pytest.raises(ValueError, match="gb_per_core_hour"):
        read_trace(DATA / "archive.swf", gb_per_core_hour=-1.0)


def test_reader_options_are_recorded() -> None:
    _, stats = read_trace_with_stats(DATA / "archive.swf", gb_per_core_hour=0.5)
    assert stats.source is not None
    assert stats.source["format"] == "swf"
    assert stats.source["path"] == str((DATA / "archive.swf").resolve())
    assert stats.source["options"] == {"gb_per_core_hour": 0.5, "gb_per_proc": 1.0,
                                       "skip_bad": False}  # fmt: skip
    import hashlib

    expected = hashlib.sha256((DATA / "archive.swf").read_bytes()).hexdigest()
    assert stats.source["sha256"] == expected


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
    assert [(r.id, r.submit) for r in records] == [("1", 10.0), ("2", 40.0)]
    assert stats.skipped_bad == 1


def test_gb_per_proc_must_be_positive() -> None:
    with pytest.raises(ValueError, match="gb_per_proc"):
        read_trace(DATA / "tiny.swf", gb_per_proc=0)
