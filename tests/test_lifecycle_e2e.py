"""The life of an allocation with real processes: queue, grant, expiry, release, listing,
refusals, backfill, --begin, --immediate, server failure and return, cancelling a wait.

Every scenario runs on its own orchestrator (tests/data/config/orchestrator.yml: liveness
within about a second) and simulated servers of tests/data/systems/small.yml (two 100 GB
disks, first_fit placement), so scenarios cannot disturb each other. Leases last a few
seconds; the tests wait for lines with generous deadlines and never assert on durations.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
import zmq

from storalloc.config.loader import load_system
from storalloc.wire import protocol as p
from storalloc.wire.transport import Dealer
from tests.procs import (
    SERVER_CFG,
    WAIT,
    Proc,
    client_proc,
    run_client,
    start_orchestrator,
    start_server,
)
from tests.services.curve import local_server_security

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parent / "data"
ORCH_CFG = DATA / "config" / "orchestrator.yml"
FAST_SERVER_CFG = DATA / "config" / "server.yml"
SMALL = DATA / "systems" / "small.yml"
GRANTED = re.compile(r"^storalloc: Granted job allocation (\d+)$", re.M)


def mark(proc: Proc) -> int:
    """Index of the next line `proc` will print (after those already printed)."""
    while not proc._queue.empty() and proc._pull(0):
        pass
    return len(proc.lines)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


class Site:
    """One orchestrator, its servers and clients; `close()` stops them all."""

    def __init__(self) -> None:
        self.orch, self.clients, self.server_endpoint = start_orchestrator(config=ORCH_CFG)
        self.servers: dict[str, Proc] = {}
        self.waiting: list[Proc] = []

    def add_server(self, name: str = "small", config: Path = FAST_SERVER_CFG) -> Proc:
        start = mark(self.orch)
        proc = start_server(self.server_endpoint, "--name", name, system=SMALL, config=config)
        self.servers[name] = proc
        self.orch.wait_for("Server registered", start=start)
        return proc

    def run(self, *args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
        return run_client(self.clients, *args, user=user)

    def grant(self, *args: str, user: str = "alice") -> int:
        """Ask for storage that must be granted at once; returns the job id."""
        result = self.run(*args, user=user)
        assert result.returncode == 0, output(result)
        found = GRANTED.search(result.stdout)
        assert found, output(result)
        return int(found.group(1))

    def submit(self, *args: str, user: str = "alice") -> Proc:
        """A client left running (a request that waits)."""
        proc = client_proc(self.clients, *args, user=user)
        self.waiting.append(proc)
        return proc

    def jobs(self, user: str = "alice") -> list[dict]:
        result = self.run("--list", "--json", user=user)
        assert result.returncode == 0, output(result)
        return json.loads(result.stdout)

    def show(self, job_id: int, user: str = "alice") -> dict:
        result = self.run("--show", str(job_id), "--json", user=user)
        assert result.returncode == 0, output(result)
        return json.loads(result.stdout)

    def close(self) -> None:
        for proc in self.waiting:
            if proc.proc.poll() is None:
                proc.kill()
            else:
                proc.stop()  # collects the exit code and closes its pipe
        for proc in self.servers.values():
            proc.stop()
        assert self.orch.stop() == 0
        assert not any("Traceback" in line for line in self.orch.lines), self.orch.lines


@pytest.fixture
def bare():
    """An orchestrator without servers."""
    site = Site()
    try:
        yield site
    finally:
        site.close()


@pytest.fixture
def site(bare):
    """An orchestrator and one simulated server 'small:0' with two 100 GB disks."""
    bare.add_server()
    return bare


def fill(site: Site, minutes_seconds: str = "10:00") -> int:
    """Book both disks completely (two parts of 100 GB); returns the job id."""
    return site.grant("-s", "200", "--stripes", "2", "-t", minutes_seconds)


def export_ids(info: dict) -> list[str]:
    """Export ids of a shown job: the last field of each part's NQN."""
    return [c["nqn"].rsplit(":", 1)[1] for c in info["connections"]]


