"""The one-process simulator (python -m storalloc.sim.sweep), its plot, and the progress bar."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from storalloc.sim import sweep as simulate
from storalloc.sim.progress import Progress
from storalloc.sim.traces import TraceStats, read_trace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "sim"
HAND = str(DATA / "hand.csv")
DUO = str(DATA / "duo.yml")
PAIR = str(DATA / "pair.yml")
FIRST_FIT = str(DATA / "first_fit.yml")


def run(*argv: str, capsys) -> tuple[int, str, str]:
    code = simulate.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_single_run_prints_report_and_row(capsys, tmp_path):
    code, out, _ = run("--system", DUO, "--orchestrator-config", FIRST_FIT, HAND,
                       "--report-dir", str(tmp_path), "-q", capsys=capsys)  # fmt: skip
    assert code == 0
    assert "Replay report: strategy first_fit" in out
    row = out.splitlines()[-1].split()
    assert row[:7] == ["duo", "first_fit", "6", "5", "1", "0", "1"]
    report = yaml.safe_load((tmp_path / "duo-first_fit.yml").read_text())
    assert report["tt_delay_time_minutes"] == 29.0


def test_sweep_rows_in_order_and_parallel_equals_sequential(capsys, tmp_path):
    argv = ["--system", DUO, "--system", PAIR, "--strategy", "first_fit",
            "--strategy", "worst_case", HAND, "-q"]  # fmt: skip
    code, out, _ = run(*argv, "--jobs", "2", "--report-dir", str(tmp_path / "par"),
                       capsys=capsys)  # fmt: skip
    assert code == 0
    rows = [line.split()[:2] for line in out.splitlines()[2:]]
    assert rows == [["duo", "first_fit"], ["duo", "worst_case"], ["pair", "first_fit"],
                    ["pair", "worst_case"]]  # fmt: skip
    assert run(*argv, "--jobs", "1", "--report-dir", str(tmp_path / "seq"), capsys=capsys)[0] == 0
    names = sorted(p.name for p in (tmp_path / "par").iterdir())
    assert len(names) == 4
    for name in names:
        assert (tmp_path / "par" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes()


def test_nodes_are_named_as_servers_register_them():
    task = simulate.SimTask(PAIR, "pair", "first_fit", None, None)
    result = simulate.run_task(task, read_trace(HAND), TraceStats())
    assert [n["node"] for n in result.report["nodes"]] == ["left:0", "right:1"]
    assert [(d["node"], d["disk"]) for d in result.report["disks"]] == [
        ("left:0", 0), ("left:0", 1), ("right:1", 0)]  # fmt: skip


def test_block_size_option_splits(capsys, tmp_path):
    code, _, _ = run("--system", DUO, "--strategy", "first_fit", "--block-size", "50", HAND,
                     "--report-dir", str(tmp_path), "-q", capsys=capsys)  # fmt: skip
    assert code == 0
    report = yaml.safe_load((tmp_path / "duo-first_fit.yml").read_text())
    assert report["split_requests_count"] == 5


def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    code, _, _ = run("--system", DUO, "--strategy", "first_fit", HAND, "--plot",
                     str(tmp_path), "-q", capsys=capsys)  # fmt: skip
    assert code == 0
    data = (tmp_path / "duo-first_fit.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_bad_record_stops_with_file_and_line(capsys):
    code, _, err = run("--system", DUO, str(DATA / "bad.csv"), capsys=capsys)
    assert code == 1
    assert f"simulate: error: {DATA / 'bad.csv'}:3: duration" in err


def test_skip_bad_goes_on_and_counts(capsys, tmp_path):
    code, _, err = run("--system", DUO, str(DATA / "bad.csv"), "--skip-bad", "-q",
                       "--report-dir", str(tmp_path), capsys=capsys)  # fmt: skip
    assert code == 0
    assert "skipping bad record" in err and "bad.csv:3" in err
    report = yaml.safe_load((tmp_path / "duo-worst_case.yml").read_text())
    assert report["requests_count"] == 2 and report["skipped_bad_records_count"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategy", "wrost_case"], "unknown strategy 'wrost_case'"),
        (["--jobs", "0"], "--jobs: expected at least 1"),
        (["--block-size", "-1"], "--block-size: expected a number of GB >= 0"),
    ],
)
def test_bad_options_are_named(capsys, argv, message):
    code, _, err = run("--system", DUO, HAND, *argv, capsys=capsys)
    assert code == 1 and message in err


def test_bad_system_file_is_named(capsys, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("hostname: x\n")
    code, _, err = run("--system", str(broken), HAND, capsys=capsys)
    assert code == 1 and "broken.yml" in err


def test_labels_fall_back_to_paths_when_stems_collide():
    assert simulate.system_labels(["a/x.yml", "b/x.yml", "c/y.yml"]) == ["a/x.yml", "b/x.yml", "y"]


def test_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "storalloc.sim.sweep", "--system", DUO, "--strategy",
         "first_fit", "--strategy", "best_fit", HAND, "--jobs", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:2] == ["duo", "best_fit"]
    assert "6 records, 2 simulation(s)" in result.stderr


# --- progress -----------------------------------------------------------------------------


def test_progress_without_a_terminal_writes_one_line_per_tenth():
    out = io.StringIO()
    bar = Progress(20, stream=out, tty=False)
    for done in range(1, 21):
        bar.update(done)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "replay: 10% (2/20)" and lines[-1] == "replay: 100% (20/20)"


def test_progress_on_a_terminal_redraws_one_line():
    out = io.StringIO()
    bar = Progress(4, stream=out, tty=True, width=4)
    bar.update(4)
    bar.close()
    text = out.getvalue()
    assert text.startswith("\rreplay [####] 100.0% 4/4") and text.endswith("\n")
    assert text.count("\n") == 1


def test_report_records_its_inputs(capsys, tmp_path):
    import hashlib

    import storalloc

    swf = ROOT / "tests" / "data" / "traces" / "archive.swf"
    code, out, _ = run("--system", DUO, "--strategy", "first_fit", str(swf), "--gb-per-core-hour",
                       "2", "--report-dir", str(tmp_path), "-q", capsys=capsys)  # fmt: skip
    assert code == 0
    inputs = yaml.safe_load((tmp_path / "duo-first_fit.yml").read_text())["inputs"]
    assert inputs["trace"] == {
        "path": str(swf), "sha256": hashlib.sha256(swf.read_bytes()).hexdigest(),
        "format": "swf", "options": {"gb_per_core_hour": 2.0, "gb_per_proc": 1.0,
                                     "skip_bad": False},
    }  # fmt: skip
    assert inputs["strategy"] == "first_fit" and inputs["code_version"] == storalloc.__version__
    assert inputs["system"]["nodes_count"] == 1 and inputs["system"]["capacity_gb"] == 200.0
    assert len(inputs["system"]["sha256"]) == 64
    assert f"trace    {swf} (swf; gb_per_core_hour=2.0" in out
    assert f"storalloc {storalloc.__version__}" in out


def test_damaged_darshan_log_is_skipped_and_counted(capsys, tmp_path, monkeypatch):
    from storalloc.sim.traces import darshan_worker
    from tests.darshan_writer import Job, Writer
    from tests.test_traces_darshan import UNCHECKED

    writer = Writer()
    logs = tmp_path / "logs"
    logs.mkdir()
    good = writer.write(logs / "good.darshan", Job(), {"POSIX": {"A": 10 * 10**9}})
    (logs / "cut.darshan").write_bytes(good.read_bytes()[:1330])  # libdarshan crashes on it
    monkeypatch.setattr(darshan_worker, "WORKER_COMMAND", UNCHECKED)  # no pre-check
    code, _, err = run("--system", DUO, str(logs), capsys=capsys)
    assert code == 1  # without --skip-bad: a clear error, no traceback
    assert f"simulate: error: {logs / 'cut.darshan'}: damaged Darshan log" in err
    code, _, err = run("--system", DUO, str(logs), "--skip-bad", "--report-dir",
                         str(tmp_path / "r"), capsys=capsys)  # fmt: skip
    assert code == 0 and "libdarshan-util crashed reading it" in err
    report = yaml.safe_load((tmp_path / "r" / "duo-worst_case.yml").read_text())
    assert report["requests_count"] == 1 and report["skipped_bad_records_count"] == 1
    assert report["inputs"]["trace"]["format"] == "darshan"
