"""Darshan logs through PyDarshan in the reader's worker process: PyDarshan's example logs
(formats 3.10 and 3.21) and logs written by libdarshan-util itself (format 3.41)."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pytest

from storalloc.sim.traces import TraceError, read_trace, read_trace_with_stats
from storalloc.sim.traces import darshan_worker as worker
from storalloc.sim.traces.darshan_format import NARROW, WIDE, check_log, region_ok
from storalloc.sim.traces.darshan_logs import MISSING, written_bytes
from tests.darshan_writer import Job, Writer

SKIP = "the optional package 'darshan' (PyDarshan) is not installed"


def log(name: str) -> str:
    """Path of an example log shipped in PyDarshan's wheel (skips when PyDarshan is absent)."""
    pytest.importorskip("darshan", reason=SKIP)
    from darshan.log_utils import get_log_path

    return get_log_path(name)


EXAMPLE = "example.darshan"  # 3.10: POSIX, MPI-IO, STDIO and LUSTRE; 2048 processes
NO_POSIX = "noposix.darshan"  # STDIO only
MACSIO = "shane_macsio_id29959_5-22-32552-7035573431850780836_1590156158.darshan"  # 3.21
READ_AB_WRITE_C = "pq_app_readAB_writeC_id71326_7-31-5658-2037904274838284930_55623.darshan"
LOGS = (EXAMPLE, NO_POSIX, MACSIO, READ_AB_WRITE_C, "sample-badost.darshan", "dxt.darshan")
STREAMS = {"<STDIN>", "<STDOUT>", "<STDERR>"}


@pytest.fixture(scope="module")
def writer() -> Writer:
    return Writer()


def expected_bytes(path: str) -> tuple[int, dict[str, object]]:
    """The size rule computed independently, from PyDarshan's pandas frames; and the job."""
    import darshan

    counters = {"POSIX": "POSIX_BYTES_WRITTEN", "MPI-IO": "MPIIO_BYTES_WRITTEN",
                "DFS": "DFS_BYTES_WRITTEN", "STDIO": "STDIO_BYTES_WRITTEN"}  # fmt: skip
    per_file: dict[str, dict[int, int]] = {}
    with darshan.DarshanReport(path, read_all=False) as report:
        job = dict(report.metadata["job"])
        report.read_all_generic_records()
        names = report.name_records
        for module, counter in counters.items():
            if module in report.modules:
                frame = report.records[module].to_df()["counters"]
                grouped = frame.clip(lower=0).groupby("id")[counter].sum()
                per_file[module] = {int(i): int(n) for i, n in grouped.items()}
    stdio = sum(n for i, n in per_file.pop("STDIO", {}).items() if names.get(i) not in STREAMS)
    ids = set().union(*per_file.values()) if per_file else set()
    layered = sum(max(f.get(i, 0) for f in per_file.values()) for i in ids)
    return layered + stdio, job


@pytest.mark.parametrize("name", LOGS)
def test_one_request_per_log_from_the_job_record(name: str) -> None:
    path = log(name)
    written, job = expected_bytes(path)
    start = job["start_time_sec"] + job["start_time_nsec"] / 1e9
    [record] = read_trace(path)
    assert record.id == name.removesuffix(".darshan")
    assert record.submit == start and record.start is None
    # Darshan's own run time: end - start + 1 s in these formats (whole seconds).
    assert record.duration == job["run_time"] == job["end_time_sec"] - job["start_time_sec"] + 1
    assert record.capacity == pytest.approx(written / 1e9, rel=1e-12)
    assert record.user == str(job["uid"])


def test_terminal_streams_are_not_storage() -> None:
    path = log(READ_AB_WRITE_C)
    written, _ = expected_bytes(path)
    [record] = read_trace(path)
    assert record.capacity == pytest.approx(written / 1e9)


def test_written_bytes_rule() -> None:
    names = {7: "<STDOUT>", 8: "/out/log.txt"}
    # Same file seen by POSIX and MPI-IO: the larger, not the sum (POSIX may be partial).
    partial = {"POSIX": {1: 78_000}, "MPI-IO": {1: 25_100_000_000}}
    assert written_bytes(partial) == 25_100_000_000
    assert written_bytes({"POSIX": {1: 10, 2: 30}, "MPI-IO": {1: 20}}) == 50
    assert written_bytes({"DFS": {3: 400}, "MPI-IO": {3: 100}}) == 400
    assert written_bytes({"POSIX": {1: 10}, "STDIO": {7: 99, 8: 5}}, names) == 15
    assert written_bytes({}) == 0


