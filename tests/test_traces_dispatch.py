"""read_trace: format guessing, sorting, skip_bad reporting, errors common to all formats."""

from __future__ import annotations

import gzip
import logging
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from storalloc.sim.traces import (
    FORMATS,
    TraceError,
    TraceRecord,
    guess_format,
    read_trace,
    read_trace_with_stats,
)

DATA = Path(__file__).parent / "data" / "traces"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("native.yml", "native-yaml"),
        ("native.csv", "native-csv"),
        ("IOJobs.yml", "iojobs"),
        ("tiny.swf", "swf"),
    ],
)
def test_guess_from_the_file_name(name: str, fmt: str) -> None:
    assert guess_format(DATA / name) == fmt


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("native.yml", "native-yaml"),
        ("native.csv", "native-csv"),
        ("IOJobs.yml", "iojobs"),
        ("tiny.swf", "swf"),
    ],
)
def test_guess_from_the_content_when_the_suffix_says_nothing(
    tmp_path: Path, name: str, fmt: str
) -> None:
    copy = tmp_path / "trace.txt"
    shutil.copy(DATA / name, copy)
    assert guess_format(copy) == fmt
    assert read_trace(copy) == read_trace(DATA / name)


def test_directory_is_darshan_logs(tmp_path: Path) -> None:
    assert guess_format(tmp_path) == "darshan"


def test_gzipped_traces_are_read(tmp_path: Path) -> None:
    for name in ("native.csv", "tiny.swf", "IOJobs.yml"):
        packed = tmp_path / f"{name}.gz"
        packed.write_bytes(gzip.compress((DATA / name).read_bytes()))
        assert read_trace(packed) == read_trace(DATA / name)


def test_truncated_gzip_is_a_trace_error(tmp_path: Path) -> None:
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress((DATA / "native.csv").read_bytes())[:-12])
    with pytest.raises(TraceError, match=r"t\.csv\.gz.*cannot read"):
        read_trace(packed)


def test_unknown_content_cannot_be_guessed(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello world\n")
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value).startswith(f"{path}: cannot tell the trace format")
    assert ", ".join(FORMATS) in str(info.value)


def test_yaml_without_known_keys_cannot_be_guessed(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("stuff: 1\n")
    with pytest.raises(TraceError, match="top-level key 'requests' or 'jobs'"):
        guess_format(path)


def test_explicit_format_wins_over_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "trace.yml"
    shutil.copy(DATA / "native.csv", path)
    assert read_trace(path, "native-csv") == read_trace(DATA / "native.csv")


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="unknown trace format 'json'"):
        read_trace(DATA / "native.csv", "json")
    with pytest.raises(TraceError) as info:
        read_trace(tmp_path / "nope.csv")
    assert str(info.value) == f"{tmp_path / 'nope.csv'}: no such file or directory"


def test_records_are_sorted_by_submit_then_id(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("submit,duration,capacity,id\n20,1,1,b\n10,1,1,z\n20,1,1,a\n5,1,1,y\n")
    assert [r.id for r in read_trace(path)] == ["y", "z", "a", "b"]


def test_skip_bad_default_reports_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("submit,duration,capacity\n0,60,1\n0,60,-3\n0,60\n")
    with caplog.at_level(logging.WARNING, logger="storalloc.sim.traces"):
        records, stats = read_trace_with_stats(path, skip_bad=True)
    assert records == [TraceRecord("2", 0.0, None, 60.0, 1.0, "trace")]
    assert stats.skipped_bad == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert f"{path}:3: capacity" in warnings[0]
    assert f"{path}:4: expected 3 fields" in warnings[1]


def test_without_skip_bad_the_first_bad_record_raises(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("submit,duration,capacity\n0,60,1\n0,60,-3\n0,60\n")
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert info.value.line == 3
    assert info.value.path == str(path)


def _raise_trace_error() -> None:
    raise TraceError("t.csv", 14, "capacity: expected a positive number, got '-3'")


def test_trace_error_crosses_a_process_pool() -> None:
    # Sweeps read traces in worker processes: their errors must reach the parent intact.
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(TraceError) as info:
        pool.submit(_raise_trace_error).result(timeout=60)
    assert str(info.value) == "t.csv:14: capacity: expected a positive number, got '-3'"
    assert (info.value.path, info.value.line) == ("t.csv", 14)


def test_trace_record_is_frozen_with_slots() -> None:
    record = TraceRecord("a", 0.0, None, 1.0, 1.0, "u")
    assert not hasattr(record, "__dict__")
    with pytest.raises(AttributeError):
        record.capacity = 2.0  # type: ignore[misc]
