"""The site configuration (config/site/) run for real: a private munged, CURVE keys made
with --gen-keys, an allow-list; then the attacks of issue 10 against it."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
import zmq
from zmq.utils.monitor import recv_monitor_message

from storalloc.wire import protocol as p
from storalloc.wire.keys import KeyPair, load_keys, load_public_key
from storalloc.wire.security import ClientSecurity, Munge, digest
from storalloc.wire.transport import Dealer
from tests.procs import ROOT, WAIT, Proc, env, start_orchestrator
from tests.services.munge import munged  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e

SITE = ROOT / "config" / "site"
AULT14 = ROOT / "config" / "server" / "systems" / "ault14.yml"
ME = pwd.getpwuid(os.getuid()).pw_name


def gen_keys(script: str, directory: Path) -> None:
    done = subprocess.run([sys.executable, script, "--gen-keys", str(directory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "keep private" in done.stdout


def site_config(kind: str, directory: Path, **overrides: object) -> Path:
    """config/site/<kind>/config.yml with host paths replaced by test ones."""
    data = yaml.safe_load((SITE / kind / "config.yml").read_text())
    data.update(overrides)
    path = directory / f"{kind}-{len(list(directory.glob('*.yml')))}.yml"
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o644)
    return path


class Site:
    def __init__(self, root: Path, munge_socket: str) -> None:
        self.root = root
        self.munge_socket = munge_socket
        self.allow = root / "allow"
        self.allow.mkdir()
        gen_keys("orchestrator.py", root / "orch")
        self.orch_key = root / "orch" / "orchestrator.key"
        cfg = site_config("orchestrator", root, state_dir=str(root / "state"),
                          keys=str(root / "orch"), server_keys=str(self.allow),
                          munge_socket=munge_socket, heartbeat_interval=0.5,
                          heartbeat_timeout=3)  # fmt: skip
        self.orch, self.clients, self.servers = start_orchestrator(config=cfg)
        self.procs: list[Proc] = []

    def server_keys(self, name: str, allowed: bool = True) -> Path:
        gen_keys("server.py", self.root / name)
        if allowed:
            shutil.copy(self.root / name / "server.key", self.allow / f"{name}.key")
        return self.root / name

    def start_server(self, keys: Path, name: str = "ault14") -> Proc:
        cfg = site_config("server", self.root, keys=str(keys), orchestrator_key=str(self.orch_key),
                          heartbeat_interval=0.5)  # fmt: skip
        proc = Proc(["server.py", "-c", str(cfg), "-s", str(AULT14), "--simulate", "-v",
                     "--orchestrator", self.servers, "--name", name])  # fmt: skip
        self.procs.append(proc)
        return proc

    def client(self, *args: str, claim: str = "mallory") -> subprocess.CompletedProcess[str]:
        cfg = site_config("client", self.root, munge_socket=self.munge_socket,
                          orchestrator_key=str(self.orch_key))  # fmt: skip
        return subprocess.run(
            [sys.executable, "client.py", "-c", str(cfg), "--orchestrator", self.clients,
             "--hostnqn", "nqn.2014-08.org.nvmexpress:uuid:test", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env=env(STORALLOC_USER=claim),
        )  # fmt: skip

    def munge(self) -> Munge:
        return Munge(self.munge_socket)

    def dealer(self) -> Dealer:
        """A hand-driven client socket: CURVE to the orchestrator, no automatic credential."""
        public, secret = zmq.curve_keypair()
        security = ClientSecurity(keys=KeyPair(public, secret),
                                  server_public=load_public_key(self.orch_key))
        return Dealer(zmq.Context.instance(), self.clients, security=security)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        assert self.orch.stop() == 0


@pytest.fixture
def site(munged):  # noqa: F811
    root = Path(tempfile.mkdtemp(prefix="storalloc-site-"))
    root.chmod(0o755)
    site = Site(root, munged.socket)
    try:
        yield site
    finally:
        site.stop()
        shutil.rmtree(root, ignore_errors=True)


def registered_server(site: Site, name: str = "ault14") -> Proc:
    server = site.start_server(site.server_keys(f"key-{name}-{len(site.procs)}"), name)
    site.orch.wait_for("Server registered")
    return server


def test_site_grants_to_the_user_of_the_credential_not_the_claim(site):
    registered_server(site)
    result = site.client("-s", "200", "-t", "60", claim="mallory")
    assert result.returncode == 0, result.stderr
    assert "Granted job allocation 0" in result.stdout
    listing = site.client("--list", "--json")
    assert '"user": "' + ME + '"' in listing.stdout and "mallory" not in listing.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="making another uid's credential needs root")
def test_forged_user_cannot_release_another_users_job(site):
    """`nobody` claims to be the job's owner; its credential says otherwise."""
    registered_server(site)
    assert site.client("-s", "10", "-t", "60").returncode == 0  # job 0, owned by ME
    forged = p.Release(request_id="f", user=ME, job_id=0)
    made = subprocess.run(["munge", f"--socket={site.munge_socket}"], user=65534,
                          input=digest(forged.to_dict()).encode(), capture_output=True,
                          timeout=30, check=True)  # fmt: skip
    dealer = site.dealer()
    try:
        dealer.send(dataclasses.replace(forged, credential=made.stdout.decode().strip()))
        reply = dealer.recv(WAIT * 1000)
    finally:
        dealer.close()
    assert isinstance(reply, p.Error) and reply.code == "permission_denied", reply
    assert '"state": "ALLOCATED"' in site.client("--show", "0", "--json").stdout