def test_format_341_partial_posix_counts_mpiio(
    writer: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = writer.write(tmp_path / "job.darshan", Job(), {
        "POSIX": {"C": 78_000}, "MPI-IO": {"C": 25_100_000_000}}, partial=("POSIX",))  # fmt: skip
    assert check_log(path).version == "3.41"
    # Our own handler: CLI tests before this one may have configured the package's logger.
    logger = logging.getLogger("storalloc.sim.traces")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    monkeypatch.setattr(logger, "level", logging.WARNING)
    logger.addHandler(handler)
    try:
        (record,), stats = read_trace_with_stats(path)
    finally:
        logger.removeHandler(handler)
    assert record.capacity == pytest.approx(25.1)
    assert stats.partial_logs == 1
    assert seen == [f"{path}: Darshan module POSIX is partial (it ran out of memory): its "
                    "bytes may be under-counted"]  # fmt: skip


def test_format_341_rules(writer: Writer, tmp_path: Path) -> None:
    job = Job(start=1_700_000_000, end=1_700_003_600, user="alice")
    path = writer.write(tmp_path / "all.darshan", job, {
        "POSIX": {"A": 1_000, "B": 2_000_000_000},
        "MPI-IO": {"B": 1_500_000_000},
        "DFS": {"C": 3_000_000_000},
        "STDIO": {"<STDOUT>": 10**9, "<STDERR>": 10**9, "C.locktest.0": 7_000},
    })  # fmt: skip
    (record,), stats = read_trace_with_stats(path)
    assert record.capacity == pytest.approx((1_000 + 2e9 + 3e9 + 7_000) / 1e9)
    assert record.duration == 3600.0  # 3.41 run time is end - start
    assert record.submit == 1_700_000_000 and record.start is None
    assert record.user == "alice" and stats.partial_logs == 0


def test_stdout_and_stderr_alone_store_nothing(writer: Writer, tmp_path: Path) -> None:
    path = writer.write(tmp_path / "chatty.darshan", Job(),
                        {"STDIO": {"<STDOUT>": 10**9, "<STDERR>": 5}})  # fmt: skip
    records, stats = read_trace_with_stats(path)
    assert records == [] and stats.skipped_zero == 1


def test_directory_of_logs_is_one_trace(tmp_path: Path, writer: Writer) -> None:
    (tmp_path / "2020" / "3").mkdir(parents=True)
    names = (EXAMPLE, MACSIO, NO_POSIX)
    for index, name in enumerate(names):
        shutil.copy(log(name), tmp_path / ("2020/3" if index else ".") / name)
    writer.write(tmp_path / "2020" / "new.darshan", Job(start=1_800_000_000), {"POSIX": {"A": 5}})
    (tmp_path / "README").write_text("not a log\n")
    records = read_trace(tmp_path)
    one_by_one = [read_trace(log(n))[0] for n in names]
    one_by_one += read_trace(tmp_path / "2020" / "new.darshan")
    assert records == sorted(one_by_one, key=lambda r: (r.submit, r.id))
    assert len({r.submit for r in records}) == 4  # so the order checked above is meaningful


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"no \*\.darshan logs"):
        read_trace(tmp_path)


def test_header_layouts() -> None:
    assert (NARROW.size, WIDE.size) == (360, 1328)
    assert check_log(Path(log(MACSIO))).version == "3.21"
    assert check_log(Path(log(EXAMPLE))).version == "3.10"


@pytest.mark.parametrize(("fmt", "label"), [("3.21", b"3.30"), ("3.41", b"3.40"),
                                           ("3.41", b"3.52")])  # fmt: skip
def test_unseen_versions_are_checked_with_the_layout_that_fits(
    writer: Writer, tmp_path: Path, fmt: str, label: bytes
) -> None:
    data = bytearray(sources(writer, tmp_path)[fmt])
    data[:4] = label
    path = tmp_path / "relabelled.darshan"
    path.write_bytes(bytes(data))
    assert check_log(path).version == label.decode()
    path.write_bytes(bytes(data[: len(data) - 9]))
    with pytest.raises(TraceError, match="truncated or corrupt Darshan log"):
        check_log(path)


def sources(writer: Writer, tmp_path: Path) -> dict[str, bytes]:
    """One log per header layout: a 3.21 example and a 3.41 log with four modules."""
    new = writer.write(tmp_path / "src.darshan", Job(), {
        "POSIX": {"A": 10**6, "C": 5}, "MPI-IO": {"C": 10**9},
        "STDIO": {"<STDOUT>": 3, "B": 70}, "DFS": {"B": 10},
    })  # fmt: skip
    return {"3.21": Path(log(READ_AB_WRITE_C)).read_bytes(), "3.41": new.read_bytes()}


