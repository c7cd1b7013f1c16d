"""Darshan logs and SWF archives through `client.py --trace` (real orchestrator, server and
client processes): a damaged log costs one record, reader options reach the report, and
the report equals the one-process simulator's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.darshan_writer import Job, Writer
from tests.procs import ORCH_CFG, run_client
from tests.test_trace_replay_e2e import DATA, site_factory  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e


def test_damaged_log_is_skipped_and_both_paths_agree(site_factory, tmp_path):  # noqa: F811
    writer = Writer()
    logs = tmp_path / "logs"
    logs.mkdir()
    for index in range(3):
        job = Job(start=1_700_000_000 + 600 * index, end=1_700_007_200 + 600 * index)
        writer.write(logs / f"job{index}.darshan", job, {"POSIX": {"A": (index + 1) * 30 * 10**9},
                                                         "STDIO": {"<STDOUT>": 10**6}})  # fmt: skip
    cut = (logs / "job1.darshan").read_bytes()
    (logs / "job1.darshan").write_bytes(cut[: len(cut) - 40])  # cut inside a region
    site = site_factory(DATA / "duo.yml", 1, ORCH_CFG)
    out = tmp_path / "3.yml"
    result = run_client(site.clients, "--trace", str(logs), "--skip-bad", "--report", str(out))
    assert result.returncode == 0, result.stderr
    assert f"skipping bad record: {logs / 'job1.darshan'}: truncated or corrupt" in result.stderr
    report = yaml.safe_load(out.read_text())
    assert report["requests_count"] == 2 and report["skipped_bad_records_count"] == 1
    assert report["tt_requested_gb"] == 30.0 + 90.0  # stdout is not storage
    assert report["inputs"]["trace"]["format"] == "darshan"
    assert report["inputs"]["trace"]["options"] == {"skip_bad": True}
    expected = one_process(tmp_path / "one", str(logs), "--skip-bad")
    assert out.read_bytes() == expected


def test_swf_core_hour_model_reaches_both_reports(site_factory, tmp_path):  # noqa: F811
    swf = Path(__file__).parent / "data" / "traces" / "archive.swf"
    site = site_factory(DATA / "duo.yml", 1, ORCH_CFG)
    out = tmp_path / "3.yml"
    result = run_client(site.clients, "--trace", str(swf), "--gb-per-core-hour", "0.5",
                        "--report", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = yaml.safe_load(out.read_text())
    assert report["inputs"]["trace"]["options"]["gb_per_core_hour"] == 0.5
    assert report["tt_requested_gb"] == round(0.5 * (64 * 600 + 32 * 7000 + 128 * 1800
                                                     + 16 * 3600) / 3600, 6)  # fmt: skip
    assert out.read_bytes() == one_process(tmp_path / "one", str(swf), "--gb-per-core-hour",
                                           "0.5")  # fmt: skip


def one_process(out: Path, *argv: str) -> bytes:
    from storalloc.sim import sweep

    code = sweep.main(["--system", str(DATA / "duo.yml"), "--orchestrator-config",
                       str(ORCH_CFG), *argv, "--report-dir", str(out), "-q",
                       "--jobs", "1"])  # fmt: skip
    assert code == 0
    (report,) = out.iterdir()
    return report.read_bytes()
