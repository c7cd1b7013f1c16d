"""The client as scripts and Slurm use it, with real processes: salloc's `-- COMMAND`, JSON
events, -q, closed pipes, interrupts, failed attach, and an orchestrator that dies or
loses a request while a client waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import zmq

from storalloc.wire import protocol as p
from tests.procs import (
    CLIENT_CFG,
    ROOT,
    WAIT,
    Proc,
    client_proc,
    env,
    run_client,
    start_orchestrator,
    start_server,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def site():
    orch, clients, servers = start_orchestrator(verbose=False)
    server = start_server(servers)
    try:
        server.wait_for("Registering to the orchestrator")
        # The server is in once --nodes lists it.
        wait_nodes(clients)
        yield orch, clients
    finally:
        server.stop()
        orch.stop()


def wait_nodes(clients: str) -> None:
    for _ in range(100):
        listed = run_client(clients, "--nodes", "--json")
        if listed.returncode == 0 and json.loads(listed.stdout):
            return
    raise AssertionError("the server never registered")


def job(clients: str, job_id: int) -> dict:
    shown = run_client(clients, "--show", str(job_id), "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_command_runs_with_its_allocation_and_releases_it(site):
    _, clients = site
    script = 'echo "id=$STORALLOC_JOB_ID nqns=$STORALLOC_NQNS end=$STORALLOC_END"; exit 3'
    result = run_client(clients, "-s", "10", "-t", "60", "--", "sh", "-c", script)
    assert result.returncode == 3, result.stderr  # the command's own exit code
    line = next(x for x in result.stdout.splitlines() if x.startswith("id="))
    assert line.startswith("id=0 nqns=nqn.2026-11.io.storalloc:ault14:j0-p0-"), line
    assert "storalloc: Relinquishing job allocation 0" in result.stdout
    assert job(clients, 0)["state"] == "CANCELLED"  # released at once, not after 60 min


def test_command_not_found_releases_and_exits_127(site):
    _, clients = site
    result = run_client(clients, "-s", "10", "-t", "60", "--", "/nonexistent/tool")
    assert result.returncode == 127
    assert "storalloc: error: /nonexistent/tool: No such file or directory" in result.stderr
    assert job(clients, 0)["state"] == "CANCELLED"


def test_sigterm_stops_the_command_releases_and_exits_non_zero(site):
    _, clients = site
    proc = client_proc(clients, "-s", "10", "-t", "60", "--", "sh", "-c",
                       "echo ready; exec sleep 600")  # fmt: skip
    proc.wait_for("ready")
    code = proc.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, proc.lines
    assert "storalloc: Relinquishing job allocation 0" in proc.lines
    assert not any("Traceback" in line for line in proc.lines)
    assert job(clients, 0)["state"] == "CANCELLED"


def test_failed_attach_releases_what_was_granted(site):
    _, clients = site
    # Simulated servers send no transport address, so the attach fails before nvme-cli.
    result = run_client(clients, "-s", "10", "-t", "60", "--attach", "--hostnqn",
                        "nqn.2014-08.org.nvmexpress:uuid:1", "--", "true")  # fmt: skip
    assert result.returncode == 1
    assert "storalloc: error: job 0: part 0: connection info has no 'trtype'" in result.stderr
    assert job(clients, 0)["state"] == "CANCELLED"


def test_json_request_prints_one_object_per_event(site):
    _, clients = site
    result = run_client(clients, "-s", "10", "-t", "60", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["notice", "notice", "notice", "granted"]
    assert events[0] == {"event": "notice", "job_id": 0, "text": "Pending job allocation 0"}
    (conn,) = events[-1]["connections"]
    assert conn["nqn"].startswith("nqn.2026-11.io.storalloc:ault14:j0-p0-")
    assert events[-1]["end"] > 0
    released = run_client(clients, "--release", "0", "--json")
    assert json.loads(released.stdout)["event"] == "released"


def test_quiet_request_prints_nothing(site):
    _, clients = site
    result = run_client(clients, "-s", "10", "-t", "60", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_refusal_in_json_names_the_reason(site):
    _, clients = site
    result = run_client(clients, "-s", "1P", "-t", "60", "--json")
    assert result.returncode == 1
    *_, event = [json.loads(line) for line in result.stdout.splitlines()]
    assert event["event"] == "refused" and event["code"] and event["reason"]
    assert event["reason"] in result.stderr


def test_closed_pipe_ends_quietly(site):
    _, clients = site
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails
    result = subprocess.run(
        [sys.executable, "client.py", "-c", str(CLIENT_CFG), "--orchestrator", clients,
         "--nodes", "--json"],
        cwd=ROOT, stdout=write, stderr=subprocess.PIPE, text=True, env=env(), timeout=60,
    )  # fmt: skip
    os.close(write)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.returncode == 1


def test_drain_takes_a_node_name(site):
    _, clients = site
    result = run_client(clients, "--drain", "ault14:0", user="root")
    assert result.returncode == 0, result.stderr
    assert "storalloc: node 0 (ault14:0) drained" in result.stdout
    unknown = run_client(clients, "--drain", "nosuch", user="root")
    assert unknown.returncode == 1
    assert "invalid node specified: nosuch; known nodes: ault14:0 (0)" in unknown.stderr


def test_begin_wait_shows_begintime(site):
    _, clients = site
    waiting = client_proc(clients, "-s", "10", "-t", "60", "--begin", "now+1hour")
    try:
        waiting.wait_for("estimated start at")
        table = run_client(clients, "--list").stdout.splitlines()
        assert table[1].split()[4:] == ["PENDING", "(BeginTime)", "-"]
    finally:
        waiting.stop()
    shown = run_client(clients, "--show", "0").stdout
    assert "State=CANCELLED" in shown and "TimeLeft" not in shown  # ended: no TimeLeft


# --- a dead or forgetful orchestrator ---------------------------------------------------------


def fast_client_config(tmp_path, endpoint: str) -> str:
    cfg = tmp_path / "client.yml"
    cfg.write_text(f"orchestrator: {endpoint}\ntimeout: 0.5\nkeepalive: 0.5\nretry: 2\n")
    return str(cfg)


def test_client_exits_when_the_orchestrator_is_killed_while_it_waits(tmp_path):
    orch, clients, servers = start_orchestrator(verbose=False)
    server = start_server(servers)
    try:
        wait_nodes(clients)
        waiting = Proc(["client.py", "-c", fast_client_config(tmp_path, clients), "-s", "10",
                        "-t", "60", "--begin", "now+1hour"], STORALLOC_USER="alice")
        waiting.wait_for("estimated start at")
        orch.kill()  # SIGKILL: no goodbye reaches the client
        assert waiting.proc.wait(timeout=WAIT) == 1
        waiting.stop()
        message = next(x for x in waiting.lines if "error" in x)
        assert message.startswith(f"storalloc: error: no answer from the orchestrator at "
                                  f"{clients} within 2 s (reconnected"), waiting.lines
        assert not any("Traceback" in line for line in waiting.lines)
    finally:
        server.stop()
        orch.stop()


def test_unanswered_request_is_resent_with_the_same_id_on_a_new_connection(tmp_path):
    """A stand-in orchestrator (a real ROUTER socket) drops the first request on the floor,
    then answers the copy: the client must re-send the same request id from a new socket."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
    client = Proc(["client.py", "-c", fast_client_config(tmp_path, endpoint), "-s", "10",
                   "-t", "60"], STORALLOC_USER="alice")
    try:
        def next_request() -> tuple[bytes, p.AllocRequest]:
            while True:  # pings go unanswered too: the stand-in is silent
                assert router.poll(WAIT * 1000)
                address, *frames = router.recv_multipart()
                msg = p.decode(frames)
                if isinstance(msg, p.AllocRequest):
                    return address, msg

        first_addr, first = next_request()
        second_addr, second = next_request()
        assert second.request_id == first.request_id
        assert second_addr != first_addr  # a fresh connection
        rid = second.request_id
        router.send_multipart([second_addr, *p.encode(p.Granted(
            request_id=rid, job_id=5, connections=[{"type": "nvme", "nqn": "nqn.x:y"}],
            end=1e10))])  # fmt: skip
        assert client.proc.wait(timeout=WAIT) == 0
        client.stop()
        assert "storalloc: {'job_id': 5, 'type': 'nvme', 'nqn': 'nqn.x:y'}" in client.lines
    finally:
        client.stop()
        router.close(0)
        ctx.term()


def test_trace_replay_report_in_json():
    orch, clients, servers = start_orchestrator("--simulate", verbose=False)
    server = start_server(servers)
    try:
        wait_nodes(clients)
        hand = ROOT / "tests" / "data" / "sim" / "hand.csv"
        result = run_client(clients, "--trace", str(hand), "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert isinstance(report, dict) and report
    finally:
        server.stop()
        orch.stop()


def test_errors_are_json_events_too(tmp_path):
    cfg = tmp_path / "client.yml"
    cfg.write_text("orchestrator: tcp://127.0.0.1:9\ntimeout: 0.5\nretry: 0\n")
    result = subprocess.run(
        [sys.executable, "client.py", "-c", str(cfg), "-s", "1", "-t", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env(),
    )  # fmt: skip
    assert result.returncode == 1
    event = json.loads(result.stdout.splitlines()[-1])
    assert event["event"] == "error" and event["code"] == "unreachable"
    assert "no answer from the orchestrator" in event["message"]
    assert "storalloc: error: no answer from the orchestrator" in result.stderr