def register_as(endpoint: str, name: str, exports: list[str]) -> p.Registered:
    """Register a stand-in server for small.yml under `name` and return the welcome."""
    node = load_system(SMALL).nodes[0]
    disks = [
        {
            "capacity": d.capacity,
            "write_bw": d.write_bw,
            "read_bw": d.read_bw,
            "model": d.model,
            "path": d.path,
        }
        for d in node.disks
    ]
    dealer = Dealer(zmq.Context.instance(), endpoint, security=local_server_security())
    try:
        dealer.send(
            p.Register(
                name=name,
                hostname=node.hostname,
                network_bw=node.network_bw,
                disks=disks,
                exports=exports,
            )
        )
        msg = dealer.recv(WAIT * 1000)
        assert isinstance(msg, p.Registered), msg
        return msg
    finally:
        dealer.close()


# --- expiry ---------------------------------------------------------------------------------


def test_expiry_frees_capacity_and_the_queued_request_is_granted(site):
    first = fill(site, "0:03")
    waiter = site.submit("-s", "50", "-t", "0:03")
    queued = waiter.lines.index(waiter.wait_for("job 1 queued and waiting for resources"))
    estimate = waiter.lines.index(waiter.wait_for("job 1 estimated start at "))
    granted = waiter.lines.index(waiter.wait_for("Granted job allocation 1"))
    assert queued < estimate < granted
    assert waiter.proc.wait(timeout=WAIT) == 0
    server = site.servers["small"]
    for export in export_ids(site.show(first)):
        server.wait_for(f"would tear down {export} (")
    ended, second = site.show(first), site.show(1)
    assert ended["state"] == "COMPLETED"
    assert second["state"] == "ALLOCATED" and second["start"] >= ended["end"]
    assert [j["job_id"] for j in site.jobs()] == [1]


# --- release --------------------------------------------------------------------------------


def test_release_rights_and_release_frees_capacity_at_once(site):
    first = site.grant("-s", "100", "-t", "10:00")  # disk 0
    second = site.grant("-s", "100", "-t", "10:00")  # disk 1: full now
    waiter = site.submit("-s", "100", "-t", "10:00", user="carol")
    waiter.wait_for("estimated start at")

    denied = site.run("--release", str(first), user="bob")
    assert denied.returncode == 1, output(denied)
    assert f"permission denied: job {first} belongs to alice" in denied.stderr

    unknown = site.run("--release", "99")
    assert unknown.returncode == 1, output(unknown)
    assert "invalid job id specified: 99" in unknown.stderr

    released = site.run("--release", str(first))
    assert released.returncode == 0, output(released)
    assert f"job {first} released" in released.stdout
    # The lease had ten minutes left: only the release can have made room.
    waiter.wait_for("Granted job allocation 2")
    assert waiter.proc.wait(timeout=WAIT) == 0

    by_admin = site.run("--release", str(second), user="ops")
    assert by_admin.returncode == 0, output(by_admin)
    assert f"job {second} released" in by_admin.stdout
    again = site.run("--release", str(first))
    assert again.returncode == 1 and "has already ended" in again.stderr
    assert [j["job_id"] for j in site.jobs()] == [2]
    site.servers["small"].wait_for(f"would tear down j{second}-p0-")


# --- listing and showing --------------------------------------------------------------------


def test_list_show_and_json(site):
    site.grant("-s", "100", "-t", "60")
    site.grant("-s", "100", "-t", "60", user="bob")
    waiter = site.submit("-s", "500M", "-t", "30", user="carol")
    waiter.wait_for("estimated start at")

    table = site.run("--list")
    assert table.returncode == 0, output(table)
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["JOBID", "USER", "SIZE", "TIME_LEFT", "STATE", "NODE", "DISK"]
    cells = [row.split() for row in rows]
    assert [(c[0], c[1], c[2], c[4], c[5], c[6]) for c in cells] == [
        ("0", "alice", "100G", "ALLOCATED", "0", "0"),
        ("1", "bob", "100G", "ALLOCATED", "0", "1"),
        ("2", "carol", "500M", "PENDING", "(Resources)", "-"),
    ]
    assert cells[2][3] == "30:00"  # a job not started yet shows its whole length
    assert re.fullmatch(r"59:\d\d", cells[0][3])

    mine = site.run("--list", "--me", user="bob").stdout.splitlines()[1:]
    assert [row.split()[:2] for row in mine] == [["1", "bob"]]
    carols = site.run("--list", "-u", "carol").stdout.splitlines()[1:]
    assert [row.split()[:2] for row in carols] == [["2", "carol"]]
    assert site.run("--show", "0", "--me").returncode == 2  # --me goes with --list only

    jobs = site.jobs(user="bob")  # everyone may list
    assert [(j["job_id"], j["user"], j["state"]) for j in jobs] == [
        (0, "alice", "ALLOCATED"),
        (1, "bob", "ALLOCATED"),
        (2, "carol", "PENDING"),
    ]
    assert jobs[2]["size_gb"] == 0.5 and jobs[2]["time_left_s"] == 30 * 60
    assert jobs[0]["extents"] == [{"node": 0, "node_name": "small:0", "disk": 0, "size_gb": 100}]
    assert "connections" not in jobs[0]

    shown = site.run("--show", "0")
    assert shown.returncode == 0, output(shown)
    assert "JobId=0 UserId=alice State=ALLOCATED" in shown.stdout
    assert re.search(
        r"Part=0 Node=0\(small:0\) Disk=0 Size=100G Type=nvme Nqn=nqn\.\S+:j0-p0-", shown.stdout
    ), shown.stdout
    info = site.show(0)
    assert info["connections"][0]["type"] == "nvme"
    assert info["connections"][0]["nqn"].startswith("nqn.")

    for args in (["--show", "0"], ["--show", "0", "--json"]):
        denied = site.run(*args, user="bob")
        assert denied.returncode == 1, output(denied)
        assert "permission denied: job 0 belongs to alice" in denied.stderr
        assert denied.stdout == ""
    assert site.show(0, user="ops")["user"] == "alice"  # admins may look


