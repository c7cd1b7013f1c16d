"""Attach and detach a job's exports on this host: directly as root, else through the
`storalloc-nvme-helper` (doc/nvmeof.md, "Clients without root") via sudo."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence

from storalloc.client.attach import AttachError, attach_all, disconnect, find_device
from storalloc.server.runner import CommandError, Runner

#: How a user without root reaches the helper; STORALLOC_NVME_HELPER overrides (a command line).
DEFAULT_HELPER = "sudo -n storalloc-nvme-helper"
_ATTACHED_RE = re.compile(r"attached as (/dev/\S+)")


def _helper(action: str, job_id: int, runner: Runner) -> str:
    argv = [*shlex.split(os.environ.get("STORALLOC_NVME_HELPER") or DEFAULT_HELPER)]
    try:
        return runner.run([*argv, action, str(job_id)]).stdout
    except CommandError as exc:
        hint = " (not root: see doc/nvmeof.md, 'Clients without root')"
        raise AttachError(f"{exc}{hint}") from exc


def attach_job(
    job_id: int, connections: Sequence[Mapping[str, object]], hostnqn: str | None
) -> list[str]:
    """Connect every part of a grant; return the block devices. Nothing stays on failure."""
    runner = Runner(timeout=90.0)
    if os.geteuid() == 0:
        return attach_all(connections, hostnqn, runner=runner)
    return _ATTACHED_RE.findall(_helper("connect", job_id, runner))


def detach_job(job_id: int, connections: Sequence[Mapping[str, object]]) -> list[str]:
    """Disconnect the parts of a job that this host has attached; return their NQNs."""
    nqns = [str(c["nqn"]) for c in connections if c.get("nqn")]
    attached = [n for n in nqns if find_device(n)]
    if not attached:
        return []
    runner = Runner(timeout=30.0)
    if os.geteuid() != 0:
        _helper("disconnect", job_id, runner)
        return attached
    for nqn in attached:
        disconnect(nqn, runner=runner)
    return attached
