"""How to read a trace: the options `client.py --trace` and the simulator
(`python -m storalloc.simulate`) share. Kept apart from the readers, which a client
imports only when it replays a trace."""

from __future__ import annotations

import argparse

FORMATS = ("native-yaml", "native-csv", "iojobs", "darshan", "swf")


def add_trace_read_options(group: argparse._ActionsContainer) -> None:
    """--format, --skip-bad and the SWF capacity model."""
    group.add_argument("--format", dest="trace_format", choices=FORMATS,
                       help="trace format (default: guessed from the file)")
    group.add_argument("--skip-bad", action="store_true",
                       help="skip malformed records (reported) instead of stopping")
    group.add_argument("--gb-per-proc", type=float, default=1.0,
                       help="SWF capacity model: GB per allocated processor")
    group.add_argument("--gb-per-core-hour", type=float, metavar="GB",
                       help="SWF capacity model instead: GB per processor-hour of run time")
