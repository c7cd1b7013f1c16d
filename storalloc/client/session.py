"""The client side of the protocol: ask for storage and follow it like salloc, list, show,
release. Output follows Slurm's habits (`storalloc: ...` lines, errors on stderr); with
`--json` every event is one JSON object on its own stdout line, for scripts and Slurm."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from storalloc.client.link import Link, ServerError, Unreachable
from storalloc.wire import protocol as p

__all__ = [
    "Link",
    "ServerError",
    "Unreachable",
    "allocate",
    "dump_json",
    "emit",
    "fetch_job",
    "fetch_jobs",
    "release",
    "say",
    "say_error",
    "set_output",
]

log = logging.getLogger(__name__)

PROG = "storalloc"
_MODE = {"quiet": False, "json": False}


def set_output(*, quiet: bool = False, as_json: bool = False) -> None:
    """`-q`: errors only. `--json`: events as JSON lines instead of progress text."""
    _MODE["quiet"], _MODE["json"] = quiet, as_json


def json_mode() -> bool:
    return _MODE["json"]


def say(text: str) -> None:
    if not _MODE["quiet"] and not _MODE["json"]:
        print(f"{PROG}: {text}", flush=True)


def say_error(text: str) -> None:
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def emit(event: str, line: str | None = None, /, **fields: Any) -> None:
    """One event: a JSON line in --json mode, else `line` as a progress line (if any)."""
    if _MODE["json"]:
        print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)
    elif line is not None:
        say(line)


def allocate(
    link: Link,
    request: p.AllocRequest,
    *,
    on_granted: Callable[[p.Granted], int] | None = None,
) -> int:
    """Submit and follow a request until granted or refused, like salloc. Ctrl-C (or
    SIGTERM) while waiting cancels it and exits 1."""
    log.debug(
        "Submitting request [%s,%s]", _short(request.size_gb), _short(request.duration_s / 60)
    )
    link.send(request)
    # A ping right behind it: its pong (same loop turn) tells which orchestrator instance
    # took the request, so a restart while we wait is noticed and the request re-sent.
    link.send(p.Ping(request_id=link.new_id()))
    job_id: int | None = None
    shown: set[str] = set()
    timeout: float | None = link.timeout  # the first answer is bounded, as with salloc
    try:
        while True:
            msg = link.receive(request.request_id, timeout, resend=request)
            timeout = None  # then wait for ever, pinging to notice a dead orchestrator
            match msg:
                case p.Notice() if msg.text in shown:
                    pass  # told again after the orchestrator restarted: said already
                case p.Notice():
                    job_id = msg.job_id
                    shown.add(msg.text)
                    emit("notice", msg.text, job_id=msg.job_id, text=msg.text)
                case p.Granted():
                    _show_grant(msg, shown)
                    return on_granted(msg) if on_granted else 0
                case p.Refused():
                    emit("refused", None, job_id=msg.job_id, reason=msg.reason, code=msg.code)
                    say_error(f"Unable to allocate resources: {msg.reason}")
                    return 1
    except KeyboardInterrupt:
        return _cancel(link, request, job_id)


def _show_grant(msg: p.Granted, shown: set[str]) -> None:
    text = p.granted_text(msg.job_id)
    if text not in shown:  # the orchestrator leaves this line to us
        emit("notice", text, job_id=msg.job_id, text=text)
    if _MODE["json"]:
        emit("granted", job_id=msg.job_id, end=msg.end, connections=msg.connections)
        return
    for i, conn in enumerate(msg.connections):
        shown: dict[str, Any] = {"job_id": msg.job_id}
        if len(msg.connections) > 1:
            shown["part"] = i
        say(str({**shown, **conn}))  # the seed's line, kept verbatim


def _cancel(link: Link, request: p.AllocRequest, job_id: int | None) -> int:
    """Withdraw the request; always exit 1, as salloc does when interrupted."""
    try:
        if job_id is None:
            # The orchestrator may have queued the request already: learn its job id
            # (a second Ctrl-C gives up on that), then cancel.
            say(f"interrupted: waiting up to {link.timeout:g} s for the job id to cancel it")
            msg = link.receive(request.request_id, link.timeout)
            job_id = getattr(msg, "job_id", None)
            if job_id is None:
                return 1
        link.call(p.Cancel(request_id=link.new_id(), user=request.user, job_id=job_id))
    except (Unreachable, ServerError) as exc:
        what = f"job {job_id}" if job_id is not None else "the request"
        say_error(f"cancelling {what}: {exc}")
        return 1
    except KeyboardInterrupt:
        return 1
    emit("revoked", f"Job allocation {job_id} has been revoked.", job_id=job_id)
    return 1


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
