"""`storalloc-nvme-helper`: connect / disconnect a granted export for a user without root.

`nvme connect` needs root. Rather than giving users nvme-cli through sudo (which would let
them attach any target, with any options), a site installs this helper for a sudoers rule:

    storalloc-nvme-helper connect JOB      # as root, via sudo
    storalloc-nvme-helper disconnect JOB

The only input is a job number. The helper asks the orchestrator (endpoint from a root-owned
client config) for that job as the invoking user (`SUDO_USER`, set by sudo), checks that the
user owns it and that it is live, checks every field of its connections, and only then runs
`nvme connect` / `nvme disconnect` for those NQNs, with this host's own host NQN.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import pwd
import re
import stat
import sys
from collections.abc import Mapping
from typing import Any

from storalloc.client.attach import AttachError, attach_all, disconnect, read_hostnqn

PROG = "storalloc-nvme-helper"
DEFAULT_CONFIG = "/etc/storalloc/client.yml"
ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED", "REFUSED"})
_NQN_RE = re.compile(r"^nqn\.[\x21-\x2e\x30-\x7e]{1,219}$")
TRTYPES = frozenset({"tcp", "rdma"})


class HelperError(Exception):
    """A refusal or failure, reported as one line without a traceback."""


def invoking_user() -> str:
    """Who asked: sudo's SUDO_USER when run through sudo, else the real user."""
    name = os.environ.get("SUDO_USER") if os.geteuid() == 0 else None
    return name or pwd.getpwuid(os.getuid()).pw_name


def trusted_config(path: str) -> str:
    """`path`, if only root can change it (and its folder); the orchestrator it names is
    trusted to say which targets this host may attach."""
    for p in (path, os.path.dirname(os.path.abspath(path))):
        try:
            st = os.stat(p)
        except OSError as exc:
            raise HelperError(f"cannot use config {path}: {exc}") from exc
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise HelperError(f"refusing config {path}: {p} must be writable by root only")
    return path


def check_connection(conn: Mapping[str, Any]) -> dict[str, Any]:
    """The connection, if every field is what a Storalloc server returns; else HelperError."""
    from storalloc.server.backends.dhchap import validate_secret

    nqn, trtype = conn.get("nqn"), conn.get("trtype")
    if not isinstance(nqn, str) or not _NQN_RE.match(nqn):
        raise HelperError(f"the grant has an invalid NQN: {nqn!r}")
    if trtype not in TRTYPES:
        raise HelperError(f"{nqn}: transport {trtype!r} is not one of {sorted(TRTYPES)}")
    try:
        ipaddress.ip_address(str(conn.get("traddr")))
    except ValueError as exc:
        raise HelperError(f"{nqn}: traddr is not an IP address: {exc}") from exc
    if not str(conn.get("trsvcid", "")).isdigit():
        raise HelperError(f"{nqn}: trsvcid must be a port number")
    if conn.get("dhchap_secret") is not None:
        try:
            validate_secret(str(conn["dhchap_secret"]))
        except ValueError as exc:
            raise HelperError(f"{nqn}: {exc}") from exc
    keep = ("type", "nqn", "trtype", "traddr", "trsvcid", "dhchap_secret", "ctrl_loss_tmo")
    return {k: conn[k] for k in keep if k in conn}


def granted_connections(job: Mapping[str, Any], user: str) -> list[dict[str, Any]]:
    """The checked connections of `job` if `user` owns it and it is live."""
    if job.get("user") != user:
        raise HelperError(f"job {job.get('job_id')} is not yours ({user})")
    if str(job.get("state")) in ENDED:
        raise HelperError(f"job {job.get('job_id')} has ended ({job.get('state')})")
    conns = job.get("connections") or []
    if not conns:
        raise HelperError(f"job {job.get('job_id')} has no export to attach yet")
    return [check_connection(c) for c in conns]


def _fetch(config: str, user: str, job_id: int) -> dict[str, Any]:
    from storalloc.client.session import Link, ServerError, Unreachable, fetch_job
    from storalloc.config.loader import ConfigError, load_client_config

    try:
        cfg = load_client_config(config)
    except ConfigError as exc:
        raise HelperError(str(exc)) from exc
    link = Link(cfg.orchestrator, cfg.timeout)
    try:
        return fetch_job(link, user, job_id)[0]
    except (Unreachable, ServerError) as exc:
        raise HelperError(str(exc)) from exc
    finally:
        link.close()


def run(action: str, job_id: int, config: str) -> list[str]:
    """Do `action` for `job_id`; return the lines to print."""
    from storalloc.server.runner import Runner

    user = invoking_user()
    conns = granted_connections(_fetch(trusted_config(config), user, job_id), user)
    runner = Runner(timeout=60.0)
    if action == "connect":
        devices = attach_all(conns, read_hostnqn(), runner=runner)
        return [f"job {job_id} attached as {d}" for d in devices]
    for conn in conns:
        disconnect(str(conn["nqn"]), runner=runner)
    return [f"disconnected {c['nqn']}" for c in conns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["connect", "disconnect"])
    parser.add_argument("job", type=int, help="the job number, as client.py prints it")
    parser.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        help=f"client config, owned by root (default {DEFAULT_CONFIG})",
    )
    args = parser.parse_args(argv)
    try:
        for line in run(args.action, args.job, args.config):
            print(f"storalloc: {line}", flush=True)
    except (HelperError, AttachError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
