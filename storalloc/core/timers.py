"""A heap of timers: (deadline, priority, sequence, callback). At the same deadline, lower
priorities fire first, then timers in the order they were scheduled, which keeps replays
deterministic. Cancelling is lazy (O(1))."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class Timer:
    """What to call, and whether it was cancelled; when it fires is its heap entry's."""

    __slots__ = ("args", "callback", "cancelled")

    def __init__(self, callback: Callable[..., Any], args: tuple) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerQueue:
    def __init__(self) -> None:
        # (deadline, priority, seq, timer): tuples compare in C, and seq is unique, so the
        # timer itself is never compared.
        self._heap: list[tuple[float, int, int, Timer]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return sum(1 for *_, t in self._heap if not t.cancelled)

    def schedule(
        self, deadline: float, callback: Callable[..., Any], *args: Any, priority: int = 0
    ) -> Timer:
        timer = Timer(callback, args)
        heapq.heappush(self._heap, (deadline, priority, next(self._seq), timer))
        return timer

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and heap[0][3].cancelled:
            heapq.heappop(heap)

    def next_deadline(self) -> float | None:
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def pop_next(self, until: float) -> tuple[float, Timer] | None:
        """(deadline, timer) of the earliest live timer due at or before `until`, removed
        from the queue (cancelled ones before it are dropped on the way)."""
        heap = self._heap
        while heap:
            deadline, _, _, timer = heap[0]
            if deadline > until:
                return None
            heapq.heappop(heap)
            if not timer.cancelled:
                return deadline, timer
        return None

    def run_due(self, now: float) -> int:
        """Fire every timer due at or before `now` (including ones scheduled while firing)."""
        fired = 0
        while (due := self.pop_next(now)) is not None:
            _, timer = due
            timer.callback(*timer.args)
            fired += 1
        return fired
