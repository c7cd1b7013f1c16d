"""Darshan logs through PyDarshan, checked against the example logs its wheel ships."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from storalloc.sim.traces import TraceError, read_trace, read_trace_with_stats
from storalloc.sim.traces.darshan_format import region_ok
from storalloc.sim.traces.darshan_logs import MISSING, written_bytes

SKIP = "the optional package 'darshan' (PyDarshan) is not installed"


def log(name: str) -> str:
    """Path of an example log shipped in PyDarshan's wheel (skips when PyDarshan is absent)."""
    pytest.importorskip("darshan", reason=SKIP)
    from darshan.log_utils import get_log_path

    return get_log_path(name)


EXAMPLE = "example.darshan"  # POSIX, MPI-IO, STDIO and LUSTRE; 2048 processes
NO_POSIX = "noposix.darshan"  # STDIO only
MACSIO = "shane_macsio_id29959_5-22-32552-7035573431850780836_1590156158.darshan"  # no STDIO
READ_AB_WRITE_C = "pq_app_readAB_writeC_id71326_7-31-5658-2037904274838284930_55623.darshan"
LOGS = (EXAMPLE, NO_POSIX, MACSIO, READ_AB_WRITE_C, "sample-badost.darshan", "dxt.darshan")


def module_bytes(path: str) -> dict[str, int]:
    """Bytes written per module, summed from PyDarshan's pandas record dataframes."""
    counters = {
        "POSIX": "POSIX_BYTES_WRITTEN",
        "STDIO": "STDIO_BYTES_WRITTEN",
        "MPI-IO": "MPIIO_BYTES_WRITTEN",
    }
    totals = {}
    darshan = pytest.importorskip("darshan", reason=SKIP)
    with darshan.DarshanReport(path, read_all=False) as report:
        for module, counter in counters.items():
            if module in report.modules:
                report.mod_read_all_records(module, dtype="pandas")
                frame = report.records[module][0]["counters"]
                totals[module] = int(frame[counter].sum())
    return totals


def job_of(path: str) -> dict[str, object]:
    darshan = pytest.importorskip("darshan", reason=SKIP)
    with darshan.DarshanReport(path, read_all=False) as report:
        return dict(report.metadata["job"])


@pytest.mark.parametrize("name", LOGS)
def test_one_request_per_log_from_the_job_record(name: str) -> None:
    path = log(name)
    job = job_of(path)
    totals = module_bytes(path)
    base = totals["POSIX"] if "POSIX" in totals else totals.get("MPI-IO", 0)
    expected_gb = (base + totals.get("STDIO", 0)) / 1e9
    start = job["start_time_sec"] + job["start_time_nsec"] / 1e9
    end = job["end_time_sec"] + job["end_time_nsec"] / 1e9

    [record] = read_trace(path)
    assert record.id == name.removesuffix(".darshan")
    assert record.submit == record.start == start
    assert record.duration == max(end - start, 1.0)
    assert record.capacity == pytest.approx(expected_gb, rel=1e-12)
    assert record.user == str(job["uid"])


def test_mpiio_is_not_added_to_posix() -> None:
    path = log(READ_AB_WRITE_C)
    totals = module_bytes(path)
    assert totals["MPI-IO"] > 0  # the log has MPI-IO writes, already counted by POSIX
    [record] = read_trace(path)
    assert record.capacity == pytest.approx((totals["POSIX"] + totals["STDIO"]) / 1e9)
    assert record.capacity != pytest.approx(sum(totals.values()) / 1e9)


def test_log_without_posix_uses_stdio() -> None:
    path = log(NO_POSIX)
    totals = module_bytes(path)
    assert set(totals) == {"STDIO"}
    assert read_trace(path)[0].capacity == pytest.approx(totals["STDIO"] / 1e9)


def test_written_bytes_rule() -> None:
    assert written_bytes({"POSIX": 10, "STDIO": 5, "MPI-IO": 100}) == 15
    assert written_bytes({"MPI-IO": 100, "STDIO": 5}) == 105  # no POSIX module: MPI-IO
    assert written_bytes({"POSIX": 0, "MPI-IO": 100}) == 0  # POSIX present, even if 0
    assert written_bytes({}) == 0


def test_directory_of_logs_is_one_trace(tmp_path: Path) -> None:
    (tmp_path / "2020" / "3").mkdir(parents=True)
    names = (EXAMPLE, MACSIO, NO_POSIX)
    for index, name in enumerate(names):
        target = tmp_path / ("2020/3" if index else ".") / name
        shutil.copy(log(name), target)
    (tmp_path / "README").write_text("not a log\n")
    records = read_trace(tmp_path)
    one_by_one = [read_trace(log(n))[0] for n in names]
    assert records == sorted(one_by_one, key=lambda r: (r.submit, r.id))
    assert len({r.submit for r in records}) == 3  # so the order checked above is meaningful


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"no \*\.darshan logs"):
        read_trace(tmp_path)