# --- requests that can never fit --------------------------------------------------------------


def test_request_that_can_never_fit_is_refused_at_once(site):
    result = site.run("-s", "150", "-t", "10")
    assert result.returncode == 1, output(result)
    assert (
        "Unable to allocate resources: request of 150 GB exceeds the largest disk "
        "(100 GB); ask for stripes (--stripes N) to split it" in result.stderr
    )
    assert "queued" not in result.stdout
    too_big = site.run("-s", "300", "--stripes", "3", "-t", "10")
    assert too_big.returncode == 1, output(too_big)
    assert "cannot fit on the 2 disks" in too_big.stderr
    assert site.jobs() == []


def test_stripes_that_let_it_fit_are_granted_one_line_per_part(site):
    result = site.run("-s", "150", "--stripes", "2", "-t", "10")
    assert result.returncode == 0, output(result)
    parts = re.findall(
        r"^storalloc: \{'job_id': 0, 'part': (\d), 'type': 'nvme', 'nqn': "
        r"'nqn\.[^']+:j0-p\1-[0-9a-f]{6}'\}$",
        result.stdout,
        re.M,
    )
    assert parts == ["0", "1"], result.stdout
    [job] = site.jobs()
    assert sorted((e["disk"], e["size_gb"]) for e in job["extents"]) == [(0, 75), (1, 75)]


# --- backfill -----------------------------------------------------------------------------


def test_small_request_backfills_without_delaying_the_big_one(site):
    site.grant("-s", "150", "--stripes", "2", "-t", "0:05")  # 75 GB on each disk
    big = site.submit("-s", "100", "-t", "0:03")
    big.wait_for("job 1 estimated start at")
    reservation = site.show(1)["start"]
    # 20 GB for ten minutes fits now beside the first job; placed on the big one's disk it
    # would push the big one back by ten minutes.
    small = site.grant("-s", "20", "-t", "10:00")
    mark(big)
    assert not any("Granted" in line for line in big.lines)
    assert site.show(1)["state"] == "PENDING"
    assert site.show(1)["start"] == reservation
    big.wait_for("Granted job allocation 1")
    assert big.proc.wait(timeout=WAIT) == 0
    assert sum("estimated start" in line for line in big.lines) == 1  # never re-estimated
    started = site.show(1)
    assert started["state"] == "ALLOCATED" and started["start"] == reservation
    assert {e["disk"] for e in site.show(small)["extents"]}.isdisjoint(
        {e["disk"] for e in started["extents"]}
    )


# --- later starts and deadlines ---------------------------------------------------------------


def test_begin_books_a_future_window(site):
    client = site.submit("-s", "10", "-t", "0:02", "--begin", "now+3")
    client.wait_for("job 0 estimated start at")
    table = site.run("--list")
    assert table.returncode == 0, output(table)
    row = table.stdout.splitlines()[1].split()
    assert row[4:] == ["PENDING", "(BeginTime)", "-"]  # squeue's reason for a --begin wait
    client.wait_for("Granted job allocation 0")
    assert client.proc.wait(timeout=WAIT) == 0
    started = site.show(0)
    assert started["state"] == "ALLOCATED" and started["begin"] > started["submit"]
    assert started["start"] == started["begin"]  # the disk was free: it starts at its begin


