"""Issue 9's reproductions, each with real processes where it crosses them: a lease that
ends during its setup, a failed setup on a one-disk site, late and stray answers from
servers, --begin across a change of UTC offset, and bad fields refused at admission."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path

import pytest
import zmq

from storalloc.wire import protocol as p
from storalloc.wire.transport import Dealer
from tests.procs import CLIENT_CFG, WAIT, Proc, run_client, start_orchestrator
from tests.services.curve import local_server_security
from tests.test_lifecycle_e2e import GRANTED, Site, output

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def site():
    site = Site()
    site.add_server()
    try:
        yield site
    finally:
        site.close()


def test_a_lease_that_ends_during_its_setup_is_told_to_its_client(site):
    server = site.servers["small"]
    os.kill(server.proc.pid, signal.SIGSTOP)  # the server cannot answer `allocate`
    try:
        result = site.run("-s", "10", "-t", "0:01")
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert result.returncode == 1, output(result)
    assert "the lease ended before its storage was set up" in result.stderr, output(result)
    info = site.show(0)
    assert info["state"] == "FAILED" and info["reason_code"] == "ended_before_setup"
    site.orch.wait_for("end job=0 user=alice state=FAILED code=ended_before_setup")
    # The server, once resumed, is told to drop what it made for nobody.
    server.wait_for("removed export j0-p0-")


class ScriptedServer:
    """A storage server played by the test over a real socket: one 500 GB disk, answering
    each `allocate` as the script says (True: exported, False: failed)."""

    def __init__(self, endpoint: str, script: list[bool]) -> None:
        self.dealer = Dealer(zmq.Context.instance(), endpoint, security=local_server_security())
        self.script = script
        disk = {"capacity": 500.0, "write_bw": 1.0, "read_bw": 1.0, "model": "m",
                "path": "/dev/solo"}  # fmt: skip
        self.dealer.send(p.Register(name="solo:0", hostname="solo", network_bw=1.0,
                                    disks=[disk]))  # fmt: skip
        assert isinstance(self.dealer.recv(5000), p.Registered)
        self.asked: list[p.Allocate] = []

    def serve(self, count: int) -> None:
        """Answer `count` allocate orders (heartbeating meanwhile)."""
        while len(self.asked) < count:
            self.dealer.send(p.Heartbeat(name="solo:0"))
            msg = self.dealer.recv(200)
            if not isinstance(msg, p.Allocate):
                continue
            self.asked.append(msg)
            ok = self.script[len(self.asked) - 1]
            export = f"j{msg.job_id}-p{msg.part}-{msg.attempt:06x}"
            self.dealer.send(
                p.Allocated(job_id=msg.job_id, part=msg.part, attempt=msg.attempt,
                            export_id=export, connection={"nqn": f"nqn.2026-11.t:{export}"})
                if ok else
                p.AllocFailed(job_id=msg.job_id, part=msg.part, attempt=msg.attempt,
                              reason="lvcreate: insufficient free space")
            )  # fmt: skip

    def close(self) -> None:
        self.dealer.close()


@pytest.fixture
def solo():
    """An orchestrator with a short setup-retry backoff and no server yet."""
    orch, clients, servers = start_orchestrator(config=DATA / "config" / "orchestrator_retry.yml")
    try:
        yield orch, clients, servers
    finally:
        assert orch.stop() == 0


def test_a_failed_setup_on_a_one_disk_site_is_retried_on_the_same_disk(solo):
    orch, clients, servers = solo
    server = ScriptedServer(servers, [False, True])
    client = Proc(["client.py", "-c", str(CLIENT_CFG), "--orchestrator", clients, "-s", "100",
                   "-t", "60"], STORALLOC_USER="alice")  # fmt: skip
    try:
        server.serve(2)
        client.wait_for("Granted job allocation 0")
        assert [m.attempt for m in server.asked] == [1, 2]
        assert {m.disk for m in server.asked} == {0}
        orch.wait_for("no other disk can take it: retrying in 0.2 s")
        assert client.proc.wait(timeout=WAIT) == 0
        client.stop()
    finally:
        server.close()


def test_setups_that_keep_failing_end_the_job_with_the_reason(solo):
    orch, clients, servers = solo
    server = ScriptedServer(servers, [False, False, False])
    client = Proc(["client.py", "-c", str(CLIENT_CFG), "--orchestrator", clients, "-s", "100",
                   "-t", "60"], STORALLOC_USER="alice")  # fmt: skip
    try:
        server.serve(3)  # max_setup_attempts
        client.wait_for("setting up the export failed: lvcreate: insufficient free space")
        assert client.proc.wait(timeout=WAIT) == 1
        client.stop()
        info = json.loads(run_client(clients, "--show", "0", "--json").stdout)
        assert info["state"] == "FAILED" and info["reason_code"] == "setup_failed"
        orch.wait_for("end job=0 user=alice state=FAILED code=setup_failed")
    finally:
        server.close()


def test_stray_and_late_answers_are_dropped(site):
    """`allocated` from a node that was not asked, or for an earlier attempt, grants
    nothing: the real part is what the client gets."""
    ctx = zmq.Context.instance()
    stray = Dealer(ctx, site.server_endpoint, security=local_server_security())
    try:
        disk = {"capacity": 10.0, "write_bw": 1.0, "read_bw": 1.0, "model": "m",
                "path": "/dev/x"}  # fmt: skip
        stray.send(p.Register(name="stray", hostname="stray", network_bw=1.0, disks=[disk]))
        assert isinstance(stray.recv(5000), p.Registered)
        waiting = site.submit("-s", "100", "-t", "10:00", "--begin", "now+1hour")
        waiting.wait_for("estimated start")
        for attempt in (0, 1, 2):  # every attempt number, from a node holding no part
            stray.send(p.Allocated(job_id=0, part=0, attempt=attempt, export_id="forged",
                                   connection={"nqn": "nqn.2026-11.evil:forged"}))
        reply = stray.recv(5000)
        assert isinstance(reply, p.Deallocate) and reply.export_id == "forged"
        info = site.show(0)
        assert info["state"] == "PENDING" and info["connections"] == []
        site.orch.wait_for("dropping a reply for job 0 part 0 attempt 0 from node")
    finally:
        stray.close()


def test_begin_uses_the_rule_of_its_own_date(site):
    """In Paris in winter (UTC+1), 10:00 on 1 April 2027 is 08:00 UTC (summer time)."""
    proc = Proc(["client.py", "-c", str(CLIENT_CFG), "--orchestrator", site.clients, "-s", "10",
                 "-t", "60", "--begin", "2027-04-01T10:00:00"],
                STORALLOC_USER="alice", TZ="Europe/Paris")  # fmt: skip
    site.waiting.append(proc)
    proc.wait_for("estimated start")
    begin = site.show(0)["begin"]
    assert begin == dt.datetime(2027, 4, 1, 8, 0, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"begin": 4e11}, "'begin' must be an epoch time before the year 10000"),
        ({"duration_s": 5e-324}, "'duration_s' must be between 1 and"),
        ({"hostnqn": "not an nqn"}, "'hostnqn': invalid host NQN"),
    ],
)
def test_bad_fields_are_refused_at_admission(site, fields, problem):
    ctx = zmq.Context.instance()
    client = Dealer(ctx, site.clients)
    try:
        body = {"request_id": "r1", "user": "alice", "size_gb": 10.0, "duration_s": 60.0,
                **fields}  # fmt: skip
        client.socket.send_multipart([p.VERSION, b"alloc_request", json.dumps(body).encode()])
        reply = client.recv(5000)
        assert isinstance(reply, p.Error) and reply.code == "bad_field", reply
        assert problem in reply.message
    finally:
        client.close()
    assert site.jobs() == []  # nothing was admitted, and the orchestrator still serves
    assert GRANTED.search(site.run("-s", "10", "-t", "1:00").stdout)


def test_a_node_back_with_other_disks_frees_the_parts_of_its_jobs_elsewhere():
    site = Site()
    try:
        site.add_server("a")
        other = site.add_server("b")
        job = int(GRANTED.search(site.run("-s", "400", "--stripes", "4", "-t", "10:00").stdout)
                  .group(1))  # fmt: skip
        assert {e["node_name"] for e in site.show(job)["extents"]} == {"a:0", "b:0"}
        assert site.servers.pop("a").stop() == 0
        site.orch.wait_for("(a:0) is down")  # until then its name is a live server's
        dealer = Dealer(zmq.Context.instance(), site.server_endpoint,
                        security=local_server_security())
        try:  # "a:0" comes back with one 50 GB disk instead of two 100 GB ones
            disk = {"capacity": 50.0, "write_bw": 1.0, "read_bw": 1.0, "model": "m",
                    "path": "/dev/new"}  # fmt: skip
            dealer.send(p.Register(name="a:0", hostname="small", network_bw=1.0, disks=[disk]))
            assert isinstance(dealer.recv(5000), p.Registered)
        finally:
            dealer.close()
        info = site.show(job)
        assert info["state"] == "FAILED" and info["reason_code"] == "node_lost"
        other.wait_for(f"removed export j{job}-p")  # its parts on b are torn down too
        assert site.run("-s", "200", "--stripes", "2", "-t", "1:00").returncode == 0
    finally:
        site.close()
