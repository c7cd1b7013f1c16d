"""Fake blkdiscard (util-linux 2.38) for the wipe of released LVs: `blkdiscard --zeroout DEV`.

It zeroes the stand-in device file (an LV under $STORALLOC_FAKE_DEV, see lvm_impl). Extra
environment: STORALLOC_FAKE_GATE names a file the fake waits for before zeroing (at most 60 s),
so a test can see the server's loop go on while a wipe is still running.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from fakelib import die, start

CHUNK = 1 << 20


def _wait_for_gate() -> None:
    gate = os.environ.get("STORALLOC_FAKE_GATE")
    if not gate:
        return
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)


def blkdiscard(args: list[str], fail: bool) -> None:
    """blkdiscard --zeroout DEVICE."""
    devices = [a for a in args if not a.startswith("-")]
    if ("--zeroout" not in args and "-z" not in args) or len(devices) != 1:
        die("blkdiscard: bad usage\nTry 'blkdiscard --help' for more information.", 1)
    dev = Path(devices[0])
    if not dev.exists():
        die(f"blkdiscard: cannot open {dev}: No such file or directory", 1)
    _wait_for_gate()
    if fail:
        die(f"blkdiscard: {dev}: BLKZEROOUT ioctl failed: Input/output error", 1)
    size = dev.stat().st_size
    with dev.open("r+b") as f:
        for offset in range(0, size, CHUNK):
            f.write(b"\0" * min(CHUNK, size - offset))


def main(tool: str) -> None:
    """Entry point of the blkdiscard script."""
    args, fail = start(tool)
    blkdiscard(args, fail)
    sys.exit(0)