def test_immediate_refuses_what_cannot_start_in_time(site):
    fill(site)
    for flag, seconds in (("--immediate=1", "1"), ("--immediate", "0")):
        result = site.run("-s", "10", "-t", "5", flag)
        assert result.returncode == 1, output(result)
        assert (
            f"Unable to allocate resources: not granted within {seconds} s (--immediate)"
            in result.stderr
        )
    assert [j["job_id"] for j in site.jobs()] == [0]
    assert site.run("--release", "0").returncode == 0
    assert site.grant("-s", "10", "-t", "5", "--immediate=1") == 3


# --- servers failing and coming back ----------------------------------------------------------


def test_killed_server_is_marked_down_and_gets_no_new_placement(bare):
    bare.add_server("a")
    bare.add_server("b")
    job = bare.grant("-s", "10", "-t", "10:00")
    assert bare.show(job)["extents"][0]["node_name"] == "a:0"  # first fit: node 0 first
    bare.servers["a"].kill()
    bare.orch.wait_for("node 0 (a:0) is down: no heartbeat")
    [listed] = bare.jobs()
    assert listed["state"] == "NODE_DOWN"
    table = bare.run("--list").stdout.splitlines()
    assert table[1].split()[4:] == ["NODE_DOWN", "0", "0"]
    for _ in range(2):  # node 0 has room for each, so only its state keeps them away
        bare.grant("-s", "10", "-t", "10:00")
    jobs = bare.jobs()
    assert [j["state"] for j in jobs] == ["NODE_DOWN", "ALLOCATED", "ALLOCATED"]
    assert [e["node_name"] for j in jobs[1:] for e in j["extents"]] == ["b:0", "b:0"]


def test_restarted_server_is_reconciled(bare):
    bare.add_server("a")
    job = bare.grant("-s", "10", "-t", "10:00")
    [export] = export_ids(bare.show(job))
    bare.servers["a"].kill()
    bare.orch.wait_for("node 0 (a:0) is down")
    assert bare.jobs()[0]["state"] == "NODE_DOWN"
    # What a restarted server is told: keep the exports of live allocations, drop the rest.
    welcome = register_as(bare.server_endpoint, "a:0", [export, "j77-p0-abcdef"])
    assert welcome.node == 0 and welcome.hold == [export]
    # The real server comes back under the same name.
    bare.add_server("a")
    [listed] = bare.jobs()
    assert listed["state"] == "ALLOCATED" and listed["job_id"] == job
    again = bare.grant("-s", "10", "-t", "10:00")
    assert [e["node_name"] for e in bare.show(again)["extents"]] == ["a:0"]


def test_server_follows_the_heartbeat_interval_the_orchestrator_sends(bare):
    """The default server config beats every 5 s; `registered` carries the orchestrator's
    0.2 s, which must apply at once, or the node is declared dead after 1 s of silence."""
    bare.add_server("slow", config=SERVER_CFG)
    client = bare.submit("-s", "10", "-t", "0:02", "--begin", "now+2")
    client.wait_for("Granted job allocation 0")
    assert client.proc.wait(timeout=WAIT) == 0
    assert not any("waiting for a storage node" in line for line in client.lines), client.lines
    assert not any("is down" in line for line in bare.orch.lines[: mark(bare.orch)])


# --- cancelling a wait ------------------------------------------------------------------------


def test_sigint_or_sigterm_on_a_waiting_client_cancels_its_request(site):
    fill(site)
    for job_id, sig in ((1, signal.SIGINT), (2, signal.SIGTERM)):
        waiter = site.submit("-s", "10", "-t", "10:00")
        waiter.wait_for(f"job {job_id} estimated start at")
        assert waiter.stop(sig) == 1, waiter.lines  # non-zero, as salloc
        assert f"storalloc: Job allocation {job_id} has been revoked." in waiter.lines
        assert not any("Traceback" in line for line in waiter.lines)
    assert [j["job_id"] for j in site.jobs()] == [0]  # nothing left behind
    for job_id in (1, 2):
        shown = site.run("--show", str(job_id))
        assert f"JobId={job_id} UserId=alice State=CANCELLED" in shown.stdout, output(shown)
