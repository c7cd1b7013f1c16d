"""ZeroMQ sockets for Storalloc: ROUTER on the orchestrator, DEALER on clients and servers.

Frames on the wire are `[version, kind, body]` (plus the ROUTER's identity frame, which
never leaves this module's callers' hands as anything but an opaque address).
Sockets never drop messages silently: ROUTER_MANDATORY makes a send to a vanished peer
an error we can log instead of a silent loss. Each peer's reply queue is bounded
(`reply_queue` messages): a burst fits, but a peer that never reads is dropped and logged
rather than growing the orchestrator's memory without limit. ZMQ_MAXMSGSIZE makes
ZeroMQ close a connection that sends a frame larger than a valid message could be, before
it is buffered.

`Router.hold()` buffers outgoing messages until `release()`: the orchestrator holds during a
loop turn and releases after the store's commit, so nothing reports a change that a crash
could still lose.
"""

from __future__ import annotations

import logging
import os

import zmq
from zmq.utils.monitor import recv_monitor_message

from storalloc.wire import protocol as p
from storalloc.wire.keys import KeyPair
from storalloc.wire.security import ClientSecurity, curve_server

log = logging.getLogger(__name__)

MAX_FRAME = p.MAX_BODY + 4096  # the largest body plus slack; a longer frame is refused
_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)  # fmt: skip
REPLY_QUEUE = 10_000  # replies queued per peer before it counts as never reading
_DROPPED_MEMORY = 10_000  # how many dropped peers we remember (to log each once)


class HandshakeRefused(Exception):
    """The orchestrator refused this peer's CURVE key; the message says so."""


class Router:
    """A bound ROUTER socket. `recv()` returns (address, frames).

    `curve` = (key pair, ZAP domain) makes it a CURVE server; a ZAP handler must run.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str, *, reply_queue: int = REPLY_QUEUE,
                 curve: tuple[KeyPair, str] | None = None) -> None:  # fmt: skip
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, reply_queue)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)
        self.socket.setsockopt(zmq.LINGER, 500)
        if curve is not None:
            curve_server(self.socket, *curve)
        self.socket.bind(endpoint)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.dropped: dict[bytes, None] = {}  # insertion-ordered: oldest forgotten first
        self._held: list[tuple[bytes, p.Message]] | None = None
        self._newly_dropped: list[bytes] = []

    def recv(self) -> tuple[bytes, list[bytes]]:
        frames = self.socket.recv_multipart(copy=True)
        return frames[0], frames[1:]

    def recv_nowait(self) -> tuple[bytes, list[bytes], zmq.Frame] | None:
        """(address, frames, last frame) or None; the frame carries the peer's CURVE key."""
        try:
            parts = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None
        return parts[0].bytes, [f.bytes for f in parts[1:]], parts[-1]

    def hold(self) -> None:
        """Buffer what is sent from now on, until `release()`."""
        if self._held is None:
            self._held = []

    def release(self) -> int:
        """Send what was held, in order; the number of messages sent."""
        held, self._held = self._held or [], None
        for address, msg in held:
            self._send_now(address, msg)
        return len(held)

    def send(self, address: bytes | None, msg: p.Message) -> bool:
        """Send to one peer; False (and a log line) when that peer is gone or dropped.
        While held, the message is queued and True returned."""
        if address is None:
            return False
        if self._held is not None:
            self._held.append((address, msg))
            return True
        return self._send_now(address, msg)

    def _send_now(self, address: bytes, msg: p.Message) -> bool:
        if address in self.dropped:
            return False
        try:
            _send_frames(self.socket, [address, *p.encode(msg)], zmq.NOBLOCK)
        except zmq.Again:
            self._drop(address)
            return False
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            if msg.kind != "pong":  # a client may leave once answered, before its pong
                log.debug("peer %r is gone; %s not delivered", address, msg.kind)
            return False
        return True

    def _drop(self, address: bytes) -> None:
        log.warning("peer %s does not read its replies (%d queued); dropping it",
                    address.hex(), self.socket.getsockopt(zmq.SNDHWM))  # fmt: skip
        self.dropped[address] = None
        self._newly_dropped.append(address)
        if len(self.dropped) > _DROPPED_MEMORY:
            del self.dropped[next(iter(self.dropped))]

    def take_dropped(self) -> list[bytes]:
        """Peers dropped since the last call (their owner may have to forget them)."""
        dropped, self._newly_dropped = self._newly_dropped, []
        return dropped

    def close(self) -> None:
        self.socket.close()


