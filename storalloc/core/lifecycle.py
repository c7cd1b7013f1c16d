"""The job lifecycle as one table: (state, event) -> (new state, actions).

The scheduler decides *which* event happened (guards such as "was this the last part?"
are evaluated before dispatch) and this table decides *what follows*. Every pair not in
the table is a bug and raises `IllegalTransition`, so no path can end a job silently.

Actions, run in order by `Scheduler._fire` after the state is set:

=============  ==========================================================================
book           reserve the job's extents on its planned window
unbook         give that reservation back
arm_start      a timer for the planned start
arm_end        timers for the lease end (and the warning before it)
dequeue        leave the queue of waiting jobs
allocate       ask each part's server to carve and export it (always last: in simulation
               the answer comes back at once, inside this call)
record         keep the export and connection a server reported
grant          tell the client every connection
resend         ask again for the parts a returning server lost
teardown       tell servers to delete the exports the job asked for
retry          after a failed setup: try other disks, or the same ones after a backoff
replan         find the earliest start on the current cluster, book it, arm it
warn           tell the client the lease is about to end
=============  ==========================================================================

Entering a final state (COMPLETED, CANCELLED, FAILED, REFUSED) always ends with the same
epilogue: timers cancelled, the job archived, and exactly one `JobEnded` event, which the
wire turns into the client's final answer.
"""

from __future__ import annotations

import enum

from storalloc.core.jobs import State


class Ev(enum.StrEnum):
    PLANNED = "planned"  # an earliest start was found (and booked)
    UNPLANNABLE = "unplannable"  # no start on the current cluster: wait for a change
    NEVER_FITS = "never fits"  # larger than the site, even empty
    START = "start time reached"
    PART_ALLOCATED = "part allocated"
    LAST_PART_ALLOCATED = "last part allocated"
    PART_FAILED = "part failed"  # retries left
    SETUP_EXHAUSTED = "part failed, no retry left"
    LEASE_WARNING = "lease end near"
    LEASE_END = "lease end reached"
    RELEASED = "released"  # scancel by its owner or an admin, or the client's Ctrl-C
    IMMEDIATE_EXPIRED = "not granted in time"  # --immediate
    STRATEGY_FAILED = "strategy failed"
    CAPACITY_FREED = "capacity freed"  # a release, failure or new node: maybe start earlier
    NODE_DOWN = "node down"
    NODE_BACK = "node back"
    NODE_NEW_LAYOUT = "node re-registered with a new layout"
    RESTARTED = "orchestrator restarted"


# The events every job goes through, bound once (see storalloc.core.jobs on enum reads).
PLANNED, START, LAST_PART_ALLOCATED, LEASE_END = (
    Ev.PLANNED, Ev.START, Ev.LAST_PART_ALLOCATED, Ev.LEASE_END
)  # fmt: skip

P, C, A = State.PENDING, State.CONFIGURING, State.ALLOCATED
COMPLETED, CANCELLED, FAILED, REFUSED = (
    State.COMPLETED, State.CANCELLED, State.FAILED, State.REFUSED
)  # fmt: skip

TABLE: dict[tuple[State, Ev], tuple[State, tuple[str, ...]]] = {
    (P, Ev.PLANNED): (P, ("book", "arm_start")),
    (P, Ev.UNPLANNABLE): (P, ()),
    (P, Ev.NEVER_FITS): (REFUSED, ()),
    (P, Ev.START): (C, ("dequeue", "arm_end", "allocate")),
    (P, Ev.RELEASED): (CANCELLED, ("unbook",)),
    (P, Ev.IMMEDIATE_EXPIRED): (REFUSED, ("unbook",)),
    (P, Ev.STRATEGY_FAILED): (FAILED, ("unbook",)),
    (P, Ev.CAPACITY_FREED): (P, ("unbook", "replan")),
    (P, Ev.NODE_DOWN): (P, ("unbook", "replan")),
    (P, Ev.NODE_BACK): (P, ("replan",)),
    (P, Ev.NODE_NEW_LAYOUT): (P, ("unbook", "replan")),
    (P, Ev.RESTARTED): (P, ("book", "arm_start")),
    (C, Ev.PART_ALLOCATED): (C, ("record",)),
    (C, Ev.LAST_PART_ALLOCATED): (A, ("record", "grant")),
    (C, Ev.PART_FAILED): (P, ("teardown", "unbook", "retry")),
    (C, Ev.SETUP_EXHAUSTED): (FAILED, ("teardown", "unbook")),
    (C, Ev.LEASE_WARNING): (C, ("warn",)),
    (C, Ev.LEASE_END): (FAILED, ("teardown", "unbook")),
    (C, Ev.RELEASED): (CANCELLED, ("teardown", "unbook")),
    (C, Ev.NODE_DOWN): (C, ()),  # the lease clock runs; the part is asked again on return
    (C, Ev.NODE_BACK): (C, ("resend",)),
    (C, Ev.NODE_NEW_LAYOUT): (FAILED, ("teardown", "unbook")),
    (C, Ev.RESTARTED): (C, ("book", "arm_end")),  # parts are resent when servers register
    (A, Ev.PART_ALLOCATED): (A, ("record",)),  # a part set up again after a server restart
    (A, Ev.LEASE_WARNING): (A, ("warn",)),
    (A, Ev.LEASE_END): (COMPLETED, ("teardown", "unbook")),
    (A, Ev.RELEASED): (CANCELLED, ("teardown", "unbook")),
    (A, Ev.NODE_DOWN): (A, ()),  # shown as NODE_DOWN; the lease goes on
    (A, Ev.NODE_BACK): (A, ("resend",)),
    (A, Ev.NODE_NEW_LAYOUT): (FAILED, ("teardown", "unbook")),
    (A, Ev.RESTARTED): (A, ("book", "arm_end")),
}

FINAL = frozenset({COMPLETED, CANCELLED, FAILED, REFUSED})


class IllegalTransition(RuntimeError):
    """An event that the table does not allow in the job's state: a bug in the caller."""


def step(state: State, event: Ev) -> tuple[State, tuple[str, ...]]:
    """The new state and the actions for `event` in `state`."""
    try:
        return TABLE[state, event]
    except KeyError:
        raise IllegalTransition(f"event {event.value!r} in state {state.value}") from None


def table_markdown() -> str:
    """The table as Markdown rows, for doc/architecture.md (a test keeps them in sync)."""
    rows = ["| state | event | new state | actions |", "|---|---|---|---|"]
    for (state, event), (new, actions) in TABLE.items():
        rows.append(f"| {state.value} | {event.value} | {new.value} | {', '.join(actions)} |")
    return "\n".join(rows)
