"""A burst of requests sent without reading replies: every one is answered, none dropped."""

from __future__ import annotations

import time

import pytest
import zmq

from storalloc.wire import protocol as p
from tests.procs import start_orchestrator, start_server

pytestmark = pytest.mark.e2e

BURST = 2000


def test_burst_of_requests_loses_no_answer():
    orch, clients, servers = start_orchestrator(verbose=False)
    server = start_server(servers, "-q")
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.connect(clients)
    try:
        # Wait for the server: a request before it registers is refused ("no server").
        deadline = time.monotonic() + 20
        while True:
            sock.send_multipart(p.encode(p.ListNodes(request_id="probe")))
            assert sock.poll(10_000)
            if p.decode(sock.recv_multipart()).nodes:
                break
            assert time.monotonic() < deadline, "the server never registered"
            time.sleep(0.05)
        for i in range(BURST):  # all sent before a single reply is read
            sock.send_multipart(p.encode(p.AllocRequest(
                request_id=f"r{i}", user="load", size_gb=1.0, duration_s=3600.0)))
        granted: set[str] = set()
        kinds: dict[str, int] = {}
        while len(granted) < BURST:
            assert sock.poll(30_000), f"only {len(granted)} of {BURST} granted: {kinds}"
            msg = p.decode(sock.recv_multipart())
            kinds[msg.kind] = kinds.get(msg.kind, 0) + 1
            if isinstance(msg, p.Granted):
                granted.add(msg.request_id)
            assert not isinstance(msg, p.Refused), msg.reason
        assert granted == {f"r{i}" for i in range(BURST)}
        # Pending and queued notices for each (the client shows the grant's own line for
        # `granted`), and nothing else went wrong.
        assert kinds == {"notice": 2 * BURST, "granted": BURST}
    finally:
        sock.close()
        server.stop()
        orch.stop()
