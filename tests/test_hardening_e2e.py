"""Hardening against peers on the seed configuration: an oversized frame, a reader that
never reads, one node name used by two servers, bad node numbers, a bad state path."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
import zmq
from zmq.utils.monitor import recv_monitor_message

from storalloc.config.paths import default_state_dir
from storalloc.wire import protocol as p
from storalloc.wire.transport import MAX_FRAME, Dealer
from tests.procs import (
    AULT14,
    ORCH_CFG,
    ROOT,
    SERVER_CFG,
    WAIT,
    run_client,
    start_orchestrator,
    start_server,
)
from tests.services.curve import local_server_security

pytestmark = pytest.mark.e2e


def orch_config(tmp_path, **overrides: object):
    data = yaml.safe_load(ORCH_CFG.read_text())
    # Own state, but the host's default keys, which servers with the seed config trust.
    data.update({"state_dir": str(tmp_path / "state"),
                 "keys": str(default_state_dir() / "keys"), **overrides})  # fmt: skip
    path = tmp_path / "orchestrator.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def served(tmp_path):
    orch, clients, servers = start_orchestrator(config=orch_config(tmp_path, reply_queue=20))
    server = start_server(servers)
    try:
        orch.wait_for("Server registered")
        yield orch, server, clients, servers
    finally:
        server.stop()
        orch.stop()


def wait_disconnected(monitor: zmq.Socket) -> None:
    while True:
        assert monitor.poll(WAIT * 1000), "the orchestrator kept the connection"
        if recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
            return


def test_oversized_frame_is_cut_off_before_it_is_buffered(served):
    orch, _, clients, _ = served
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    sock.connect(clients)
    try:
        sock.send_multipart([p.VERSION, b"list_nodes", b" " * (4 * MAX_FRAME)])
        wait_disconnected(monitor)  # ZMQ_MAXMSGSIZE: the peer is disconnected
    finally:
        sock.disable_monitor()
        monitor.close()
        sock.close()
    result = run_client(clients, "-s", "200", "-t", "60")
    assert result.returncode == 0, result.stderr
    assert orch.proc.poll() is None


def test_reader_that_never_reads_is_dropped_and_others_are_served(served):
    orch, _, clients, _ = served
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1)
    sock.setsockopt(zmq.RCVBUF, 1024)
    sock.connect(clients)
    request = p.encode(p.ListNodes(request_id="x"))
    try:
        for _ in range(200):  # batches until the orchestrator gives up on us (bounded)
            for _ in range(1000):
                sock.send_multipart(request)
            if orch.count("does not read its replies", timeout=0.2):
                break
        assert orch.count("does not read its replies") == 1
    finally:
        sock.close()
    result = run_client(clients, "--nodes")
    assert result.returncode == 0 and "ault14:0" in result.stdout


def test_two_servers_with_one_name_and_one_key_do_not_fight(served):
    orch, first, clients, servers = served
    assert run_client(clients, "-s", "10", "-t", "60").returncode == 0
    first.wait_for("storalloc: {'job_id': 0")
    second = start_server(servers)  # same name, same host key: the name is in use
    try:
        second.wait_for("registration refused, will retry")
        assert "in use by a live server" in orch.wait_for("refused:")
        result = run_client(clients, "--show", "0", "--json")
        assert '"state": "ALLOCATED"' in result.stdout
        assert orch.count("Server registered") == 1
        assert first.count("removed export") == 0
    finally:
        assert second.stop() == 0


def test_negative_node_number_is_a_usage_error():
    done = subprocess.run([sys.executable, "server.py", "-c", str(SERVER_CFG), "-s",
                           str(AULT14), "--simulate", "--node", "-1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "--node: expected a node index >= 0, got -1" in done.stderr


def test_state_dir_that_cannot_be_made_is_a_clear_error_at_start(tmp_path):
    (tmp_path / "file").write_text("")
    cfg = orch_config(tmp_path, state_dir=str(tmp_path / "file" / "state"))
    done = subprocess.run([sys.executable, "orchestrator.py", "-c", str(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "state directory" in done.stderr and "Traceback" not in done.stderr


def test_reports_about_another_nodes_job_are_ignored(served):
    orch, first, clients, servers = served
    assert run_client(clients, "-s", "10", "-t", "60").returncode == 0
    first.wait_for("storalloc: {'job_id': 0")
    disks = [{"capacity": 10.0, "write_bw": 1.0, "read_bw": 1.0}]
    dealer = Dealer(zmq.Context.instance(), servers, security=local_server_security())
    try:
        dealer.send(p.Register(name="other:0", hostname="other", network_bw=1.0, disks=disks))
        assert isinstance(dealer.recv(WAIT * 1000), p.Registered)
        dealer.send(p.AllocFailed(job_id=0, part=0, reason="forged"))
        orch.wait_for("dropping a reply for job 0 part 0 attempt 1 from node 1: not the current")
    finally:
        dealer.close()
    result = run_client(clients, "--show", "0", "--json")
    assert '"state": "ALLOCATED"' in result.stdout


def test_server_that_never_reads_its_orders_is_dropped_and_marked_down(served):
    orch, _, clients, servers = served
    disks = [{"capacity": 10.0, "write_bw": 1.0, "read_bw": 1.0}]
    dealer = Dealer(zmq.Context.instance(), servers, security=local_server_security())
    dealer.socket.setsockopt(zmq.RCVHWM, 1)
    try:
        dealer.send(p.Register(name="slow:0", hostname="slow", network_bw=1.0, disks=disks))
        assert isinstance(dealer.recv(WAIT * 1000), p.Registered)
        junk = p.Allocate(job_id=0, part=0, parts=1, disk=0, capacity=1.0, duration=1.0,
                          user="u")  # not for servers: each one is answered with an error
        for _ in range(200):
            for _ in range(1000):
                dealer.send(junk)
            if orch.count("does not read its replies", timeout=0.2):
                break
        orch.wait_for("node 1 (slow:0) is down")
    finally:
        dealer.close()
    nodes = run_client(clients, "--nodes")
    assert any(line.split()[1:3] == ["slow:0", "DOWN"] for line in nodes.stdout.splitlines())
