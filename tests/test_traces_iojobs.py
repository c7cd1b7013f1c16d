"""The prototype's IOJobs.yml: capacity, duration, zero-byte jobs, malformed jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from storalloc.sim.traces import TraceError, TraceRecord, read_trace, read_trace_with_stats

DATA = Path(__file__).parent / "data" / "traces"
MARCH1 = 1577836800.0 + 60 * 86400  # 2020-03-01T00:00:00Z: 31 + 29 days after 1 January


def job(job_id: str, start: str, end: str, written: str, read: str) -> str:
    return (
        f"- id: {job_id}\n  startTime: '{start}'\n  endTime: '{end}'\n"
        f"  writtenBytes: {written}\n  readBytes: {read}\n"
    )


def test_iojobs_values_computed_by_hand() -> None:
    records, stats = read_trace_with_stats(DATA / "IOJobs.yml")
    assert records == [
        # end == start: a job shorter than the 1 s resolution lasts 1 s.
        TraceRecord("1000", MARCH1, None, 1.0, 3.5, "trace"),  # max(1000 B, 3.5 GB read)
        TraceRecord("1001", MARCH1 + 10 * 3600, None, 2.5 * 3600, 250.0, "trace"),
    ]
    assert stats.skipped_zero == 1  # job 1002 moved no byte
    assert stats.skipped_bad == 0


def test_unquoted_times_are_read_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "IOJobs.yml"
    path.write_text(
        "jobs:\n- {id: 7, startTime: 2020-03-01 00:00:00, endTime: 2020-03-01 "
        "00:01:00, writtenBytes: 2e9, readBytes: 0}\n"
    )
    assert read_trace(path) == [TraceRecord("7", MARCH1, None, 60.0, 2.0, "trace")]


def test_truncated_iojobs_names_the_cut_job_line() -> None:
    with pytest.raises(TraceError) as info:
        read_trace(DATA / "truncated_iojobs.yml")
    assert str(info.value) == (
        f"{DATA / 'truncated_iojobs.yml'}:14: "
        "job '1000': startTime: missing (the field is required)"
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            job("9", "2020-03-01 10:00:00", "2020-03-01 09:00:00", "1", "1"),
            "job '9': endTime: expected a time at or after startTime (2020-03-01T10:00:00Z)",
        ),
        (
            job("9", "2020-03-01 10:00:00", "2020-03-01 11:00:00", "-5", "1"),
            "job '9': writtenBytes: expected a number of bytes >= 0, got '-5'",
        ),
        (
            job("9", "March 1st", "2020-03-01 11:00:00", "1", "1"),
            "job '9': startTime: expected epoch seconds or an ISO-8601 time",
        ),
        (
            job("9", "2020-03-01 10:00:00", "2020-03-01 11:00:00", "many", "1"),
            "job '9': writtenBytes: expected a number of bytes >= 0, got 'many'",
        ),
    ],
)
def test_bad_job_names_file_line_and_job(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "IOJobs.yml"
    good = job("1", "2020-03-01 10:00:00", "2020-03-01 11:00:00", "1", "1")
    path.write_text("jobs:\n" + good + body)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value).startswith(f"{path}:7: {needle}")


def test_skip_bad_keeps_the_good_jobs_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "IOJobs.yml"
    path.write_text(
        "jobs:\n"
        + job("1", "2020-03-01 10:00:00", "2020-03-01 11:00:00", "1e9", "0")
        + job("2", "2020-03-01 10:00:00", "2020-03-01 09:00:00", "1", "1")
        + job("3", "2020-03-01 10:00:00", "2020-03-01 11:00:00", "0", "0")
        + job("1", "2020-03-02 10:00:00", "2020-03-02 11:00:00", "1e9", "0")
    )
    seen: list[TraceError] = []
    records, stats = read_trace_with_stats(path, skip_bad=True, on_skip=seen.append)
    assert [r.id for r in records] == ["1"]
    assert (stats.skipped_bad, stats.skipped_zero) == (2, 1)
    assert [e.line for e in seen] == [7, 17]
    assert "duplicate id '1' (first at line 2)" in str(seen[1])


def test_document_without_jobs_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "IOJobs.yml"
    path.write_text("jobs: 3\n")
    with pytest.raises(TraceError, match="expected a mapping with a list 'jobs'"):
        read_trace(path, "iojobs")
