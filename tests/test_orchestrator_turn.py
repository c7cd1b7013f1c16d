"""One loop turn of the orchestrator, in process, on real sockets and a real store: nothing
leaves, to a client or to a server, before the commit of the state it reports or orders;
and a crash in that commit has told no one anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from storalloc.orchestrator.service import Orchestrator
from storalloc.orchestrator.store import Store
from storalloc.strategies.first_fit import FirstFit
from storalloc.wire import protocol as p

WAIT_MS = 30_000  # a bound for delivery on loopback, never reached when things work
DISK = {"capacity": 100, "write_bw": 1, "read_bw": 1, "model": "m", "path": "/dev/x"}


@pytest.fixture
def dealer() -> Iterator[Callable[[str], zmq.Socket]]:
    """A factory of DEALER sockets connected to an endpoint, closed after the test."""
    context = zmq.Context()
    opened: list[zmq.Socket] = []

    def connect(endpoint: str) -> zmq.Socket:
        sock = context.socket(zmq.DEALER)
        sock.connect(endpoint)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close(linger=0)
    context.term()


def _orchestrator(db: Path) -> Orchestrator:
    return Orchestrator(client_endpoint="tcp://127.0.0.1:*", server_endpoint="tcp://127.0.0.1:*",
                        strategy=FirstFit(), store=Store(db))  # fmt: skip


def _close(orch: Orchestrator) -> None:
    orch.close()
    assert orch.store is not None
    orch.store.close()


def _recv(sock: zmq.Socket) -> p.Message:
    assert sock.poll(WAIT_MS), "nothing arrived"
    return p.decode(sock.recv_multipart())


def _serve_one(orch: Orchestrator, router_socket: zmq.Socket) -> None:
    """A turn once the message sent to `router_socket` is there."""
    assert router_socket.poll(WAIT_MS)
    orch._turn({router_socket: zmq.POLLIN})


def _register(orch: Orchestrator, server: zmq.Socket, exports: list[str]) -> p.Registered:
    server.send_multipart(p.encode(p.Register(name="n0", hostname="h", network_bw=1.0,
                                              disks=[DISK], exports=exports)))  # fmt: skip
    _serve_one(orch, orch.servers.socket)
    registered = _recv(server)
    assert isinstance(registered, p.Registered)
    return registered


def _watch_commits(orch: Orchestrator, seen: list[Any], look: Any) -> None:
    """From now on, call `look()` at each commit (instead of an earlier watcher) and keep
    what it returns."""
    store = orch.store
    assert store is not None
    store.flush = lambda: (seen.append(look()), Store.flush(store))[1]  # type: ignore[method-assign]


def _held(router: Any) -> list[type]:
    return [type(m) for _, m in router._held or []]


def test_orders_and_replies_leave_after_the_commit(dealer, tmp_path):
    orch = _orchestrator(tmp_path / "s.db")
    server = dealer(orch.servers.endpoint)
    client = dealer(orch.clients.endpoint)
    _register(orch, server, [])
    at_commit: list[Any] = []
    _watch_commits(orch, at_commit, lambda: (_held(orch.servers), _held(orch.clients)))
    client.send_multipart(p.encode(p.AllocRequest(request_id="r1", user="alice", size_gb=10,
                                                  duration_s=600)))  # fmt: skip
    _serve_one(orch, orch.clients.socket)
    assert at_commit == [([p.Allocate], [p.Notice, p.Notice])]
    order = _recv(server)
    assert isinstance(order, p.Allocate) and order.job_id == 0
    assert [_recv(client).text for _ in range(2)] == [  # type: ignore[attr-defined]
        "Pending job allocation 0", "job 0 queued and waiting for resources"]  # fmt: skip

    at_commit.clear()
    server.send_multipart(p.encode(p.Allocated(job_id=0, part=0, attempt=order.attempt,
                                               export_id="j0-p0-aaaaaa",
                                               connection={"nqn": "n"})))  # fmt: skip
    _serve_one(orch, orch.servers.socket)
    assert at_commit == [([], [p.Granted])]  # one message tells the grant (issue 11)
    assert isinstance(_recv(client), p.Granted)
    _close(orch)


class Crash(Exception):
    """Stands for kill -9 during the commit of a turn."""


def test_a_crash_in_the_commit_has_told_no_one(dealer, tmp_path):
    orch = _orchestrator(tmp_path / "s.db")
    server = dealer(orch.servers.endpoint)
    client = dealer(orch.clients.endpoint)
    _register(orch, server, [])
    assert orch.store is not None

    def crash() -> int:
        raise Crash

    orch.store.flush = crash  # type: ignore[method-assign]
    client.send_multipart(p.encode(p.AllocRequest(request_id="r1", user="alice", size_gb=10,
                                                  duration_s=600)))  # fmt: skip
    assert orch.clients.socket.poll(WAIT_MS)
    with pytest.raises(Crash):
        orch._turn({orch.clients.socket: zmq.POLLIN})
    assert _held(orch.servers) == [p.Allocate] and _held(orch.clients) == [p.Notice, p.Notice]
    _close(orch)
    again = _orchestrator(tmp_path / "s.db")
    assert again.scheduler.next_id == 0  # job 0 was never saved, nor told to anyone
    _close(again)
