"""The SQLite store, on real files: what a flush commits is what a restart reads."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from storalloc.core.cluster import Extent
from storalloc.core.jobs import Job, State
from storalloc.orchestrator.store import (
    Store,
    StoreError,
    job_from_json,
    job_to_json,
    prepare_state_dir,
)


def make_job(job_id: int, state: State = State.ALLOCATED, user: str = "alice") -> Job:
    job = Job(id=job_id, user=user, size=200.0, duration=3600.0, submit=1.0, begin=1.0,
              parts=(100.0, 100.0), client=b"\x00addr", request_id=f"r{job_id}",
              hostnqn="nqn.2014-08.org.nvmexpress:uuid:x", state=state, start=2.0)  # fmt: skip
    job.extents = (Extent(0, 1, 100.0), Extent(1, 0, 100.0))
    job.exports = [f"j{job_id}p0", None]
    job.connections = [{"type": "nvme", "nqn": "nqn.x"}, None]
    job.excluded = {(0, 2), (1, 3)}
    return job


def test_job_round_trips_every_field_but_runtime_ones():
    job = make_job(7)
    back = job_from_json(job_to_json(job))
    for f in dataclasses.fields(Job):
        if f.name in ("client", "timers"):
            continue
        assert getattr(back, f.name) == getattr(job, f.name), f.name
    assert back.client is None and back.timers == []
    assert isinstance(back.state, State) and isinstance(back.extents[0], Extent)


def test_unknown_and_missing_fields_are_tolerated():
    raw = json.loads(job_to_json(make_job(3)))
    raw["field_of_a_newer_version"] = 42
    del raw["reason"]
    back = job_from_json(json.dumps(raw))
    assert back.id == 3 and back.reason == ""


def test_flush_then_reopen_gives_active_jobs_nodes_numbering_requests(tmp_path):
    store = Store(tmp_path / "s.db")
    store.job_changed(make_job(0))
    store.job_changed(make_job(1, State.PENDING))
    store.job_changed(make_job(2, State.COMPLETED))
    store.node_changed("ault14:0", index=0, key="KEY0", data={"hostname": "ault14"})
    store.set_next_id(3)
    assert store.flush() == 3 + 1 + 3 + 1
    store.close()
    saved = Store(tmp_path / "s.db").load()
    assert [j.id for j in saved.jobs] == [0, 1]
    assert saved.next_id == 3
    assert saved.nodes == [{"name": "ault14:0", "index": 0, "key": "KEY0",
                            "data": {"hostname": "ault14"}}]  # fmt: skip
    assert saved.requests[("alice", "r2")] == 2


def test_nothing_marked_after_the_last_flush_is_on_disk(tmp_path):
    store = Store(tmp_path / "s.db")
    store.job_changed(make_job(0))
    store.flush()
    job = make_job(0, State.CANCELLED)
    store.job_changed(job)  # marked, never flushed: a crash here loses only this
    other = sqlite3.connect(tmp_path / "s.db")
    assert other.execute("SELECT state FROM jobs").fetchall() == [("ALLOCATED",)]
    store.flush()
    assert other.execute("SELECT state FROM jobs").fetchall() == [("CANCELLED",)]


def test_ended_jobs_are_archived_and_queryable(tmp_path):
    store = Store(tmp_path / "s.db")
    for i, user in enumerate(["alice", "bob", "alice"]):
        store.job_changed(make_job(i, State.COMPLETED, user))
    store.flush()
    assert [j.id for j in store.archived()] == [2, 1, 0]
    assert [j.id for j in store.archived(user="alice")] == [2, 0]
    assert store.job(1).user == "bob" and store.job(9) is None
    assert store.load().jobs == []


def test_request_ids_map_to_jobs_before_and_after_flush(tmp_path):
    store = Store(tmp_path / "s.db")
    store.request_seen("bob", "q1", None)
    assert store.request_job("bob", "q1") == (True, None)
    store.job_changed(make_job(5, user="bob"))
    store.flush()
    assert store.request_job("bob", "r5") == (True, 5)
    assert store.request_job("alice", "r5") == (False, None)


def test_a_request_row_is_written_with_the_first_change_of_its_job_only(tmp_path):
    store = Store(tmp_path / "s.db")
    job = make_job(5, state=State.CONFIGURING)
    store.job_changed(job)
    assert store.flush() == 2  # the job's row and its request's
    job.state = State.ALLOCATED
    store.job_changed(job)
    assert store.flush() == 1  # the job's row alone: its request's is on disk already
    store.close()
    again = Store(tmp_path / "s.db")
    again.load()
    assert again.request_job("alice", "r5") == (True, 5)
    again.job_changed(job)  # active jobs restored: their request rows are known too
    assert again.flush() == 1
    job.state = State.COMPLETED
    again.job_changed(job)
    again.flush()
    again.close()
    assert Store(tmp_path / "s.db").request_job("alice", "r5") == (True, 5)


def test_node_key_binding_and_removal(tmp_path):
    store = Store(tmp_path / "s.db")
    store.node_changed("n1", index=0, key="K1", data={})
    assert store.node_key("n1") == "K1"
    store.flush()
    assert store.node_key("n1") == "K1" and store.node_key("n2") is None
    store.node_removed("n1")
    assert store.node_key("n1") is None
    store.flush()
    assert store.load().nodes == []


def test_wal_mode_on_disk(tmp_path):
    Store(tmp_path / "s.db").close()
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_missing_state_directory_is_created_private(tmp_path):
    path = prepare_state_dir(tmp_path / "a" / "b")
    assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o700


def test_state_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(StoreError, match="f: exists but is not a directory"):
        Store(tmp_path / "f" / "s.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_state_dir_not_writable_is_a_clear_error(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(StoreError, match=r"cannot create it|not writable"):
        Store(tmp_path / "ro" / "sub" / "s.db")


def test_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "s.db").write_bytes(b"this is no sqlite file" * 100)
    with pytest.raises(StoreError, match=r"s\.db"):
        Store(tmp_path / "s.db")


def test_commit_survives_kill_9(tmp_path):
    """A process that flushed and was then killed leaves its transaction readable."""
    script = (
        "import os, signal, sys\n"
        "from tests.test_store import make_job\n"
        "from storalloc.orchestrator.store import Store\n"
        "s = Store(sys.argv[1]); s.job_changed(make_job(4)); s.set_next_id(5); s.flush()\n"
        "s.job_changed(make_job(6))\n"  # marked only: must not be found
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s.db")], cwd=root)
    assert proc.returncode == -9
    saved = Store(tmp_path / "s.db").load()
    assert [j.id for j in saved.jobs] == [4] and saved.next_id == 5


def test_optional_enum_fields_come_back_as_enums():
    from storalloc.orchestrator.store import _as_hinted

    assert _as_hinted("ALLOCATED", State | None) is State.ALLOCATED
    assert _as_hinted(None, State | None) is None
    assert _as_hinted(3, int) == 3
