"""The orchestrator's durable store: SQLite (standard library) in WAL mode.

One row per job, updated in place, rather than a journal of transitions: a restart then
reads the active rows through an index instead of replaying and compacting a log, and a
transition costs one row write whatever the number of jobs. Ended jobs keep their row
(`active = 0`): that is the archive `--show` reads.

The loop marks what changed (`job_changed`, `node_changed`, `request_seen`) and calls
`flush()` once per turn: one transaction, committed before the messages of that turn
leave (the transport holds them until then, see `Router.hold`). `synchronous=FULL` makes
the commit survive a power cut, not just a crash of the process.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storalloc.config.paths import StateDirError, default_state_dir, prepare_state_dir
from storalloc.core import jobs as jobs_module
from storalloc.core.jobs import Job

# Re-exported so importers of the store (and its tests) keep one place to look.
from storalloc.orchestrator.job_codec import (  # noqa: F401
    TRANSIENT,
    _as_hinted,
    job_from_json,
    job_to_json,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "storalloc.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, active INTEGER NOT NULL, state TEXT NOT NULL,
    user TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs (active) WHERE active = 1;
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY, idx INTEGER, key TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    user TEXT NOT NULL, request_id TEXT NOT NULL, job_id INTEGER,
    PRIMARY KEY (user, request_id));
"""


class StoreError(StateDirError):
    """The store cannot be opened or written; the message names the path and the cause."""


@dataclass(slots=True)
class Saved:
    """What a restart needs: numbering, active jobs, the node table, request ids."""

    next_id: int = 0
    jobs: list[Job] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)  # name, index, key, data
    requests: dict[tuple[str, str], int | None] = field(default_factory=dict)


def _is_active(job: Job) -> bool:
    return job.state in jobs_module.ACTIVE


# --- the store ---------------------------------------------------------------------------


