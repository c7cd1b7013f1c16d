"""`client.py -s SIZE -t TIME`: a request, followed like salloc, then (with --attach or
`-- COMMAND`) held until the command ends; or only checked, with --test-only."""

from __future__ import annotations

import argparse

from storalloc.client.session import (
    Link,
    ServerError,
    Unreachable,
    allocate,
    emit,
    release,
    say_error,
)
from storalloc.wire import protocol as p


def request(link: Link, args: argparse.Namespace, cfg: object, user: str) -> int:
    from storalloc.client.attach import read_hostnqn

    if args.test_only:
        return test_only(link, args.size)
    hostnqn = args.hostnqn or read_hostnqn(cfg.hostnqn_file)  # type: ignore[attr-defined]
    alloc = p.AllocRequest(
        request_id=link.new_id(), user=user, size_gb=args.size, duration_s=float(args.time),
        begin=args.begin, stripes=args.stripes, immediate=args.immediate, hostnqn=hostnqn,
    )
    if not args.attach and not args.command:
        return allocate(link, alloc)
    return allocate(link, alloc, on_granted=lambda g: _hold(link, user, g, args, hostnqn))


def _hold(link: Link, user: str, granted: p.Granted, args: argparse.Namespace,
          hostnqn: str | None) -> int:  # fmt: skip
    """salloc after the grant: attach, run the command, detach and release."""
    from storalloc.client import salloc
    from storalloc.server.runner import Runner

    salloc.raise_on_signals()  # from here on an interrupt must give the lease back
    runner = Runner(timeout=30.0)

    def give_back(job_id: int) -> None:
        try:
            release(link, user, job_id)
        except ServerError as exc:
            if exc.code != "job_ended":  # the lease ran out meanwhile: nothing to give back
                say_error(f"releasing job {job_id}: {exc}")
        except Unreachable as exc:
            say_error(f"releasing job {job_id}: {exc}")

    attach = (lambda g: salloc.attach_all(g, hostnqn)) if args.attach else None
    return salloc.hold(granted, args.command, attach, give_back, runner)


def test_only(link: Link, size_gb: float) -> int:
    """Could the request ever fit, on every node the site has (down ones included, as
    they may come back)? Books nothing: for Slurm's submit-time check."""
    reply = link.call(p.ListNodes(request_id=link.new_id()))
    assert isinstance(reply, p.NodeList)
    total = sum(n["capacity_gb"] for n in reply.nodes)
    if size_gb > total:
        reason = (f"request of {size_gb:g} GB exceeds the capacity of this site "
                  f"({total:g} GB on {len(reply.nodes)} node(s))")  # fmt: skip
        emit("refused", None, job_id=None, reason=reason, code="larger_than_site")
        say_error(f"Unable to allocate resources: {reason}")
        return 1
    emit("test_only", f"a request of {size_gb:g} GB could fit this site ({total:g} GB)",
         size_gb=size_gb, capacity_gb=total)  # fmt: skip
    return 0
