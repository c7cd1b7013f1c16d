"""What the orchestrator does with a storage server's message: registration (names bound to
keys, one live server per name), heartbeats, and setup reports. A mixin of `Orchestrator`
(storalloc.orchestrator.service)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from storalloc.core.cluster import build_node
from storalloc.orchestrator.decoding import decode_or_answer
from storalloc.wire import protocol as p

if TYPE_CHECKING:
    from storalloc.orchestrator.service import Orchestrator

log = logging.getLogger("storalloc.orchestrator.service")


class ServerDesk:
    """Server messages; `self` is the Orchestrator."""

    def _on_server(self: Orchestrator, address: bytes, frames: list[bytes]) -> None:
        if address in self.servers.dropped:
            return  # it stopped reading; it is heard again once it reconnects
        msg = decode_or_answer(self.servers, address, frames, "server")
        if msg is None:
            return
        node = self.wire.node_of_address.get(address)
        if node is not None:
            self.last_seen[node] = time.monotonic()
        match msg:
            case p.Register() if (refused := self._name_refused(msg.name, address)) is not None:
                log.warning("server %s refused: %s", address.hex(), refused[1])
                self.servers.send(address, p.Error(code=refused[0], message=refused[1]))
            case p.Register():
                joining = build_node(msg.name, msg.hostname, msg.network_bw, msg.disks)
                index = self.scheduler.admit_node(joining)
                self.wire.bind(index, address)
                self.last_seen[index] = time.monotonic()
                self.scheduler.node_joined(index, msg.exports)
            case _ if node is None or not self.scheduler.cluster.nodes[node].up:
                self.servers.send(address, p.Reregister(reason="unknown or expired server"))
            case p.Heartbeat():
                pass
            case p.Allocated():
                if not self.scheduler.part_ready(
                    msg.job_id, msg.part, msg.attempt, node, msg.export_id, msg.connection
                ):
                    self.servers.send(
                        address,
                        p.Deallocate(job_id=msg.job_id, part=msg.part, export_id=msg.export_id),
                    )
            case p.AllocFailed():
                if self.metrics is not None:
                    self.metrics.setup_failed()
                self.scheduler.part_failed(msg.job_id, msg.part, msg.attempt, node, msg.reason)
            case _:
                self.servers.send(
                    address, p.Error(code="unexpected", message=f"{msg.kind} is not for servers")
                )

    def _name_refused(self: Orchestrator, name: str, address: bytes) -> tuple[str, str] | None:
        """(code, reason) when the peer in hand may not register `name`, else None: another
        key holds the name, or another live connection does (two servers, one name)."""
        if self.security is not None:
            refusal = self.security.node_keys.check(name, self._peer)
            if refusal is not None:
                return "name_taken", refusal
        known = self.scheduler.cluster.node_index(name)
        if known is None or known not in self.last_seen:
            return None
        holder = self.wire.node_address.get(known)
        if holder is None or holder == address:
            return None
        return "name_in_use", (f"node name {name!r} is in use by a live server; this one is "
                               f"refused until that one stops or times out")  # fmt: skip
