"""An orchestrator coming back from its store: nodes (down until their servers register
again), active jobs with their timers, job numbering, and the archive of ended jobs."""

from __future__ import annotations

import logging
from typing import Any

from storalloc.core.cluster import Node, build_node, describe_disks
from storalloc.core.jobs import Job
from storalloc.core.scheduler import Scheduler
from storalloc.orchestrator.store import Saved, Store

log = logging.getLogger(__name__)


def node_record(node: Node) -> dict[str, Any]:
    """What the store keeps of a node, enough to book its disks again after a restart."""
    return {"hostname": node.hostname, "network_bw": node.network_bw,
            "disks": describe_disks(node.disks), "drained": node.drained}  # fmt: skip


def recover(scheduler: Scheduler, saved: Saved) -> None:
    """Rebuild what `saved` holds into a fresh scheduler. Leases that ended while the
    orchestrator was down end at the first turn of its loop (their timers are past)."""
    cluster = scheduler.cluster
    for entry in sorted(saved.nodes, key=lambda n: n["index"]):
        while len(cluster.nodes) < entry["index"]:  # a removed node's number stays taken
            slot = cluster.add_node(Node(-1, f"removed:{len(cluster.nodes)}", "", 0.0, []))
            cluster.forget(slot.index)
        data = entry["data"]
        node = cluster.add_node(build_node(entry["name"], data["hostname"], data["network_bw"],
                                           data["disks"], up=False))  # fmt: skip
        cluster.set_drained(node.index, bool(data.get("drained", False)))
    scheduler.next_id = max(scheduler.next_id, saved.next_id)
    for job in saved.jobs:
        scheduler.adopt(job)
    if saved.nodes or saved.jobs:
        log.info("restored %d node(s) and %d active job(s)", len(saved.nodes), len(saved.jobs))


class StoreArchive:
    """Ended jobs beyond the scheduler's in-memory history, read from the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def by_id(self, job_id: int) -> Job | None:
        return self.store.job(job_id)

    def by_request(self, user: str, request_id: str) -> Job | None:
        seen, job_id = self.store.request_job(user, request_id)
        return self.store.job(job_id) if seen and job_id is not None else None
