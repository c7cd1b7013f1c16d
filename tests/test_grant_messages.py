"""What a grant costs on the wire, and what the client shows for it (issue 11, the wire):
the orchestrator sends no notice that the `granted` after it already says, and the client
prints salloc's lines exactly as before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storalloc.client import session
from storalloc.wire import protocol as p
from tests.test_scheduler import Site


def test_a_request_granted_at_once_gets_two_notices_then_the_grant():
    site = Site((100,))
    job = site.submit(10, 60)
    to_client = [m for side, a, m in site.out.sent if side == "client" and a == job.client]
    assert [type(m) for m in to_client] == [p.Notice, p.Notice, p.Granted]
    assert [m.text for m in to_client[:2]] == [
        f"Pending job allocation {job.id}",
        f"job {job.id} queued and waiting for resources",
    ]


def test_a_resent_request_of_a_granted_job_is_answered_with_the_grant_alone():
    site = Site((100,))
    job = site.submit(10, 60, request_id="r1")
    before = len(site.out.sent)
    again = site.submit(10, 60, request_id="r1", client="second")
    assert again is job
    told = [m for side, a, m in site.out.sent[before:] if side == "client"]
    assert [type(m) for m in told] == [p.Notice, p.Granted]
    assert p.granted_text(job.id) not in [m.text for m in told if isinstance(m, p.Notice)]


class FakeLink:
    """Just enough of `Link` for `session.allocate`: replies come from a list."""

    timeout = 5.0

    def __init__(self, replies: list[p.Message]) -> None:
        self.replies = replies
        self.sent: list[p.Message] = []

    def send(self, msg: p.Message) -> None:
        self.sent.append(msg)

    def new_id(self) -> str:
        return f"id{len(self.sent)}"

    def receive(self, request_id: str, timeout: Any, resend: Any = None) -> p.Message:
        return self.replies.pop(0)


def _request() -> p.AllocRequest:
    return p.AllocRequest(request_id="r1", user="alice", size_gb=200.0, duration_s=3600.0)


def _notice(text: str) -> p.Notice:
    return p.Notice(request_id="r1", job_id=0, text=text)


GRANTED = p.Granted(request_id="r1", job_id=0, connections=[{"type": "nvme", "nqn": "n"}],
                    end=1.0)  # fmt: skip
SEED_LINES = [
    "storalloc: Pending job allocation 0",
    "storalloc: job 0 queued and waiting for resources",
    "storalloc: Granted job allocation 0",
    "storalloc: {'job_id': 0, 'type': 'nvme', 'nqn': 'n'}",
]


@pytest.fixture(autouse=True)
def _text_output():
    session.set_output()
    yield
    session.set_output()


@pytest.mark.parametrize("with_grant_notice", [False, True])
def test_the_client_prints_the_seed_lines_with_or_without_the_grant_notice(
    capsys, with_grant_notice
):
    # An orchestrator of before this change still sends the notice: it is shown once.
    notices = ["Pending job allocation 0", "job 0 queued and waiting for resources"]
    if with_grant_notice:
        notices.append("Granted job allocation 0")
    link = FakeLink([*map(_notice, notices), GRANTED])
    assert session.allocate(link, _request()) == 0  # type: ignore[arg-type]
    assert capsys.readouterr().out.splitlines() == SEED_LINES


def test_json_output_keeps_the_grant_notice_event(capsys):
    session.set_output(as_json=True)
    link = FakeLink([_notice("Pending job allocation 0"), GRANTED])
    assert session.allocate(link, _request()) == 0  # type: ignore[arg-type]
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e.get("text")) for e in events] == [
        ("notice", "Pending job allocation 0"),
        ("notice", "Granted job allocation 0"),
        ("granted", None),
    ]
