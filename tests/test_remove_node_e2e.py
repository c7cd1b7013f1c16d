"""An admin removes a node that is down and holds nothing: junk registrations do not stay
in --nodes for ever, and the name is free again."""

from __future__ import annotations

import json

import pytest
import zmq

from storalloc.wire import protocol as p
from storalloc.wire.transport import Dealer
from tests.services.curve import local_server_security
from tests.test_lifecycle_e2e import Site

pytestmark = pytest.mark.e2e


def test_admin_removes_a_down_node_and_no_one_else_can():
    site = Site()
    try:
        site.add_server("real")
        dealer = Dealer(zmq.Context.instance(), site.server_endpoint,
                        security=local_server_security())  # fmt: skip
        disk = {"capacity": 10.0, "write_bw": 1.0, "read_bw": 1.0, "model": "m", "path": "/x"}
        dealer.send(p.Register(name="junk:0", hostname="junk", network_bw=1.0, disks=[disk]))
        assert isinstance(dealer.recv(5000), p.Registered)
        up = site.run("--remove-node", "junk:0", user="root")
        assert up.returncode == 1 and "is up: stop its server first" in up.stderr
        dealer.close()  # it never heartbeats: down after heartbeat_timeout
        site.orch.wait_for("(junk:0) is down")
        refused = site.run("--remove-node", "junk:0", user="alice")
        assert refused.returncode == 1 and "permission denied" in refused.stderr
        done = site.run("--remove-node", "junk:0", user="root")
        assert done.returncode == 0 and "node 1 (junk:0) removed" in done.stdout, done.stderr
        nodes = json.loads(site.run("--nodes", "--json").stdout)
        assert [n["name"] for n in nodes] == ["real:0"]
        busy = site.grant("-s", "10", "-t", "10:00")
        site.servers["real"].stop()
        site.orch.wait_for("(real:0) is down")
        held = site.run("--remove-node", "0", user="root")
        assert held.returncode == 1 and f"holds job(s) {busy}" in held.stderr
    finally:
        site.servers.pop("real", None)
        site.close()
