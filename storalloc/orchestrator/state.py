"""Saving the orchestrator's state to a file, and restoring it after a restart.

The snapshot holds the known nodes and every active job (with its planned or actual window,
its extents and its exports), which is all a restarted orchestrator needs: nodes come back
as down until their servers register again (and are then reconciled), leases that ended
while it was away expire at once, and waiting jobs keep their reservations. It is written
atomically (temporary file, fsync, rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from storalloc.core.cluster import Extent, build_node, describe_disks
from storalloc.core.jobs import Job, State
from storalloc.core.scheduler import Scheduler

log = logging.getLogger(__name__)

FORMAT = 1


class StateError(Exception):
    """A state file that cannot be read; the message names the file and the problem."""


def snapshot(scheduler: Scheduler) -> dict[str, Any]:
    nodes = [
        {"name": n.name, "hostname": n.hostname, "network_bw": n.network_bw,
         "disks": describe_disks(n.disks), "drained": n.drained}
        for n in scheduler.cluster.nodes
    ]  # fmt: skip
    jobs = [
        {"id": j.id, "user": j.user, "size": j.size, "duration": j.duration,
         "submit": j.submit, "begin": j.begin, "parts": list(j.parts), "hostnqn": j.hostnqn,
         "state": j.state.value, "start": j.start,
         "extents": [[e.node, e.disk, e.size] for e in j.extents],
         "exports": j.exports, "connections": j.connections, "attempts": j.attempts,
         "failures": j.failures, "request_id": j.request_id, "granted_at": j.granted_at,
         "retry_at": j.retry_at}
        for j in scheduler.jobs.values()
    ]  # fmt: skip
    return {"format": FORMAT, "next_id": scheduler.next_id, "nodes": nodes, "jobs": jobs}


def save(path: str | Path, scheduler: Scheduler) -> None:
    path = Path(path)
    data = json.dumps(snapshot(scheduler), separators=(",", ":"))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict[str, Any] | None:
    """The saved snapshot, or None when there is no file yet."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateError(f"{path}: not a Storalloc state file: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path}: unsupported state format {data.get('format')!r}"
                         if isinstance(data, dict) else f"{path}: not a Storalloc state file")
    return data


def restore(scheduler: Scheduler, data: dict[str, Any], source: str = "state") -> None:
    """Rebuild nodes (down until they register) and active jobs from a snapshot."""
    try:
        for n in data["nodes"]:
            node = scheduler.cluster.add_node(
                build_node(n["name"], n["hostname"], n["network_bw"], n["disks"], up=False)
            )
            scheduler.cluster.set_drained(node.index, bool(n.get("drained", False)))
        scheduler.next_id = int(data["next_id"])
        jobs = [_job(j) for j in data["jobs"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{source}: damaged state file: {exc!r}") from exc
    for job in sorted(jobs, key=lambda j: j.id):
        scheduler.adopt(job)
    log.info("restored %d node(s) and %d job(s) from %s", len(data["nodes"]), len(jobs), source)


def _job(j: dict[str, Any]) -> Job:
    job = Job(
        id=int(j["id"]), user=j["user"], size=j["size"], duration=j["duration"],
        submit=j["submit"], begin=j["begin"], parts=tuple(j["parts"]), hostnqn=j["hostnqn"],
        state=State(j["state"]), start=j["start"],
    )  # fmt: skip
    job.extents = tuple(Extent(int(n), int(d), float(s)) for n, d, s in j["extents"])
    job.exports = list(j["exports"])
    job.connections = list(j["connections"])
    # Files written before attempts were numbered lack these: adopt() fills them in.
    job.attempts = [int(a) for a in j.get("attempts", [])]
    job.failures = int(j.get("failures", 0))
    job.request_id = str(j.get("request_id", ""))
    job.granted_at = j.get("granted_at")
    job.retry_at = j.get("retry_at")
    return job