@pytest.mark.parametrize("keep", [0, 10, 100, 359, 400, 1000, 7811, -1])
def test_truncated_log_is_a_trace_error_not_a_crash(tmp_path: Path, keep: int) -> None:
    data = Path(log(EXAMPLE)).read_bytes()
    path = tmp_path / "cut.darshan"
    path.write_bytes(data[:keep])
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "truncated" in str(info.value) or "not a Darshan log" in str(info.value)


@pytest.mark.parametrize("offset", [400, 720, 7900, 9000])
def test_corrupt_log_is_a_trace_error_not_a_crash(tmp_path: Path, offset: int) -> None:
    data = bytearray(Path(log(EXAMPLE)).read_bytes())
    data[offset : offset + 8] = b"\xff" * 8
    path = tmp_path / "bad.darshan"
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError, match="corrupt Darshan log"):
        read_trace(path)


def test_skip_bad_logs_in_a_directory(tmp_path: Path) -> None:
    shutil.copy(log(EXAMPLE), tmp_path / "good.darshan")
    (tmp_path / "bad.darshan").write_bytes(b"2.06 not a Darshan 3 log")
    seen: list[TraceError] = []
    records, stats = read_trace_with_stats(tmp_path, skip_bad=True, on_skip=seen.append)
    assert [r.id for r in records] == ["good"]
    assert stats.skipped_bad == 1
    assert str(seen[0]) == (
        f"{tmp_path / 'bad.darshan'}: not a Darshan 2 log (unsupported): "
        "expected a Darshan 3.x log header"
    )


def test_region_check_accepts_concatenated_streams_and_catches_damage() -> None:
    import bz2
    import zlib

    two = zlib.compress(b"a" * 1000) + zlib.compress(b"b" * 10)
    assert region_ok(two, 0)
    assert not region_ok(two[:-3], 0)
    assert region_ok(bz2.compress(b"x" * 5000), 1)
    assert not region_ok(bz2.compress(b"x" * 5000)[:-5], 1)
    assert region_ok(b"raw", 2)  # uncompressed: nothing to check


def test_missing_darshan_package_gives_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "darshan", None)  # makes `import darshan` fail
    (tmp_path / "job.darshan").write_bytes(b"3.21")
    with pytest.raises(TraceError) as info:
        read_trace(tmp_path)  # a directory: Darshan logs
    assert MISSING in str(info.value)
    assert MISSING == (
        "reading Darshan logs needs the optional package 'darshan' (pip install darshan)"
    )


class FakeReport:
    """Stands in for darshan.DarshanReport to reach branches no example log has."""

    totals: ClassVar[dict[str, int]] = {}
    job: ClassVar[dict[str, object]] = {}

    def __init__(self, path: str, read_all: bool) -> None:
        self.metadata = {"job": self.job}
        self.modules = {m: {} for m in self.totals}
        self.counters: dict[str, dict[str, list[str]]] = {}
        self.records: dict[str, list[dict[str, list[int]]]] = {}

    def __enter__(self) -> FakeReport:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def mod_read_all_records(self, module: str, dtype: str) -> None:
        name = {"POSIX": "POSIX_BYTES_WRITTEN", "STDIO": "STDIO_BYTES_WRITTEN"}.get(
            module, "MPIIO_BYTES_WRITTEN"
        )
        self.counters[module] = {"counters": ["OTHER", name]}
        half = self.totals[module] // 2
        # Two records per module, one with the "not recorded" value -1 that must not count.
        self.records[module] = [
            {"counters": [7, half]},
            {"counters": [7, self.totals[module] - half]},
            {"counters": [7, -1]},
        ]


@pytest.fixture
def fake_darshan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding one real (valid) log, read through FakeReport."""
    shutil.copy(log(EXAMPLE), tmp_path / "job.darshan")
    fake = types.ModuleType("darshan")
    fake.DarshanReport = FakeReport  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "darshan", fake)
    job = {"uid": 42, "start_time_sec": 100, "start_time_nsec": 500_000_000}
    monkeypatch.setattr(FakeReport, "job", {**job, "end_time_sec": 100, "end_time_nsec": 0})
    return tmp_path


def test_log_without_posix_falls_back_to_mpiio(
    fake_darshan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeReport, "totals", {"MPI-IO": 3_000_000_000, "STDIO": 5})
    [record] = read_trace(fake_darshan)
    assert record.capacity == 3.000000005
    assert record.submit == record.start == 100.5
    assert record.duration == 1.0  # end before the precise start: at least 1 s
    assert record.user == "42"


def test_log_that_wrote_nothing_is_skipped_and_counted(
    fake_darshan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeReport, "totals", {"POSIX": 0, "MPI-IO": 10})
    records, stats = read_trace_with_stats(fake_darshan)
    assert records == []
    assert (stats.skipped_zero, stats.skipped_bad) == (1, 0)


def test_user_name_in_the_job_metadata_wins_over_uid(
    fake_darshan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeReport, "totals", {"POSIX": 10**9})
    monkeypatch.setitem(FakeReport.job, "metadata", {"user": "alice"})
    assert read_trace(fake_darshan)[0].user == "alice"
