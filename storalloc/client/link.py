"""Request/reply with the orchestrator that survives a lost answer and notices a dead peer.

A reply can be lost (the orchestrator restarted, a connection broke), and a client waiting
for a grant can wait for hours. So: while waiting, the client pings every `keepalive`
seconds; when a ping or a request goes unanswered for `timeout` seconds it opens a new
connection and sends the same request again (same request id, so the orchestrator answers
from its job table instead of making a second job), and once the orchestrator has been
silent for `retry` seconds it gives up with `Unreachable`.
"""

from __future__ import annotations

import logging
import time
import uuid

import zmq

from storalloc.wire import protocol as p
from storalloc.wire.security import ClientSecurity
from storalloc.wire.transport import Dealer


class Unreachable(Exception):
    """The orchestrator did not answer within the configured time."""

log = logging.getLogger(__name__)


class ServerError(Exception):
    """The orchestrator answered with an `error` message."""

    def __init__(self, msg: p.Error) -> None:
        super().__init__(msg.message)
        self.code = msg.code


class Link:
    """One client's conversation with the orchestrator; replies to other requests are
    ignored. `retry` = 0 gives up after the first silent `timeout`."""

    def __init__(
        self,
        endpoint: str,
        timeout: float,
        context: zmq.Context | None = None,
        *,
        retry: float = 0.0,
        keepalive: float | None = None,
        security: ClientSecurity | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.retry = retry
        self.keepalive = keepalive if keepalive is not None else timeout
        self.ctx = context or zmq.Context.instance()
        # `security` adds CURVE to the socket and a fresh MUNGE credential to each request
        # (a re-sent request too: munged refuses a credential it has seen).
        self.security = security
        self.dealer = Dealer(self.ctx, endpoint, security=security)
        self.reconnects = 0
        self.instance = ""  # the orchestrator's, from its pongs

    def close(self) -> None:
        self.dealer.close()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def send(self, msg: p.Message) -> None:
        self.dealer.send(msg)

    def call(self, msg: p.Message) -> p.Message:
        self.send(msg)
        return self.receive(msg.request_id, self.timeout, resend=msg)  # type: ignore[attr-defined]

    def _reconnect(self) -> None:
        # A fresh DEALER: the old one may hold a connection the peer no longer knows.
        self.dealer.socket.setsockopt(zmq.LINGER, 0)
        self.dealer.close()
        self.dealer = Dealer(self.ctx, self.endpoint, security=self.security)
        self.reconnects += 1

    def _gone(self) -> Unreachable:
        tries = f" (reconnected {self.reconnects} time(s))" if self.reconnects else ""
        return Unreachable(
            f"no answer from the orchestrator at {self.endpoint} within "
            f"{max(self.retry, self.timeout):g} s{tries}; it is down or unreachable"
        )

    def _restarted(self, instance: str, resend: p.Message | None) -> None:
        """A restarted orchestrator has our job (its store) but not our address: re-send
        the request (same id: answered from the job, no second one). The run that took
        the request is known from its first notice; a pong before any notice means the
        request went unanswered, perhaps lost with a crashed run: ask again too."""
        known = self.instance
        self.instance = instance
        if resend is not None and known != instance:
            log.info("the orchestrator restarted; asking again for request %s",
                     getattr(resend, "request_id", "?"))
            self.send(resend)

    def receive(
        self, request_id: str, timeout: float | None, resend: p.Message | None = None
    ) -> p.Message:
        """The next reply to `request_id`. `timeout` bounds each attempt; None means the
        answer may take for ever (a queued request), and the orchestrator's liveness is
        checked with pings instead. `resend` is sent again on each new connection.
        Raises Unreachable when the orchestrator stays silent, ServerError on `error`."""
        heard = time.monotonic()  # last time anything came from the orchestrator
        attempt = heard  # when the current request or ping went out
        pinging = False
        while True:
            wait = timeout if timeout is not None and not pinging else self.timeout
            if timeout is None and not pinging:
                wait = self.keepalive
            msg = self.dealer.recv(max(0.0, attempt + wait - time.monotonic()) * 1000)
            now = time.monotonic()
            if msg is not None:
                heard, attempt, pinging = now, now, False
                if isinstance(msg, p.Pong):
                    self._restarted(msg.instance, resend)
                    continue
                if isinstance(msg, p.Notice) and not self.instance:
                    self.instance = msg.instance  # the run that took our request
                if getattr(msg, "request_id", request_id) not in (request_id, None):
                    continue  # a late reply to an earlier request of ours
                if isinstance(msg, p.Error):
                    raise ServerError(msg)
                return msg
            if timeout is None and not pinging:
                self.send(p.Ping(request_id=self.new_id()))
                attempt, pinging = now, True
                continue
            if now - heard >= max(self.retry, self.timeout):
                raise self._gone()
            self._reconnect()
            if resend is not None:
                self.send(resend)
            if timeout is None:
                self.send(p.Ping(request_id=self.new_id()))
            attempt = now
