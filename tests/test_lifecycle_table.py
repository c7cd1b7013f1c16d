"""The lifecycle table: complete where it must be, and documented as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from storalloc.core.jobs import State
from storalloc.core.lifecycle import FINAL, TABLE, Ev, IllegalTransition, step, table_markdown

DOC = Path(__file__).resolve().parents[1] / "doc" / "architecture.md"


def test_the_documented_table_is_the_code_s_table():
    text = DOC.read_text()
    documented = text.split("<!-- lifecycle-table -->\n", 1)[1].split("\n<!-- /lifecycle", 1)[0]
    assert documented == table_markdown()


def test_final_states_take_no_event():
    for state in FINAL:
        for event in Ev:
            with pytest.raises(IllegalTransition, match=state.value):
                step(state, event)


@pytest.mark.parametrize("event", [Ev.RELEASED, Ev.NODE_DOWN, Ev.NODE_BACK, Ev.NODE_NEW_LAYOUT,
                                   Ev.RESTARTED])
def test_events_that_can_hit_any_active_job_are_handled_in_every_active_state(event):
    for state in (State.PENDING, State.CONFIGURING, State.ALLOCATED):
        assert (state, event) in TABLE


def test_a_lease_end_always_ends_the_job_and_gives_its_space_back():
    for state in (State.CONFIGURING, State.ALLOCATED):
        new, actions = step(state, Ev.LEASE_END)
        assert new in FINAL and "unbook" in actions and "teardown" in actions
