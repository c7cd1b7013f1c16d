"""A malformed frame on either orchestrator port gets an error reply; service goes on."""

from __future__ import annotations

import pytest
import zmq

from storalloc.wire import protocol as p
from tests.procs import run_client, start_orchestrator, start_server
from tests.services.curve import fresh_server_security

pytestmark = pytest.mark.e2e

BAD_FRAMES = [
    [b"garbage"],
    [p.VERSION, b"alloc_request", b"{\"size_gb\": \"lots\"}"],
    [p.VERSION, b"no_such_kind", b"{}"],
    [b"storalloc/0", b"register", b"{}"],
    [p.VERSION, b"alloc_request", b"x" * (p.MAX_BODY + 10)],
]


def _ask(endpoint: str, frames: list[bytes], curve: bool = False) -> p.Message:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve:  # the server socket speaks CURVE only
        fresh_server_security().setup(sock)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        assert sock.poll(10_000), "no reply to a malformed frame"
        return p.decode(sock.recv_multipart())
    finally:
        sock.close()


@pytest.mark.parametrize("port", ["clients", "servers"])
def test_malformed_frames_get_errors_and_the_next_request_is_granted(port):
    orch, clients, servers = start_orchestrator()
    server = start_server(servers)
    try:
        orch.wait_for("Server registered")
        target = clients if port == "clients" else servers
        codes = []
        for frames in BAD_FRAMES:
            reply = _ask(target, frames, curve=port == "servers")
            assert isinstance(reply, p.Error)
            assert reply.message
            codes.append(reply.code)
        assert codes == ["bad_frame", "bad_field", "unknown_kind", "bad_version", "too_large"]
        result = run_client(clients, "-s", "200", "-t", "60")
        assert result.returncode == 0, result.stderr
        assert "Granted job allocation 0" in result.stdout
        assert orch.proc.poll() is None and server.proc.poll() is None
    finally:
        server.stop()
        orch.stop()