def cut_points(size: int, header: int) -> list[int]:
    return sorted({0, 7, 16, 100, header - 1, header, header + 1, header + 40,
                   *range(header + 60, size, max(1, (size - header) // 25)), size - 1})  # fmt: skip


@pytest.mark.parametrize("fmt", ["3.21", "3.41"])
def test_truncated_logs_are_damaged_not_empty(writer: Writer, tmp_path: Path, fmt: str) -> None:
    data = sources(writer, tmp_path)[fmt]
    header = WIDE.size if fmt == "3.41" else NARROW.size
    cuts = tmp_path / "cuts"
    cuts.mkdir()
    points = cut_points(len(data), header)
    for keep in points:
        (cuts / f"cut{keep:06}.darshan").write_bytes(data[:keep])
    seen: list[TraceError] = []
    records, stats = read_trace_with_stats(cuts, skip_bad=True, on_skip=seen.append)
    assert records == [] and stats.skipped_zero == 0  # none "stored nothing"
    assert stats.skipped_bad == len(points) == len(seen)
    for error in seen:
        assert Path(error.path).parent == cuts
        assert any(w in error.problem for w in ("truncated", "corrupt", "not a Darshan"))


@pytest.mark.parametrize("fmt", ["3.21", "3.41"])
def test_a_flipped_bit_is_an_error_or_changes_nothing(writer: Writer, tmp_path: Path,
                                                      fmt: str) -> None:  # fmt: skip
    data = sources(writer, tmp_path)[fmt]
    flips = tmp_path / "flips"
    flips.mkdir()
    (flips / "original.darshan").write_bytes(data)
    # Every header byte's low bit and high bit, and bits spread over the compressed data.
    header = WIDE.size if fmt == "3.41" else NARROW.size
    places = [(i, b) for i in range(0, header, 3) for b in (0, 7)]
    places += [(i, i % 8) for i in range(header, len(data), 5)]
    for offset, bit in places:
        damaged = bytearray(data)
        damaged[offset] ^= 1 << bit
        (flips / f"f{offset:06}_{bit}.darshan").write_bytes(bytes(damaged))
    seen: list[TraceError] = []
    records, stats = read_trace_with_stats(flips, skip_bad=True, on_skip=seen.append)
    original = next(r for r in records if r.id == "original")
    changed = [r for r in records if (r.capacity, r.duration, r.submit, r.user) !=
               (original.capacity, original.duration, original.submit, original.user)]  # fmt: skip
    assert changed == []  # a flip is caught, or it hit bytes the request does not depend on
    assert stats.skipped_zero == 0 and stats.skipped_bad == len(seen)
    caught = {Path(e.path).name for e in seen}
    in_data = {f"f{offset:06}_{bit}.darshan" for offset, bit in places if offset >= header}
    # Regions are checksummed; only a few bits (deflate padding) go unread.
    assert len(in_data - caught) <= len(in_data) // 20
    assert all(Path(e.path).parent == flips for e in seen)


# A worker whose pre-check is off: libdarshan-util then meets the damaged logs itself.
UNCHECKED = (sys.executable, "-c", "import storalloc.sim.traces.darshan_logs as d, "
             "storalloc.sim.traces.darshan_worker as w, storalloc.sim.traces.darshan_format as f\n"
             "d.check_log = lambda p: f.HeaderInfo('?', frozenset())\nw.main()")  # fmt: skip


def test_a_libdarshan_crash_costs_one_log(writer: Writer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    data = sources(writer, tmp_path)["3.41"]
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a_good.darshan").write_bytes(data)
    (logs / "b_segv.darshan").write_bytes(data[: WIDE.size + 2])
    (logs / "c_abort.darshan").write_bytes(data[: WIDE.size + 58])
    (logs / "d_good.darshan").write_bytes(data)
    monkeypatch.setattr(worker, "WORKER_COMMAND", UNCHECKED)
    seen: list[TraceError] = []
    records, stats = read_trace_with_stats(logs, skip_bad=True, on_skip=seen.append)
    assert [r.id for r in records] == ["a_good", "d_good"]  # a new worker after each crash
    assert stats.skipped_bad == 2
    assert [Path(e.path).name for e in seen] == ["b_segv.darshan", "c_abort.darshan"]
    for error in seen:  # which signal depends on where libdarshan-util trips
        assert error.problem.startswith("damaged Darshan log: libdarshan-util crashed reading it")
        assert "(SIGSEGV)" in error.problem or "(SIGABRT)" in error.problem
    with pytest.raises(TraceError, match=r"b_segv\.darshan: damaged Darshan log"):
        read_trace(logs)  # without --skip-bad: the first damaged log stops the read


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


# A worker that reads the request and never answers (libdarshan-util stuck in a loop).
STUCK = (sys.executable, "-c", "import sys, time\nsys.stdin.readline()\ntime.sleep(3600)")


def test_a_log_that_never_finishes_costs_that_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(log(EXAMPLE), tmp_path / "stuck.darshan")
    monkeypatch.setattr(worker, "WORKER_COMMAND", STUCK)
    monkeypatch.setattr(worker, "LOG_TIMEOUT", 0.5)
    with worker.LogReader() as reader:
        with pytest.raises(TraceError, match=r"did not finish reading it within 0\.5 s"):
            reader.read(tmp_path / "stuck.darshan")
        assert reader._proc is None  # killed and reaped; the next log gets a new worker
