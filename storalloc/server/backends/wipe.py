"""Zero released space before it can be carved again, without blocking the server's loop.

An LV's extents go back to the volume group at `lvremove`, and `lvcreate` zeroes only the
first 4 KiB of a new LV, so the next tenant would read the previous one's data. Each released
LV is therefore zeroed with `blkdiscard --zeroout` (the kernel's write-zeroes, offloaded to
the device where it can) by one worker thread, and only then removed. Until then its extents
stay allocated, so nothing unwiped can be handed out; a server that dies mid-wipe finds the
LV again on start (an orphan) and wipes it again.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from storalloc.server.runner import CommandError, Runner

log = logging.getLogger("storalloc.server.backends")


@dataclass(frozen=True, slots=True)
class WipeJob:
    """Zero `device`, then run `finish` (which frees it); `group` is e.g. the VG name."""

    group: str
    device: str
    finish: Callable[[], object]


class Wiper:
    """One background worker that zeroes devices in order; synchronous in dry runs."""

    def __init__(self, runner: Runner, timeout: float = 3600.0) -> None:
        self.runner = runner
        self.timeout = timeout
        self._queue: queue.Queue[WipeJob] = queue.Queue()
        self._pending: dict[str, int] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # (device, seconds) of the latest wipes, for logs and tests; bounded for long runs.
        self.done: collections.deque[tuple[str, float]] = collections.deque(maxlen=100)

    def submit(self, job: WipeJob) -> None:
        """Queue `job`; returns at once (dry runs print the commands right away)."""
        if self.runner.dry_run:
            self._run(job)
            return
        with self._cond:
            self._pending[job.group] = self._pending.get(job.group, 0) + 1
            if self._thread is None:
                # A daemon: a server stopping mid-wipe leaves the LV, found again on start.
                self._thread = threading.Thread(target=self._work, name="wiper", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def pending(self, group: str | None = None) -> int:
        """Wipes queued or running (in `group`, or in all groups)."""
        with self._cond:
            if group is None:
                return sum(self._pending.values())
            return self._pending.get(group, 0)

    def wait(self, group: str | None = None, timeout: float | None = None) -> bool:
        """Block until no wipe of `group` (or any) is pending; False if `timeout` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.pending(group):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._pending[job.group] -= 1
                    self._cond.notify_all()

    def _run(self, job: WipeJob) -> None:
        start = time.monotonic()
        try:
            self.runner.run(["blkdiscard", "--zeroout", job.device], timeout=self.timeout)
        except CommandError as exc:
            # Never free space that may still hold a tenant's data: the LV stays, and the next
            # registration's reconcile retries the whole teardown.
            log.error("wiping %s failed, keeping it allocated: %s", job.device, exc)
            return
        took = time.monotonic() - start
        self.done.append((job.device, took))
        log.info("wiped %s in %.1fs", job.device, took)
        try:
            job.finish()
        except Exception as exc:  # the worker must survive to wipe the next one
            log.error("freeing %s after its wipe failed: %s", job.device, exc)
