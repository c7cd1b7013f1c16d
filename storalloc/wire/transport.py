"""ZeroMQ sockets for Storalloc: ROUTER on the orchestrator, DEALER on clients and servers.

Frames on the wire are `[version, kind, body]` (plus the ROUTER's identity frame, which
never leaves this module's callers' hands as anything but an opaque address).
Sockets never drop messages silently: high-water marks are lifted on the orchestrator's
ROUTERs (so a burst of replies queues instead of vanishing) and ROUTER_MANDATORY makes a
send to a vanished peer an error we can log instead of a silent loss.
"""

from __future__ import annotations

import logging
import os

import zmq

from storalloc.wire import protocol as p

log = logging.getLogger(__name__)


class Router:
    """A bound ROUTER socket. `recv()` returns (address, frames)."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 500)
        self.socket.bind(endpoint)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def recv(self) -> tuple[bytes, list[bytes]]:
        frames = self.socket.recv_multipart(copy=True)
        return frames[0], frames[1:]

    def send(self, address: bytes | None, msg: p.Message) -> bool:
        """Send to one peer; False (and a log line) when that peer is gone."""
        if address is None:
            return False
        try:
            self.socket.send_multipart([address, *p.encode(msg)])
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            log.debug("peer %r is gone; %s not delivered", address, msg.kind)
            return False
        return True

    def close(self) -> None:
        self.socket.close()


class Dealer:
    """A connected DEALER socket with timed receive."""

    def __init__(self, ctx: zmq.Context, endpoint: str, identity: bytes | None = None) -> None:
        self.socket = ctx.socket(zmq.DEALER)
        if identity:
            self.socket.setsockopt(zmq.IDENTITY, identity)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 1000)
        self.socket.connect(endpoint)
        self.endpoint = endpoint

    def send(self, msg: p.Message) -> None:
        self.socket.send_multipart(p.encode(msg))

    def poll(self, timeout_ms: float) -> bool:
        return bool(self.socket.poll(max(0, int(timeout_ms)), zmq.POLLIN))

    def recv(self, timeout_ms: float | None = None) -> p.Message | None:
        """The next message, or None on timeout. Raises ProtocolError on garbage."""
        if timeout_ms is not None and not self.poll(timeout_ms):
            return None
        return p.decode(self.socket.recv_multipart())

    def close(self) -> None:
        self.socket.close()


def drain_fd(fd: int) -> None:
    """Empty a non-blocking wake-up pipe (its bytes only mean 'look at your flags')."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
