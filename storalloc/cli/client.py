"""`client.py`: ask for storage like salloc, list like squeue, show like scontrol, release
like scancel, attach with nvme-cli, or replay a trace into a simulating orchestrator."""

from __future__ import annotations

import argparse
import getpass
import os
import signal

from storalloc.cli.client_args import check_action, parse
from storalloc.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    closed_pipe_safe,
    setup_logging,
)
from storalloc.cli.listing import format_job, format_nodes, format_table, with_time_left
from storalloc.cli.trust import CredentialError, client_security
from storalloc.client.session import (
    Link,
    ServerError,
    Unreachable,
    dump_json,
    emit,
    fetch_job,
    fetch_jobs,
    release,
    say,
    say_error,
    set_output,
)
from storalloc.config.loader import ClientConfig, ConfigError, find_config, load_client_config
from storalloc.wire import protocol as p
from storalloc.wire.keys import SecurityError


@closed_pipe_safe
def main(argv: list[str] | None = None) -> int:
    parser, args = parse(argv)
    action = check_action(parser, args)
    setup_logging(args.verbose, args.quiet)
    set_output(quiet=args.quiet, as_json=args.json and action in ("request", "release"))
    connected = _connect(args)
    if connected is None:
        return EXIT_FAILED
    cfg, link = connected
    try:
        return _run(link, args, action, cfg)
    except (Unreachable, ServerError, CredentialError) as exc:
        code = exc.code if isinstance(exc, ServerError | CredentialError) else "unreachable"
        emit("error", None, code=code, message=str(exc))  # --json: scripts see it too
        say_error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED  # interrupted is not success, as with Slurm's commands
    finally:
        link.close()


def _connect(args: argparse.Namespace) -> tuple[ClientConfig, Link] | None:
    """The config and a link to the orchestrator, or None once a config or key problem is
    reported."""
    try:
        cfg = load_client_config(find_config("client", args.config))
    except ConfigError as exc:
        say_error(str(exc))
        return None
    # SIGTERM behaves like Ctrl-C: a waiting request is cancelled, nothing is left behind.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        security = client_security(cfg)
    except SecurityError as exc:
        say_error(str(exc))
        return None
    return cfg, Link(args.orchestrator or cfg.orchestrator, cfg.timeout, retry=cfg.retry,
                     keepalive=cfg.keepalive, security=security)  # fmt: skip


def _run(link: Link, args: argparse.Namespace, action: str, cfg: ClientConfig) -> int:
    """Carry out `action` over `link`; errors from the orchestrator propagate to main."""
    user = os.environ.get("STORALLOC_USER") or getpass.getuser()
    if action == "request":
        from storalloc.cli.client_request import request

        return request(link, args, cfg, user)
    if action == "list":
        return _list(link, user, args.json, user if args.me else args.only_user)
    if action == "nodes":
        return _nodes(link, args.json)
    if action in ("drain", "resume"):
        return _node_order(link, p.DrainNode(request_id=link.new_id(), user=user,
                                             node=_node_ref(args.drain or args.resume),
                                             drain=action == "drain"), args.json)
    if action == "remove-node":
        return _node_order(link, p.RemoveNode(request_id=link.new_id(), user=user,
                                              node=_node_ref(args.remove_node)), args.json)
    if action == "show":
        return _show(link, user, args.show, args.json)
    if action == "release":
        return _release(link, user, args.release)
    from storalloc.client.trace_replay import replay_command

    return replay_command(link, args, user)


def _node_ref(text: str) -> int | str:
    """A node as the user named it: its number, or its name (`--nodes` shows both)."""
    return int(text) if text.isdigit() else text


def _node_order(link: Link, order: p.DrainNode | p.RemoveNode, as_json: bool) -> int:
    """--drain, --resume, --remove-node: the orchestrator resolves the node and answers."""
    done = link.call(order)
    assert isinstance(done, p.Done)
    if as_json:
        dump_json({"node": order.node, "text": done.text})
    else:
        say(done.text)
    return EXIT_OK


def _list(link: Link, user: str, as_json: bool, only: str | None = None) -> int:
    jobs, now = fetch_jobs(link, user)
    if only is not None:
        jobs = [j for j in jobs if j["user"] == only]
    if as_json:
        dump_json([with_time_left(j, now) for j in jobs])
    else:
        print(format_table(jobs, now))
    return EXIT_OK


def _nodes(link: Link, as_json: bool) -> int:
    reply = link.call(p.ListNodes(request_id=link.new_id()))
    assert isinstance(reply, p.NodeList)
    if as_json:
        dump_json(reply.nodes)
    else:
        print(format_nodes(reply.nodes))
    return EXIT_OK


def _show(link: Link, user: str, job_id: int, as_json: bool) -> int:
    job, now = fetch_job(link, user, job_id)
    if as_json:
        dump_json(with_time_left(job, now))
    else:
        print(format_job(job, now))
    return EXIT_OK


def _release(link: Link, user: str, job_id: int) -> int:
    """scancel: detach locally first if this host is attached, then end the job."""
    from storalloc.client.attach import AttachError
    from storalloc.client.local import detach_job

    job, _ = fetch_job(link, user, job_id)
    try:
        for nqn in detach_job(job_id, job.get("connections", [])):
            emit("detached", f"disconnected {nqn}", job_id=job_id, nqn=nqn)
    except AttachError as exc:
        say_error(str(exc))
        return EXIT_FAILED
    text = release(link, user, job_id)
    emit("released", text, job_id=job_id, text=text)
    return EXIT_OK