def test_requests_without_valid_credentials_are_refused(site):
    dealer = site.dealer()
    try:
        for bare in (p.ListJobs(request_id="a", user="root"), p.ListNodes(request_id="a")):
            dealer.send(bare)
            reply = dealer.recv(WAIT * 1000)
            assert isinstance(reply, p.Error) and reply.code == "no_credential", bare

        munge = site.munge()
        signed = p.ListJobs(request_id="b", user="root",
                            credential=munge.encode(digest(p.ListJobs("b", "root").to_dict())))
        dealer.send(signed)
        assert isinstance(dealer.recv(WAIT * 1000), p.JobList)
        dealer.send(signed)  # the very same credential again: a replay
        reply = dealer.recv(WAIT * 1000)
        assert isinstance(reply, p.Error) and "replayed" in reply.message

        other = p.ListJobs(request_id="c", user="root")
        moved = p.Release(request_id="c", user="root", job_id=0,
                          credential=munge.encode(digest(other.to_dict())))
        dealer.send(moved)  # a credential made for another request
        reply = dealer.recv(WAIT * 1000)
        assert isinstance(reply, p.Error) and "another request" in reply.message
    finally:
        dealer.close()


def test_rogue_server_key_is_refused(site):
    registered_server(site)
    rogue = site.start_server(site.server_keys("rogue", allowed=False), "rogue")
    site.orch.wait_for("refused a storage server whose key")
    nodes = site.client("--nodes", "--json")
    assert nodes.returncode == 0, nodes.stderr
    assert '"ault14:0"' in nodes.stdout and "rogue" not in nodes.stdout
    assert rogue.proc.wait(timeout=WAIT) == 1  # it says why and stops
    assert "refused this key" in rogue.wait_for("refused this key")


def test_server_with_a_wrong_orchestrator_key_says_so(site):
    impostor = site.root / "impostor"
    gen_keys("orchestrator.py", impostor)
    keys = site.server_keys("honest")
    cfg = site_config("server", site.root, keys=str(keys), heartbeat_interval=0.5,
                      orchestrator_key=str(impostor / "orchestrator.key"))  # fmt: skip
    server = Proc(["server.py", "-c", str(cfg), "-s", str(AULT14), "--simulate",
                   "--orchestrator", site.servers])  # fmt: skip
    site.procs.append(server)
    assert "is orchestrator_key that orchestrator's public key?" in server.wait_for(
        "cannot register")


def test_second_server_with_the_same_name_and_another_key_is_refused(site):
    first = registered_server(site)
    assert site.client("-s", "10", "-t", "60").returncode == 0
    first.wait_for("storalloc: {'job_id': 0")
    second = site.start_server(site.server_keys("other"), "ault14")
    assert second.proc.wait(timeout=WAIT) == 1  # it stops, saying why
    second.wait_for("registration refused")
    assert "bound to another server's key" in site.orch.wait_for("refused:")
    assert site.orch.count("Server registered") == 1
    assert first.count("removed export") == 0
    assert '"state": "ALLOCATED"' in site.client("--show", "0", "--json").stdout


def test_client_socket_is_curve_only(site):
    plain = zmq.Context.instance().socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    monitor = plain.get_monitor_socket()
    plain.connect(site.clients)
    try:
        events = []
        while zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL not in events and \
                zmq.EVENT_DISCONNECTED not in events:  # fmt: skip
            assert monitor.poll(WAIT * 1000), f"no handshake failure, events {events}"
            events.append(recv_monitor_message(monitor)["event"])
    finally:
        plain.disable_monitor()
        monitor.close()
        plain.close()


def test_gen_keys_never_overwrites(tmp_path):
    gen_keys("orchestrator.py", tmp_path)
    before = load_keys(tmp_path, "orchestrator")
    again = subprocess.run([sys.executable, "orchestrator.py", "--gen-keys", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr
    assert load_keys(tmp_path, "orchestrator") == before
    assert (tmp_path / "orchestrator.key_secret").stat().st_mode & 0o077 == 0


def test_orchestrator_without_munged_refuses_to_start(tmp_path):
    if shutil.which("munge") is None:
        pytest.skip("munge not installed")
    cfg = site_config("orchestrator", tmp_path, state_dir=str(tmp_path / "state"),
                      keys=str(tmp_path / "keys"), server_keys=str(tmp_path),
                      munge_socket=str(tmp_path / "no-munged.socket"))  # fmt: skip
    done = subprocess.run([sys.executable, "orchestrator.py", "-c", str(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "cannot create a MUNGE credential" in done.stderr
    assert "Traceback" not in done.stderr