class Store:
    """The SQLite file of one orchestrator. Not thread-safe: the loop owns it."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        self.path = Path(path).expanduser()
        try:
            prepare_state_dir(self.path.parent)
        except StateDirError as exc:
            raise StoreError(str(exc)) from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.Error as exc:
            raise StoreError(f"state database {self.path}: {exc}") from None
        self._jobs: dict[int, Job] = {}
        self._nodes: dict[str, tuple[int | None, str | None, dict[str, Any]] | None] = {}
        self._requests: dict[tuple[str, str], int | None] = {}
        # Active jobs whose request row is on disk: a change of theirs need not write it
        # again (a tenth of a commit). Ended jobs leave the set, so it stays as small as
        # the active jobs.
        self._request_saved: set[int] = set()
        self._meta: dict[str, str] = {}

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"state database {self.path}: schema {row[0]}, "
                             f"this version reads {SCHEMA_VERSION}")  # fmt: skip

    def close(self) -> None:
        self.db.close()

    # --- marking (cheap, in memory) ---

    def job_changed(self, job: Job) -> None:
        """`job` changed: its row is written at the next flush (as it is then)."""
        self._jobs[job.id] = job
        if job.request_id and job.id not in self._request_saved:
            self._requests.setdefault((job.user, job.request_id), job.id)

    def node_changed(self, name: str, *, index: int | None, key: str | None,
                     data: dict[str, Any]) -> None:  # fmt: skip
        """A node joined or changed; `key` is the public key bound to its name."""
        self._nodes[name] = (index, key, data)

    def node_removed(self, name: str) -> None:
        """Forget a node, and the key its name was bound to."""
        self._nodes[name] = None

    def request_seen(self, user: str, request_id: str, job_id: int | None) -> None:
        self._requests[(user, request_id)] = job_id

    def set_next_id(self, next_id: int) -> None:
        self._meta["next_id"] = str(next_id)

    @property
    def dirty(self) -> bool:
        return bool(self._jobs or self._nodes or self._requests or self._meta)

    # --- writing ---

    def flush(self) -> int:
        """Write everything marked since the last flush in one transaction; rows written."""
        if not self.dirty:
            return 0
        jobs = [(j.id, int(_is_active(j)), str(j.state), j.user, job_to_json(j))
                for j in self._jobs.values()]  # fmt: skip
        try:
            with self.db:  # one transaction: all of this turn, or none of it
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?)", jobs)
                self._write_nodes()
                self.db.executemany(
                    "INSERT OR REPLACE INTO requests VALUES (?,?,?)",
                    [(u, r, j) for (u, r), j in self._requests.items()],
                )
                self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)",
                                    list(self._meta.items()))  # fmt: skip
        except sqlite3.Error as exc:
            raise StoreError(f"state database {self.path}: cannot write: {exc}") from None
        count = len(jobs) + len(self._nodes) + len(self._requests) + len(self._meta)
        for job_id, active, *_ in jobs:
            if active:
                self._request_saved.add(job_id)
            else:
                self._request_saved.discard(job_id)
        self._jobs.clear()
        self._nodes.clear()
        self._requests.clear()
        self._meta.clear()
        return count

    def _write_nodes(self) -> None:
        for name, row in self._nodes.items():
            if row is None:
                self.db.execute("DELETE FROM nodes WHERE name=?", (name,))
            else:
                index, key, data = row
                self.db.execute("INSERT OR REPLACE INTO nodes VALUES (?,?,?,?)",
                                (name, index, key, json.dumps(data)))  # fmt: skip

    # --- reading ---

    def load(self) -> Saved:
        """Numbering, active jobs (by id), nodes (by index) and request ids, as committed.
        Raises StoreError naming the file when its content cannot be read back."""
        try:
            return self._load()
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"state database {self.path}: damaged: {exc!r}") from None

    def _load(self) -> Saved:
        saved = Saved()
        row = self.db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()
        saved.next_id = int(row[0]) if row else 0
        for (data,) in self.db.execute("SELECT data FROM jobs WHERE active=1 ORDER BY id"):
            saved.jobs.append(job_from_json(data))
            self._request_saved.add(saved.jobs[-1].id)
        rows = self.db.execute("SELECT name, idx, key, data FROM nodes ORDER BY idx, name")
        for name, index, key, data in rows:
            saved.nodes.append({"name": name, "index": index, "key": key,
                                "data": json.loads(data)})  # fmt: skip
        for user, request_id, job_id in self.db.execute("SELECT * FROM requests"):
            saved.requests[(user, request_id)] = job_id
        return saved

    def job(self, job_id: int) -> Job | None:
        """One job, active or archived."""
        row = self.db.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchone()
        return job_from_json(row[0]) if row else None

    def archived(self, user: str | None = None, limit: int = 1000) -> list[Job]:
        """Ended jobs, newest first, optionally of one user."""
        sql = "SELECT data FROM jobs WHERE active=0"
        args: tuple[Any, ...] = ()
        if user is not None:
            sql, args = sql + " AND user=?", (user,)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [job_from_json(data) for (data,) in rows]

    def request_job(self, user: str, request_id: str) -> tuple[bool, int | None]:
        """(seen, job id) of a client's request id, so a resend is answered, not redone."""
        key = (user, request_id)
        if key in self._requests:
            return True, self._requests[key]
        row = self.db.execute("SELECT job_id FROM requests WHERE user=? AND request_id=?",
                              key).fetchone()  # fmt: skip
        return (True, row[0]) if row else (False, None)

    def node_key(self, name: str) -> str | None:
        """The public key that first registered `name` (None: name free, or no key)."""
        pending = self._nodes.get(name, ())
        if pending is None:
            return None
        if pending:
            return pending[1]
        row = self.db.execute("SELECT key FROM nodes WHERE name=?", (name,)).fetchone()
        return row[0] if row else None


__all__ = ["Saved", "Store", "StoreError", "default_state_dir", "job_from_json", "job_to_json",
           "prepare_state_dir"]  # fmt: skip
