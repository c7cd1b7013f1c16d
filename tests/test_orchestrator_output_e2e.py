"""What the orchestrator prints into a log (stdout not a terminal): bounded lines, even
for a year-long lease."""

from __future__ import annotations

import pytest

from tests.procs import run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e


def test_a_year_long_lease_draws_a_timeline_of_at_most_200_columns():
    orch, clients, servers = start_orchestrator()  # -v: the timeline is drawn
    server = start_server(servers)
    try:
        server.wait_for("Registering to the orchestrator")
        granted = run_client(clients, "-s", "10", "-t", "365-00:00:00")
        assert granted.returncode == 0, granted.stderr
        orch.wait_for("1 column = ")  # the coarser columns' header
        orch.wait_for("└")
    finally:
        server.stop()
        orch.stop()
    assert max(len(line) for line in orch.lines) <= 200
