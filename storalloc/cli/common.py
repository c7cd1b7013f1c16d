"""What the three front ends share: logging with the seed's `[D]` prefixes, colour only
on terminals, clean stops on SIGINT/SIGTERM, and exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1  # refused, failed, unreachable
EXIT_USAGE = 2  # argparse's own code for usage errors

_PREFIX = {
    logging.DEBUG: "[D]",
    logging.INFO: "[I]",
    logging.WARNING: "[W]",
    logging.ERROR: "[E]",
    logging.CRITICAL: "[E]",
}


class _Formatter(logging.Formatter):
    def __init__(self, colours: dict[int, str] | None) -> None:
        super().__init__()
        self.colours = colours

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_PREFIX.get(record.levelno, '[?]')} {record.getMessage()}"
        if record.exc_info and record.levelno >= logging.ERROR:
            text += "\n" + self.formatException(record.exc_info)
        if self.colours:
            text = self.colours.get(record.levelno, "") + text + self.colours["reset"]
        return text


def _colours(stream: TextIO) -> dict[int, str] | None:
    """Colour codes when `stream` is a terminal (and NO_COLOR is unset), else None."""
    if not stream.isatty() or os.environ.get("NO_COLOR"):
        return None
    import colorama

    colorama.just_fix_windows_console()
    return {
        logging.DEBUG: colorama.Style.DIM,
        logging.INFO: "",
        logging.WARNING: colorama.Fore.YELLOW,
        logging.ERROR: colorama.Fore.RED,
        logging.CRITICAL: colorama.Fore.RED + colorama.Style.BRIGHT,
        "reset": colorama.Style.RESET_ALL,
    }  # type: ignore[dict-item]


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def setup_logging(verbose: int, quiet: bool = False, default: int = logging.WARNING) -> None:
    """`-v` shows `[D]` lines; `-q` keeps only errors; `default` is the level otherwise
    (daemons keep their INFO audit lines). Debug and info go to stdout, in order with the
    program's own output; warnings and errors go to stderr."""
    level = logging.ERROR if quiet else logging.DEBUG if verbose else default
    root = logging.getLogger("storalloc")
    root.handlers.clear()
    root.setLevel(level)
    root.propagate = False
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(_Below(logging.WARNING))
    out.setFormatter(_Formatter(_colours(sys.stdout)))
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    err.setFormatter(_Formatter(_colours(sys.stderr)))
    root.addHandler(out)
    root.addHandler(err)
    # The audit trail has its own file (setup_audit); until then it says nothing, so a
    # terminal shows the seed's lines only.
    audit = logging.getLogger("storalloc.audit")
    audit.handlers[:] = [logging.NullHandler()]
    audit.propagate = False


def setup_audit(path: str) -> None:
    """The audit trail (listen, register, grant, end of every job) is always on, in its own
    file ("-": stderr), so that the terminal shows what the seed shows. Raises OSError when
    the file cannot be opened."""
    audit = logging.getLogger("storalloc.audit")
    audit.handlers.clear()
    audit.propagate = False
    audit.setLevel(logging.INFO)
    if path == "-":
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    audit.addHandler(handler)


def prog_name(script: str) -> str:
    """The name in usage lines: the console command when run as one, else the script."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return invoked if invoked.startswith("storalloc-") else script


def add_version(parser: argparse.ArgumentParser) -> None:
    from storalloc import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def closed_pipe_safe(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """`cmd | head` closes our stdout early: end quietly instead of with a traceback."""

    def guarded(argv: list[str] | None = None) -> int:
        try:
            code = main(argv)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            # Python would flush stdout again at exit and fail the same way: point it away.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILED

    guarded.__doc__ = main.__doc__
    return guarded


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="show [D] lines")
    parser.add_argument("-q", "--quiet", action="store_true", help="show errors only")


def install_stop_handlers(stop: Callable[[], None]) -> int:
    """On SIGINT/SIGTERM call `stop()` and wake the event loop through the returned fd.

    The handler only flips a flag; the write end of a pipe registered with
    signal.set_wakeup_fd makes the loop's poll return at once instead of at its timeout.
    """
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    os.set_blocking(rfd, False)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)

    def handler(signum: int, frame: object) -> None:
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return rfd


def error(prog: str, message: str) -> None:
    """An error line in Slurm's shape: 'salloc: error: ...'."""
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
