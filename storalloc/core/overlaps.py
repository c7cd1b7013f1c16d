"""How many reservations overlap a window, by bisection over sorted starts and ends.

Only windows from the scheduler's now on are asked about, and a lease is forgotten when it
ends, so both lists are consumed from the front. Ends are exact: the lease that ends
first holds the smallest end, dropped by moving an offset rather than shifting the list.
Starts are counted from the top (the live leases, minus those starting at or after the
window's end): a start at or before now is never counted, so an ended lease leaves its
start behind, and the smallest starts (at or before now by then) are dropped in bulk once
they outnumber half the list.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

INF = float("inf")
#: Dead entries at the front of a list before it is compacted (and at least half of it).
COMPACT_AFTER = 64


class OverlapIndex:
    """Starts and ends of the live reservations of one disk (or node)."""

    __slots__ = ("_ends", "_head", "_starts", "live")

    def __init__(self) -> None:
        self._starts: list[float] = []  # sorted; every live start after now is here
        self._ends: list[float] = []  # sorted; entries before _head are dead
        self._head = 0
        self.live = 0  # reservations not forgotten yet (an attribute: read per disk figure)

    def __len__(self) -> int:
        return self.live

    def add(self, start: float, end: float) -> None:
        insort(self._starts, start)
        insort(self._ends, end, self._head)
        self.live += 1

    def forget(self, start: float, end: float, size: float, over: bool) -> None:
        """Take a reservation out, checking its end first: a bad call leaves no trace.
        `over`: it ended (end <= now), so its start, at or before now, may stay."""
        ends, head = self._ends, self._head
        i = bisect_left(ends, end, head)
        if i == len(ends) or ends[i] != end:
            raise KeyError(f"no reservation [{start}, {end}) of {size} GB")
        if i == head:
            self._head = head + 1
            if head >= COMPACT_AFTER and 2 * head > len(ends):
                del ends[: head + 1]
                self._head = 0
        else:
            del ends[i]
        self.live -= 1
        starts = self._starts
        if not over:  # it may start after now: its start must go (unless dropped already)
            j = bisect_left(starts, start)
            if j < len(starts) and starts[j] == start:
                del starts[j]
        # Starts no live lease holds, fewer the live ones dropped in bulk before: never more
        # than the starts at or before now, so the smallest that many can go.
        dead = len(starts) - self.live
        if dead >= COMPACT_AFTER and 2 * dead > len(starts):
            del starts[:dead]  # the smallest: at or before now, as the dead ones are

    def count(self, start: float, end: float) -> int:
        """Reservations that overlap [start, end) at all (start at or after now)."""
        starts = self._starts
        later = len(starts) - bisect_left(starts, end)
        return self.live - later - (bisect_right(self._ends, start, self._head) - self._head)

    def present(self, t: float) -> tuple[int, float]:
        """(reservations present at instant t, the first end after t), t at or after now."""
        starts, ends = self._starts, self._ends
        i = bisect_right(ends, t, self._head)
        later = len(starts) - bisect_right(starts, t)
        return self.live - later - (i - self._head), ends[i] if i < len(ends) else INF

    def kept_starts(self) -> list[float]:
        """The starts kept, in order (live ones, and ended ones not dropped yet)."""
        return list(self._starts)
