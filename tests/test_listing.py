"""squeue/scontrol-style text: reasons of pending jobs, no time left on ended ones."""

from __future__ import annotations

from storalloc.cli.listing import format_job, format_table, pending_reason, time_left

NOW = 1_800_000_000.0


def job(**over):
    base = {"job_id": 3, "user": "alice", "size_gb": 10.0, "duration_s": 3600.0,
            "state": "PENDING", "submit": NOW - 10, "begin": NOW - 10, "start": None,
            "end": None, "reason": None, "extents": []}
    return {**base, **over}


def test_pending_reason_is_begintime_before_begin_else_resources():
    assert pending_reason(job(begin=NOW + 3600), NOW) == "BeginTime"
    assert pending_reason(job(), NOW) == "Resources"
    assert pending_reason(job(pending_reason="NodeDown", begin=NOW + 5), NOW) == "NodeDown"


def test_ended_jobs_have_no_time_left():
    for state in ("COMPLETED", "CANCELLED", "FAILED", "REFUSED"):
        ended = job(state=state, start=NOW - 100, end=NOW - 50)
        assert time_left(ended, NOW) is None
        assert format_table([ended], NOW).splitlines()[1].split()[3] == "-"
        assert "TimeLeft" not in format_job(ended, NOW)
    running = job(state="ALLOCATED", start=NOW - 100, end=NOW + 60)
    assert "TimeLeft=1:00" in format_job(running, NOW)


def test_pending_row_shows_the_reason_in_parentheses():
    row = format_table([job(begin=NOW + 60)], NOW).splitlines()[1].split()
    assert row[4:] == ["PENDING", "(BeginTime)", "-"]
    assert "Reason=BeginTime" in format_job(job(begin=NOW + 60), NOW)
