"""Shared plumbing of the fake command-line tools: state dir, call log, injected failures.

Environment:
  STORALLOC_FAKE_STATE  directory holding the fakes' state and calls.jsonl (required)
  STORALLOC_FAKE_FAIL   comma list of `tool[:subcommand][@n]`: make the n-th matching call
                        (every matching call without @n) fail like the real tool would
  STORALLOC_FAKE_HANG   same syntax: the matching call sleeps for an hour (timeout tests)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def state_dir() -> Path:
    """The state directory, or exit 2 like a misused tool."""
    d = os.environ.get("STORALLOC_FAKE_STATE")
    if not d:
        sys.stderr.write(f"{os.path.basename(sys.argv[0])} (fake): STORALLOC_FAKE_STATE unset\n")
        sys.exit(2)
    path = Path(d)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_call(tool: str, args: list[str]) -> int:
    """Append this call to calls.jsonl; return how many calls of `tool args[0]` came before."""
    log = state_dir() / "calls.jsonl"
    sub = args[0] if args else ""
    count = 0
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec["argv"][0] == tool and (rec["argv"][1:2] or [""])[0] == sub:
                count += 1
    with log.open("a") as f:
        f.write(json.dumps({"argv": [tool, *args]}) + "\n")
    return count


def _matches(var: str, tool: str, sub: str, nth: int) -> bool:
    for spec in filter(None, os.environ.get(var, "").split(",")):
        name, _, at = spec.strip().partition("@")
        want_tool, _, want_sub = name.partition(":")
        if want_tool != tool or (want_sub and want_sub != sub):
            continue
        if not at or int(at) == nth:
            return True
    return False


def start(tool: str) -> tuple[list[str], bool]:
    """Log the call, honour STORALLOC_FAKE_HANG; return (args, whether to fail)."""
    args = sys.argv[1:]
    nth = log_call(tool, args) + 1
    sub = args[0] if args else ""
    if _matches("STORALLOC_FAKE_HANG", tool, sub, nth):
        time.sleep(3600)
    return args, _matches("STORALLOC_FAKE_FAIL", tool, sub, nth)


def load_json(path: Path, default: object) -> object:
    """JSON content of `path`, or `default` if it does not exist."""
    return json.loads(path.read_text()) if path.exists() else default


def save_json(path: Path, data: object) -> None:
    """Write `data` to `path` as JSON."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def die(message: str, code: int) -> None:
    """Print `message` on stderr and exit with `code`."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)