class Dealer:
    """A connected DEALER socket with timed receive."""

    def __init__(self, ctx: zmq.Context, endpoint: str, identity: bytes | None = None,
                 security: ClientSecurity | None = None) -> None:  # fmt: skip
        self.socket = ctx.socket(zmq.DEALER)
        if identity:
            self.socket.setsockopt(zmq.IDENTITY, identity)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)
        self.socket.setsockopt(zmq.LINGER, 1000)
        self.security = security
        self._monitor: zmq.Socket | None = None
        self.refused: str | None = None  # set for good once the orchestrator refuses our key
        if security is not None and security.keys is not None:
            security.setup(self.socket)
            self._monitor = self.socket.get_monitor_socket(_HANDSHAKE_FAILED)
        self.socket.connect(endpoint)
        self.endpoint = endpoint

    def handshake_problem(self) -> tuple[bool, str] | None:
        """(final, why) when a CURVE handshake failed since the last call, else None.
        `final`: the orchestrator refused our key, and ZeroMQ will not try again."""
        problem = (True, self.refused) if self.refused else None
        while self._monitor is not None and self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self.refused = (f"the orchestrator at {self.endpoint} refused this key "
                                "(not in its allow-list of server keys)")  # fmt: skip
                problem = (True, self.refused)
            elif problem is None:
                problem = (False, f"CURVE handshake with {self.endpoint} failed: is "
                           "orchestrator_key that orchestrator's public key?")  # fmt: skip
        return problem

    def send(self, msg: p.Message) -> None:
        """Send `msg`, with a fresh MUNGE credential when the security setup asks for one.
        Raises HandshakeRefused when the orchestrator refused our CURVE key: ZeroMQ does not
        retry then, and a plain send would wait for ever."""
        if self.security is not None:
            msg = self.security.sign(msg)
        frames = p.encode(msg)
        while self._monitor is not None and not self.socket.poll(500, zmq.POLLOUT):
            problem = self.handshake_problem()
            if problem is not None and problem[0]:
                raise HandshakeRefused(problem[1])
        _send_frames(self.socket, frames)

    def poll(self, timeout_ms: float) -> bool:
        return bool(self.socket.poll(max(0, int(timeout_ms)), zmq.POLLIN))

    def recv(self, timeout_ms: float | None = None) -> p.Message | None:
        """The next message, or None on timeout. Raises ProtocolError on garbage."""
        if timeout_ms is not None and timeout_ms <= 0:
            try:  # no poller to build for a look that does not wait
                return p.decode(self.socket.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return None
        if timeout_ms is not None and not self.poll(timeout_ms):
            return None
        return p.decode(self.socket.recv_multipart())

    def close(self) -> None:
        if self._monitor is not None:
            self.socket.disable_monitor()
            self._monitor.close()
        self.socket.close()


def _send_frames(socket: zmq.Socket, frames: list[bytes], flags: int = 0) -> None:
    """`send_multipart` without its per-frame type checks (a third of a message's send cost
    on the grant path); frames here are always bytes. Raises as `send_multipart` does: a
    refused first frame (zmq.Again, EHOSTUNREACH) leaves nothing half sent."""
    more = flags | zmq.SNDMORE
    send = socket.send
    for frame in frames[:-1]:
        send(frame, more)
    send(frames[-1], flags)


def drain_fd(fd: int) -> None:
    """Empty a non-blocking wake-up pipe (its bytes only mean 'look at your flags')."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
