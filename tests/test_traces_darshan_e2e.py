"""Darshan logs through `client.py --trace` (real orchestrator, server and client processes):
a damaged log costs one record, and the report equals the one-process simulator's."""

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
    expected = one_process_skip_bad(logs, tmp_path / "one")
    assert out.read_bytes() == expected


def one_process_skip_bad(logs: Path, out: Path) -> bytes:
    from storalloc.sim import sweep

    code = sweep.main(["--system", str(DATA / "duo.yml"), "--orchestrator-config",
                       str(ORCH_CFG), str(logs), "--skip-bad", "--report-dir", str(out), "-q",
                       "--jobs", "1"])  # fmt: skip
    assert code == 0
    (report,) = out.iterdir()
    return report.read_bytes()
