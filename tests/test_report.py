"""The replay report: hand-computed outcomes, sweeps, determinism, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from storalloc.config.loader import load_system
from storalloc.sim.replay import make_node, new_simulation
from storalloc.sim.report import (
    _peak,
    _percentile,
    build_report,
    dump_report,
    format_report,
    report_format,
    write_report,
)
from storalloc.sim.traces import TraceRecord, read_trace
from storalloc.strategies.first_fit import FirstFit

DATA = Path(__file__).parent / "data" / "sim"
T0 = 1_700_000_000.0


def replay(records, system="duo.yml", block_size=0.0):
    nodes = [make_node(f"{n.hostname}:{i}", n)
             for i, n in enumerate(load_system(DATA / system).nodes)]  # fmt: skip
    sim = new_simulation(nodes, FirstFit(), block_size=block_size)
    sim.replay(records)
    return build_report(sim.scheduler, sim.finished)


@pytest.fixture(scope="module")
def hand():
    return replay(read_trace(DATA / "hand.csv"))


def test_hand_trace_counts(hand):
    # r1..r6 on two 100 GB disks: r5 (250 GB) can never fit, the other five run.
    assert hand["requests_count"] == 6
    assert hand["granted_requests_count"] == 5
    assert hand["refused_requests_count"] == 1
    assert hand["refused_reasons"] == {"larger_than_disks": 1}
    assert hand["split_requests_count"] == 0 and hand["parts_count"] == 6
    assert hand["failed_requests_count"] == hand["unfinished_requests_count"] == 0


def test_hand_trace_delays(hand):
    # r3 (80 GB, submitted at +60) fits nowhere until r2 ends at +1800: it waits 1740 s.
    # r6 asks to start at +5000 and starts then: a requested start is not a delay.
    assert hand["delayed_requests_count"] == 1
    assert hand["tt_delay_time_minutes"] == 29.0
    # Waits of the five granted jobs, sorted: 0, 0, 0, 0, 1740 s (nearest rank).
    assert hand["wait_time_minutes"] == {"p50": 0.0, "p90": 29.0, "p99": 29.0, "max": 29.0,
                                         "mean": 5.8}  # fmt: skip


def test_hand_trace_volume_and_span(hand):
    assert hand["tt_requested_gb"] == 60 + 60 + 80 + 30 + 250 + 100
    assert hand["tt_allocated_gb"] == 60 + 60 + 80 + 30 + 100
    # r1, r2 and r4 overlap on [+120, +720); never more.
    assert hand["max_concurrent_allocations"] == 3
    assert hand["sim_first_ts"] == T0
    assert hand["sim_last_ts"] == T0 + 6000  # r6 ends at +5000 + 1000
    assert hand["sim_duration"] == 6000.0


def test_hand_trace_per_disk_and_node(hand):
    disk0, disk1 = hand["disks"]
    # Disk 0 (first fit): r1 60 GB x 3600 s, r4 30 GB x 600 s, r6 100 GB x 1000 s.
    assert disk0["node"] == "duo:0" and disk0["disk"] == 0
    assert disk0["allocations_count"] == 3
    assert disk0["mean_used_gb"] == round((60 * 3600 + 30 * 600 + 100 * 1000) / 6000, 6)
    assert disk0["max_used_gb"] == 100.0 and disk0["max_cap_utilisation"] == 1.0
    assert disk0["max_allocations"] == 2
    assert disk0["mean_allocations"] == round((3600 + 600 + 1000) / 6000, 6)
    # Disk 1: r2 60 GB x 1800 s, then r3 80 GB x 600 s.
    assert disk1["mean_used_gb"] == (60 * 1800 + 80 * 600) / 6000
    assert disk1["mean_capacity_utilisation"] == 0.26
    assert disk1["max_used_gb"] == 80.0 and disk1["max_allocations"] == 1
    (node,) = hand["nodes"]
    assert node["node"] == "duo:0" and node["capacity_gb"] == 200.0
    assert node["max_used_gb"] == 150.0  # r1 + r2 + r4
    assert node["max_cap_utilisation"] == 0.75
    assert node["allocations_count"] == 5 and node["max_allocations"] == 3
    assert hand["mean_capacity_utilisation"] == node["mean_capacity_utilisation"]


def test_split_requests_are_counted():
    report = replay(read_trace(DATA / "hand.csv"), block_size=50.0)
    # 60, 60 and 80 GB become two parts, 30 GB stays whole, 100 GB makes two of 50 and
    # 250 GB would need five parts of 50 GB where only four fit on two 100 GB disks.
    assert report["split_requests_count"] == 5
    assert report["parts_count"] == 2 + 2 + 2 + 1 + 5 + 2
    assert report["split_threshold_gb"] == 50.0
    assert report["refused_requests_count"] == 1
    assert report["refused_reasons"] == {"larger_than_site": 1}


def test_equal_reasons_with_different_sizes_count_once():
    records = [TraceRecord(f"big{i}", T0 + i, None, 60.0, 150.0 + i, "u") for i in range(3)]
    report = replay(records)
    assert report["refused_reasons"] == {"larger_than_disks": 3}


def test_empty_replay():
    report = replay([])
    assert report["requests_count"] == 0 and report["sim_first_ts"] is None
    assert report["wait_time_minutes"]["p99"] == 0.0
    assert report["disks"][0]["mean_used_gb"] == 0.0
    assert "requests" in format_report(report)


def test_same_input_gives_byte_identical_reports():
    records = read_trace(DATA / "hand.csv")
    first, second = replay(records), replay(list(records))
    assert dump_report(first) == dump_report(second)
    assert dump_report(first, "json") == dump_report(second, "json")


def test_yaml_and_json_files_round_trip(hand, tmp_path):
    write_report(hand, tmp_path / "r.yml")
    write_report(hand, tmp_path / "r.json")
    assert yaml.safe_load((tmp_path / "r.yml").read_text()) == hand
    assert json.loads((tmp_path / "r.json").read_text()) == hand
    text = (tmp_path / "r.yml").read_text()
    assert text.index("cancelled_requests_count") < text.index("requests_count")  # sorted


def test_report_format_by_extension():
    assert report_format("a/b.JSON") == "json"
    assert report_format("r.yaml") == report_format("r.yml") == "yaml"
    with pytest.raises(ValueError, match=r"r\.txt: .*\.yml, \.yaml or \.json"):
        report_format("r.txt")


def test_format_report_shows_the_main_figures(hand):
    text = format_report(hand)
    assert "requests                       6" in text
    assert "delayed                        1   total 29.0 min" in text
    assert "2023-11-14T22:13:20Z" in text  # sim_first_ts, UTC
    assert "duo:0" in text and "  disk 1" in text


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 11)]
    assert _percentile(values, 50) == 5.0
    assert _percentile(values, 90) == 9.0
    assert _percentile(values, 99) == 10.0
    assert _percentile([], 50) == 0.0


def test_peak_treats_intervals_as_half_open():
    assert _peak([(0.0, 10.0, 5.0), (10.0, 20.0, 7.0)]) == (7.0, 1)
    assert _peak([(0.0, 10.0, 5.0), (9.0, 20.0, 7.0)]) == (12.0, 2)


intervals = st.lists(
    st.tuples(st.integers(0, 50), st.integers(1, 20), st.integers(1, 100)), max_size=30
).map(lambda xs: [(float(a), float(a + d), float(s)) for a, d, s in xs])


@given(intervals)
def test_peak_matches_brute_force(xs):
    instants = {a for a, _, _ in xs}
    expected_gb = max((sum(s for a, b, s in xs if a <= t < b) for t in instants), default=0.0)
    expected_n = max((sum(1 for a, b, _ in xs if a <= t < b) for t in instants), default=0)
    assert _peak(xs) == (expected_gb, expected_n)


def test_sparse_trace_figures_over_the_busy_time():
    # Two 1-hour requests of 50 GB, five years apart, on 200 GB: idle almost all the time.
    year = 365 * 86400.0
    records = [TraceRecord("a", T0, None, 3600.0, 50.0, "u"),
               TraceRecord("b", T0 + 5 * year, None, 3600.0, 50.0, "u")]  # fmt: skip
    report = replay(records)
    assert report["mean_capacity_utilisation"] == 1.1e-05  # printed "0.00 %" before
    assert report["busy_seconds"] == 7200.0
    assert report["busy_mean_capacity_utilisation"] == 0.25  # 50 of 200 GB while busy
    assert report["allocated_gb_hours"] == 100.0
    text = format_report(report)
    assert "while busy            mean 25.00 % over 0.08 days" in text
    assert "mean 0.00 %" not in text and "capacity used         mean 0.0011 %" in text


def test_busy_time_is_the_union_of_allocations():
    from storalloc.sim.report import _busy_seconds

    assert _busy_seconds([(0.0, 10.0, 1.0), (5.0, 20.0, 1.0), (30.0, 31.0, 1.0)]) == 21.0
    assert _busy_seconds([(0.0, 10.0, 1.0), (2.0, 3.0, 1.0)]) == 10.0
    assert _busy_seconds([]) == 0.0


def test_inputs_name_the_system_strategy_and_code(hand):
    import storalloc

    inputs = hand["inputs"]
    assert inputs["strategy"] == "first_fit" and inputs["code_version"] == storalloc.__version__
    assert inputs["system"]["disks_count"] == 2 and inputs["system"]["capacity_gb"] == 200.0
    other = replay(read_trace(DATA / "hand.csv"), system="pair.yml")["inputs"]["system"]
    assert other["sha256"] != inputs["system"]["sha256"]


def test_small_figures_keep_two_significant_digits():
    from storalloc.sim.report_text import percent, small

    assert [percent(f) for f in (0.1235, 0.0001, 0.0000123, 0.0)] == [
        "12.35 %", "0.01 %", "0.0012 %", "0 %"]  # fmt: skip
    assert small(0.0036) == "0.0036" and small(2.0) == "2.00"
