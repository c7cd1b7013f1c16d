"""The storage server process: register a node, then carve, export and tear down on request.

What it exports is rediscovered from the backend (subsystems, LVs, files named by export id)
plus the backend's own record of how each export was made, so a restarted server registers
with the exports it still has, the orchestrator tells it which to keep, and it re-creates
those the kernel lost in a reboot. Disks that fail the backend's checks are not registered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import zmq

from storalloc.core.cluster import describe_disks
from storalloc.server.backends.base import (
    Backend,
    BackendError,
    ExportSpec,
    export_id_for,
    make_nqn,
    parse_export_id,
)
from storalloc.units import format_number
from storalloc.wire import protocol as p
from storalloc.wire.security import ClientSecurity
from storalloc.wire.transport import Dealer, drain_fd

log = logging.getLogger(__name__)


class StorageServer:
    """One storage node's agent."""

    def __init__(
        self,
        *,
        endpoint: str,
        name: str,
        node: Any,  # storalloc.config.loader.NodeConfig
        backend: Backend,
        nqn_prefix: str,
        heartbeat_interval: float = 5.0,
        emit: Callable[[str], None] = print,
        context: zmq.Context | None = None,
        security: ClientSecurity | None = None,  # CURVE keys (doc/security.md)
    ) -> None:
        self.ctx = context or zmq.Context.instance()
        self.security = security
        self.refused: str | None = None  # why the orchestrator refused our name, if it did
        self._name_waiting = False
        self._handshake_said = ""
        self.endpoint = endpoint
        self.name = name
        self.node = node
        self.backend = backend
        self.nqn_prefix = nqn_prefix
        self.heartbeat_interval = heartbeat_interval
        self.emit = emit
        self.index: int | None = None  # global node number, once registered
        self.exports: dict[tuple[int, int], str] = {}
        self.usable = self._usable_disks()  # config indexes of the disks registered
        clean = getattr(backend, "clean_stale_hosts", None)
        for hostnqn in clean() if clean is not None else ():
            log.info("removed stale nvmet host entry %s", hostnqn)
        for export_id in backend.list_exports():
            self.exports[parse_export_id(export_id)] = export_id
        self.dealer: Dealer | None = None
        self._stop = False
        self._registered_at = -float("inf")  # monotonic time of the last `register` sent

    def _usable_disks(self) -> list[int]:
        """Indexes of the disks that passed the backend's checks; the others are disabled.

        Only usable disks are registered, so the orchestrator numbers them 0..n-1 and
        never places anything on a disabled one; `usable` maps its numbers back.
        """
        check = getattr(self.backend, "check", None)
        if check is not None:
            check()
        problems = getattr(self.backend, "disk_problems", lambda: {})()
        for index, why in sorted(problems.items()):
            log.error("disk %d (%s) disabled: %s", index, self.node.disks[index].path, why)
        usable = [i for i in range(len(self.node.disks)) if i not in problems]
        if not usable:
            raise BackendError("no usable disk on this node (see the messages above)")
        return usable

    def stop(self) -> None:
        self._stop = True

    def run(self, wakeup_fd: int | None = None) -> None:
        """Register, then serve until stop(). `wakeup_fd` (a signal pipe) ends the wait."""
        self.dealer = Dealer(self.ctx, self.endpoint, security=self.security)
        poller = zmq.Poller()
        poller.register(self.dealer.socket, zmq.POLLIN)
        if wakeup_fd is not None:
            poller.register(wakeup_fd, zmq.POLLIN)
        log.debug("Registering to the orchestrator (%s)", self.endpoint)
        self._register()
        next_beat = time.monotonic() + self.heartbeat_interval
        try:
            while not self._stop:
                wait = max(0.0, next_beat - time.monotonic())
                try:
                    events = dict(poller.poll(wait * 1000 + 1))
                except zmq.ZMQError as exc:
                    if exc.errno == zmq.EINTR:
                        continue
                    raise
                if wakeup_fd in events:
                    drain_fd(wakeup_fd)
                while self._receive():
                    pass
                if self.index is None:
                    self._check_handshake()
                # `registered` may have brought a shorter interval than our own config's.
                next_beat = min(next_beat, time.monotonic() + self.heartbeat_interval)
                if time.monotonic() >= next_beat:
                    self.dealer.send(p.Heartbeat(name=self.name))
                    next_beat = time.monotonic() + self.heartbeat_interval
        finally:
            self.dealer.close()

    def _check_handshake(self) -> None:
        """Say why we cannot get in (CURVE keys), instead of waiting in silence."""
        assert self.dealer is not None
        problem = self.dealer.handshake_problem()
        if problem is None or problem[1] == self._handshake_said:
            return
        final, why = problem
        log.error("cannot register: %s", why)
        self._handshake_said = why
        if final:
            self.refused = why
            self._stop = True

    def _register(self) -> None:
        self._registered_at = time.monotonic()
        disks = describe_disks([self.node.disks[i] for i in self.usable])
        assert self.dealer is not None
        self.dealer.send(
            p.Register(
                name=self.name, hostname=self.node.hostname, network_bw=self.node.network_bw,
                disks=disks, exports=sorted(self.exports.values()),
            )
        )  # fmt: skip

    def _receive(self) -> bool:
        """Handle the next waiting message; False when none was waiting."""
        assert self.dealer is not None
        try:
            msg = self.dealer.recv(0)
        except p.ProtocolError as exc:
            log.warning("bad message from the orchestrator: %s", exc)
            return True
        if msg is None:
            return False
        self._handle(msg)
        return True

    def _handle(self, msg: p.Message) -> None:
        match msg:
            case p.Registered():
                self._name_waiting = False
                self.index = msg.node
                self.heartbeat_interval = msg.heartbeat_interval
                self._reconcile(set(msg.hold))
            case p.Allocate():
                self.dealer.send(self._allocate(msg))
            case p.Deallocate():
                self._deallocate(msg)
            case p.Reregister():
                # Every message queued while we were away (a stopped process, a restarted
                # orchestrator) earns one of these: register once per heartbeat, not once
                # per message, or each registration would set up our parts again.
                log.debug("orchestrator asks to register again: %s", msg.reason)
                if time.monotonic() - self._registered_at >= self.heartbeat_interval:
                    self._register()
            case p.Error() if msg.code == "name_taken":
                log.error("registration refused: %s", msg.message)
                self.refused = msg.message
                self._stop = True
            case p.Error() if msg.code == "name_in_use":
                if not self._name_waiting:  # it retries at each heartbeat: say it once
                    log.warning("registration refused, will retry: %s", msg.message)
                self._name_waiting = True
            case p.Error():
                log.warning("orchestrator error: %s", msg.message)
            case _:
                log.warning("unexpected %s from the orchestrator", msg.kind if msg else None)

    def _reconcile(self, hold: set[str]) -> None:
        """Re-create held exports the kernel lost (reboot); tear down the ones not held."""
        restore = getattr(self.backend, "restore", None)
        if restore is not None:
            for export_id in restore(hold & set(self.exports.values())):
                log.info("re-exported %s, lost by the kernel (node rebooted?)", export_id)
        for key, export_id in list(self.exports.items()):
            if export_id not in hold:
                self._delete(key, export_id, why="unknown to the orchestrator")

    def _allocate(self, msg: p.Allocate) -> p.Message:
        shown = {"job_id": msg.job_id, "disk": msg.disk, "capacity": _num(msg.capacity),
                 "duration": _num(msg.duration)}  # fmt: skip
        if msg.parts > 1:
            shown["part"] = msg.part
        self.emit(f"storalloc: {shown}")
        key = (msg.job_id, msg.part)
        if not 0 <= msg.disk < len(self.usable):
            return p.AllocFailed(job_id=msg.job_id, part=msg.part, attempt=msg.attempt,
                                 reason=f"no disk {msg.disk}")
        disk = self.usable[msg.disk]
        if key in self.exports:  # a resent request: the export already exists
            self._delete(key, self.exports[key], why="set up again")
        export_id = export_id_for(msg.job_id, msg.part)
        try:
            spec = ExportSpec(
                export_id=export_id,
                nqn=make_nqn(self.nqn_prefix, self.node.hostname, export_id),
                disk=self.node.disks[disk], disk_index=disk,
                size_gb=msg.capacity, hostnqn=msg.hostnqn,
            )  # fmt: skip
            connection = self.backend.create(spec)
        except (BackendError, ValueError) as exc:
            log.error("job %d part %d: %s", msg.job_id, msg.part, exc)
            return p.AllocFailed(job_id=msg.job_id, part=msg.part, attempt=msg.attempt,
                                 reason=str(exc))
        except Exception as exc:
            # Whatever went wrong, the orchestrator must hear of it, or the job would wait
            # for this part for ever.
            log.exception("job %d part %d: unexpected error", msg.job_id, msg.part)
            return p.AllocFailed(job_id=msg.job_id, part=msg.part, attempt=msg.attempt,
                                 reason=f"internal error on {self.name}: {exc!r}")
        self.exports[key] = export_id
        return p.Allocated(job_id=msg.job_id, part=msg.part, attempt=msg.attempt,
                           export_id=export_id, connection=connection)

    def _deallocate(self, msg: p.Deallocate) -> None:
        key = (msg.job_id, msg.part)
        export_id = self.exports.get(key)
        if msg.export_id is not None and msg.export_id != export_id:
            # A stale attempt's export, not the part's live one: delete only that.
            self._delete(None, msg.export_id, why=f"job {msg.job_id} stale attempt")
            return
        if export_id is None:
            return
        self._delete(key, export_id, why=f"job {msg.job_id} ended")

    def _delete(self, key: tuple[int, int] | None, export_id: str, *, why: str) -> None:
        try:
            self.backend.delete(export_id)
        except BackendError as exc:
            # Keep it listed: the next registration retries the teardown.
            log.error("tearing down %s failed: %s", export_id, exc)
            return
        self.exports.pop(key, None)
        log.debug("removed export %s (%s)", export_id, why)


def _num(value: float) -> float | int:
    """200.0 prints as 200, as in the seed's `{'capacity': 200, 'duration': 60}`."""
    return int(value) if float(value).is_integer() else float(format_number(value))
