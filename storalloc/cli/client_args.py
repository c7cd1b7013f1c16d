"""The client's command line: options, their value parsers, and which action a call asks for."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime

from storalloc.begin_time import local_zone, parse_begin
from storalloc.cli.common import add_verbosity, add_version, prog_name
from storalloc.trace_options import add_trace_read_options
from storalloc.units import parse_size_gb, parse_time_limit

__all__ = ["build_parser", "check_action", "parse"]


def _arg(parse: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse `type=` from a units parser: its ValueError becomes a usage error."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _node(text: str) -> str:
    """A node name or number (the orchestrator resolves it)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty node name")
    return text.strip()


def _job_id(text: str) -> int:
    """A job number: digits only, as scancel takes."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"invalid id {text!r}: expected a number")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The client's command line: a request, or one other action, or a trace replay."""
    parser = argparse.ArgumentParser(
        prog=prog_name("client.py"),
        description="Storalloc client: ask for N GB of storage for a given time, like salloc "
        "asks for nodes. Also lists (--list), shows (--show), releases (--release) "
        "allocations, and replays traces (--trace).",
        epilog="A request may end with `-- COMMAND ARGS`: the command runs with the "
        "allocation in its environment (STORALLOC_JOB_ID, STORALLOC_NQNS, STORALLOC_DEVICES "
        "with --attach, STORALLOC_END, STORALLOC_CONNECTIONS), and the allocation is "
        "released when it ends, as salloc does.",
    )
    parser.add_argument("-c", "--config", help="client YAML config (default: $STORALLOC_CONF, "
                        "then /etc/storalloc/client.yml)")  # fmt: skip
    parser.add_argument("--orchestrator", help="override the orchestrator endpoint")
    _add_request_args(parser.add_argument_group("requesting storage"))
    _add_action_args(parser.add_argument_group("other actions (one per call)"))
    _add_trace_args(parser.add_argument_group("trace replay"))
    add_verbosity(parser)
    add_version(parser)
    return parser


def _add_request_args(req: argparse._ArgumentGroup) -> None:
    """salloc-like options of a storage request."""
    req.add_argument("-s", "--size", type=_arg(parse_size_gb),
                     help="size in GB, or with a unit: 500M, 200G, 2T")
    req.add_argument("-t", "--time", type=_arg(parse_time_limit),
                     help="lease length, Slurm --time forms: minutes, MM:SS, HH:MM:SS, "
                     "D-HH, D-HH:MM, D-HH:MM:SS")
    req.add_argument("-b", "--begin", help="start later, Slurm --begin forms: now+1hour, "
                     "16:00, 2026-12-01T10:00:00, tomorrow")
    req.add_argument("--stripes", type=int, default=1, help="split into N parts (striping)")
    req.add_argument("-I", "--immediate", type=_seconds, nargs="?", const=0.0,
                     metavar="SECONDS", help="give up unless granted within SECONDS (0)")
    req.add_argument("--attach", action="store_true",
                     help="after the grant, connect with nvme-cli and print the device")
    req.add_argument("--hostnqn", help="this host's NVMe host NQN (default: hostnqn_file)")
    req.add_argument("--test-only", action="store_true",
                     help="only check that the request could ever fit this site, as sbatch "
                     "--test-only; books nothing")


def _add_action_args(act: argparse._ArgumentGroup) -> None:
    """The other actions, squeue/sinfo/scontrol/scancel-like, and their options."""
    act.add_argument("--list", action="store_true", help="list allocations, like squeue")
    act.add_argument("-u", "--user", dest="only_user", metavar="USER",
                     help="with --list: only USER's jobs (squeue -u)")
    act.add_argument("--me", action="store_true", help="with --list: only my jobs (squeue --me)")
    act.add_argument("--nodes", action="store_true", help="list storage nodes, like sinfo")
    act.add_argument("--drain", type=_node, metavar="NODE",
                     help="admins: close a node (name or number) to new placements")
    act.add_argument("--resume", type=_node, metavar="NODE",
                     help="admins: open a drained node again")
    act.add_argument("--remove-node", type=_node, metavar="NODE",
                     help="admins: forget a node that is down and holds no job")
    act.add_argument("--show", type=_job_id, metavar="JOB", help="everything about one job")
    act.add_argument("--release", type=_job_id, metavar="JOB", help="end a job now, like scancel")
    act.add_argument("--trace", metavar="FILE", help="replay a trace (orchestrator --simulate)")
    act.add_argument("--json", action="store_true",
                     help="JSON output: one JSON line per event for requests; a document "
                     "for --list, --nodes and --show")


def _add_trace_args(trace: argparse._ArgumentGroup) -> None:
    """Options of --trace."""
    add_trace_read_options(trace)
    trace.add_argument("--report", metavar="FILE", help="write the replay report (.yml/.json)")


def check_action(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The one action asked for (`request` when none is named); usage errors exit here."""
    # Job 0 is falsy: test for "given" explicitly.
    given = {"list": args.list, "nodes": args.nodes, "show": args.show is not None,
             "drain": args.drain is not None, "resume": args.resume is not None,
             "release": args.release is not None, "trace": args.trace is not None,
             "remove-node": args.remove_node is not None}
    actions = [name for name, on in given.items() if on]
    if len(actions) > 1:
        parser.error(f"choose one action, got --{' and --'.join(actions)}")
    if (args.me or args.only_user) and actions != ["list"]:
        parser.error("--me and -u/--user go with --list")
    if actions:
        if args.command:
            parser.error(f"`-- COMMAND` goes with a request, not with --{actions[0]}")
        return actions[0]
    if args.size is None or args.time is None:
        parser.error("a request needs both -s/--size and -t/--time (or one of --list, "
                     "--nodes, --show, --release, --drain, --resume, --trace)")
    if not 1 <= args.stripes <= 4096:
        parser.error(f"--stripes must be between 1 and 4096, got {args.stripes}")
    if args.begin is not None:
        try:
            args.begin = parse_begin(args.begin, datetime.now(local_zone())).timestamp()
        except ValueError as exc:
            parser.error(f"argument -b/--begin: {exc}")
    return "request"


def parse(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Arguments, with salloc's `-- COMMAND ARGS` split off first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if command == []:
        parser.error("nothing after `--`: expected a COMMAND to run")
    args.command = command
    return parser, args
