"""The client side of the protocol: ask for storage and follow it like salloc, list, show,
release. Output follows Slurm's habits (`storalloc: ...` lines, errors on stderr)."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable
from typing import Any

import zmq

from storalloc.wire import protocol as p
from storalloc.wire.security import ClientSecurity
from storalloc.wire.transport import Dealer

log = logging.getLogger(__name__)

PROG = "storalloc"


class Unreachable(Exception):
    """The orchestrator did not answer within the configured timeout."""


class ServerError(Exception):
    """The orchestrator answered with an `error` message."""

    def __init__(self, msg: p.Error) -> None:
        super().__init__(msg.message)
        self.code = msg.code


def say(text: str) -> None:
    print(f"{PROG}: {text}", flush=True)


def say_error(text: str) -> None:
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


class Link:
    """Request/reply with the orchestrator; replies to other requests are ignored."""

    def __init__(self, endpoint: str, timeout: float, context: zmq.Context | None = None,
                 security: ClientSecurity | None = None) -> None:  # fmt: skip
        self.endpoint = endpoint
        self.timeout = timeout
        # `security` adds CURVE to the socket and a MUNGE credential to each request.
        self.dealer = Dealer(context or zmq.Context.instance(), endpoint, security=security)

    def close(self) -> None:
        self.dealer.close()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def send(self, msg: p.Message) -> None:
        self.dealer.send(msg)

    def receive(self, request_id: str, timeout: float | None) -> p.Message:
        """The next reply to `request_id`. Raises Unreachable after `timeout` seconds of
        silence (None: wait for ever), ServerError on an error reply."""
        while True:
            msg = self.dealer.recv(None if timeout is None else timeout * 1000)
            if msg is None:
                raise Unreachable(
                    f"no answer from the orchestrator at {self.endpoint} within {timeout:g} s"
                )
            if getattr(msg, "request_id", request_id) not in (request_id, None):
                continue  # a late reply to an earlier request of ours
            if isinstance(msg, p.Error):
                raise ServerError(msg)
            return msg

    def call(self, msg: p.Message) -> p.Message:
        self.send(msg)
        return self.receive(msg.request_id, self.timeout)  # type: ignore[attr-defined]


def allocate(
    link: Link,
    request: p.AllocRequest,
    *,
    on_granted: Callable[[p.Granted], int] | None = None,
) -> int:
    """Submit and follow a request until granted or refused, like salloc. Ctrl-C (or
    SIGTERM) while waiting cancels it and says so."""
    log.debug(
        "Submitting request [%s,%s]", _short(request.size_gb), _short(request.duration_s / 60)
    )
    link.send(request)
    job_id: int | None = None
    timeout: float | None = link.timeout  # only the first answer is bounded, as with salloc
    try:
        while True:
            msg = link.receive(request.request_id, timeout)
            timeout = None
            match msg:
                case p.Notice():
                    job_id = msg.job_id
                    say(msg.text)
                case p.Granted():
                    for i, conn in enumerate(msg.connections):
                        shown = {"job_id": msg.job_id}
                        if len(msg.connections) > 1:
                            shown["part"] = i
                        say(str({**shown, **conn}))
                    return on_granted(msg) if on_granted else 0
                case p.Refused():
                    say_error(f"Unable to allocate resources: {msg.reason}")
                    return 1
    except KeyboardInterrupt:
        return _cancel(link, request, job_id)


def _cancel(link: Link, request: p.AllocRequest, job_id: int | None) -> int:
    try:
        if job_id is None:
            # The orchestrator may have the request already: learn its job id, then cancel.
            msg = link.receive(request.request_id, link.timeout)
            job_id = getattr(msg, "job_id", None)
            if job_id is None:
                return 0
        link.call(p.Cancel(request_id=link.new_id(), user=request.user, job_id=job_id))
    except (Unreachable, ServerError) as exc:
        say_error(f"cancelling job {job_id}: {exc}")
        return 1
    except KeyboardInterrupt:
        return 1
    say(f"Job allocation {job_id} has been revoked.")
    return 0


def fetch_jobs(link: Link, user: str) -> tuple[list[dict[str, Any]], float]:
    reply = link.call(p.ListJobs(request_id=link.new_id(), user=user))
    assert isinstance(reply, p.JobList)
    return reply.jobs, reply.now


def fetch_job(link: Link, user: str, job_id: int) -> tuple[dict[str, Any], float]:
    reply = link.call(p.ShowJob(request_id=link.new_id(), user=user, job_id=job_id))
    assert isinstance(reply, p.JobInfo)
    return reply.job, reply.now


def release(link: Link, user: str, job_id: int) -> str:
    reply = link.call(p.Release(request_id=link.new_id(), user=user, job_id=job_id))
    assert isinstance(reply, p.Done)
    return reply.text


def dump_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    print()


def _short(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
