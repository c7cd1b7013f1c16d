"""`client.py --trace`: replay a trace into an orchestrator running `--simulate`.

Records go out in submit order, up to 256 to a `TraceBatch`, with up to WINDOW batches in
flight: the client never sleeps and never waits for one answer before sending the next, and
nothing can be dropped because every batch is acknowledged (`TraceAck`). Then
`TraceEnd` makes the orchestrator run the remaining leases and answer with the report.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from storalloc.client.session import (
    Link,
    ServerError,
    Unreachable,
    dump_json,
    say,
    say_error,
)
from storalloc.sim.progress import Progress
from storalloc.sim.report import add_trace_stats, format_report, report_format, write_report
from storalloc.sim.traces import TraceError, TraceRecord, read_trace_with_stats
from storalloc.wire import protocol as p

WINDOW = 4  # batches in flight: keeps both sockets busy, bounds the queued memory
EXIT_OK, EXIT_FAILED = 0, 1  # as storalloc.cli.common's (this module sits below cli)
REPORT_TIMEOUT = 120.0  # s: ending a long replay runs every remaining lease first
SERVER_POLL = 0.1  # s between two checks for a registered storage server at start-up


class ReplayError(Exception):
    """The replay cannot go on; the message says why."""


def replay_command(link: Link, args: argparse.Namespace, user: str) -> int:
    """Read `args.trace`, replay it, print the report table, write `--report`. Exit code."""
    try:
        if args.report:
            report_format(args.report)  # a bad name fails now, not after the replay
        records, stats = read_trace_with_stats(
            args.trace, args.trace_format, skip_bad=args.skip_bad,
            gb_per_proc=args.gb_per_proc, on_skip=_warn_skip,
            gb_per_core_hour=getattr(args, "gb_per_core_hour", None),
        )  # fmt: skip
    except (TraceError, ValueError) as exc:
        say_error(str(exc))
        return EXIT_FAILED
    try:
        wait_for_servers(link, link.timeout)
        progress = Progress(len(records))
        try:
            send_records(link, records, user, progress.update)
        finally:
            progress.close()
        report = end_replay(link)
    except ReplayError as exc:
        say_error(str(exc))
        return EXIT_FAILED
    add_trace_stats(report, stats)
    if getattr(args, "json", False):
        dump_json(report)
    else:
        print(format_report(report), flush=True)
    if args.report:
        try:
            write_report(report, args.report)
        except OSError as exc:
            say_error(f"cannot write the report to {args.report}: {exc.strerror or exc}")
            return EXIT_FAILED
        say(f"report written to {args.report}")
    return EXIT_OK


def _warn_skip(error: TraceError) -> None:
    say_error(f"skipping bad record: {error}")


def nodes(link: Link) -> p.NodeList:
    """The orchestrator's nodes, mode, and how many requests it admitted so far."""
    reply = link.call(p.ListNodes(request_id=link.new_id()))
    if not isinstance(reply, p.NodeList):
        raise ReplayError(f"unexpected {reply.kind} answer to list_nodes")
    return reply


def wait_for_servers(link: Link, timeout: float, count: int = 1) -> p.NodeList:
    """Wait until at least `count` storage servers are registered (a server started with
    the client may register a moment later), and check that nothing was replayed yet."""
    deadline = time.monotonic() + timeout
    while True:
        state = nodes(link)
        if not state.simulate:
            raise ReplayError("trace replay needs orchestrator --simulate")
        if state.submitted:
            raise ReplayError(
                f"the orchestrator has already admitted {state.submitted} requests; "
                "restart orchestrator.py --simulate for a new replay"
            )
        up = sum(n["state"] == "UP" for n in state.nodes)
        if up >= count:
            return state
        if time.monotonic() >= deadline:
            raise ReplayError(
                f"{up} storage server(s) registered with the orchestrator, expected "
                f"{count}; start server.py --simulate first"
            )
        time.sleep(SERVER_POLL)  # waiting on other processes to start, bounded


def send_records(
    link: Link,
    records: Sequence[TraceRecord],
    user: str = "trace",
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Submit every record, in TraceBatch messages of up to p.MAX_TRACE_BATCH records with
    WINDOW of them in flight, and wait until every batch is acknowledged."""
    prefix = link.new_id() + "-"
    size = p.MAX_TRACE_BATCH
    firsts = range(0, len(records), size)  # each batch by the index of its first record
    sent = acked = done = 0
    while acked < len(firsts):
        while sent < len(firsts) and sent - acked < WINDOW:
            first = firsts[sent]
            link.send(_batch(prefix + str(first), records[first : first + size], user))
            sent += 1
        msg = link.dealer.recv(link.timeout * 1000)
        if msg is None:
            raise Unreachable(
                f"no answer from the orchestrator at {link.endpoint} within {link.timeout:g} s"
            )
        request_id = getattr(msg, "request_id", None) or ""
        if not request_id.startswith(prefix):
            continue  # a late answer to something else
        if isinstance(msg, p.Error):
            raise ReplayError(msg.message)  # it names the record
        if isinstance(msg, p.TraceAck):
            acked += 1
            done += min(size, len(records) - int(request_id[len(prefix) :]))
            if on_progress is not None:
                on_progress(done)


def _batch(request_id: str, records: Sequence[TraceRecord], user: str) -> p.TraceBatch:
    return p.TraceBatch(
        request_id=request_id,
        trace_ids=[r.id for r in records],
        users=[r.user or user for r in records],
        submits=[r.submit for r in records],
        sizes_gb=[r.capacity for r in records],
        durations_s=[r.duration for r in records],
        begins=[r.start for r in records],
    )


def end_replay(link: Link) -> dict:
    """Send TraceEnd and return the report (the remaining leases run first)."""
    request_id = link.new_id()
    link.send(p.TraceEnd(request_id=request_id))
    try:
        reply = link.receive(request_id, max(link.timeout, REPORT_TIMEOUT))
    except ServerError as exc:
        raise ReplayError(f"ending the replay: {exc}") from exc
    if not isinstance(reply, p.Report):
        raise ReplayError(f"unexpected {reply.kind} answer to trace_end")
    return reply.report
