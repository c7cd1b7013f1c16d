"""Wire-level trust pieces on real sockets and files: nesting limit, control characters,
credential field, key files, allow-lists, name binding, hold/release, a bounded queue."""

from __future__ import annotations

import json
import os
import threading

import pytest
import zmq

from storalloc.cli.listing import format_nodes, shown
from storalloc.wire import protocol as p
from storalloc.wire.keys import (
    AllowList,
    SecurityError,
    generate_keys,
    load_keys,
    load_public_key,
)
from storalloc.wire.security import NodeKeys, digest
from storalloc.wire.transport import Dealer, Router


def frames(kind: str, body: object) -> list[bytes]:
    text = body if isinstance(body, str) else json.dumps(body)
    return [p.VERSION, kind.encode(), text.encode()]


@pytest.mark.parametrize("depth", [p.MAX_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_bad_json(depth):
    body = '{"request_id": "r", "user": "u", "x": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(p.ProtocolError) as exc:
        p.decode(frames("list_jobs", body))
    assert exc.value.code == "bad_json" and "nested deeper" in str(exc.value)


def test_nesting_within_the_limit_is_judged_on_its_fields():
    body = {"name": "n", "hostname": "h", "network_bw": 1, "exports": [],
            "disks": [{"capacity": 1, "write_bw": 1, "read_bw": 1, "x": [[[1]]]}]}  # fmt: skip
    assert isinstance(p.decode(frames("register", body)), p.Register)


@pytest.mark.parametrize("field", ["name", "hostname"])
def test_control_characters_in_server_names_are_refused(field):
    body = {"name": "n", "hostname": "h", "network_bw": 1,
            "disks": [{"capacity": 1, "write_bw": 1, "read_bw": 1}]}  # fmt: skip
    body[field] = "evil\x1b[2J"
    with pytest.raises(p.ProtocolError, match=f"'{field}' has control characters"):
        p.decode(frames("register", body))


def test_control_characters_in_user_are_refused():
    msg = p.AllocRequest(request_id="r", user="a\x07", size_gb=1.0, duration_s=1.0)
    with pytest.raises(p.ProtocolError, match="'user' has control characters"):
        p.decode(p.encode(msg))


def test_listing_escapes_what_it_prints():
    assert shown("ok name") == "ok name"
    assert shown("x\x1b[31m") == "x\\x1b[31m"
    row = format_nodes([{"node": 0, "name": "n\x1b]0;pwn\x07", "state": "UP", "disks": 1,
                         "capacity_gb": 1, "used_gb": 0, "network_bw": 1}])  # fmt: skip
    assert "\x1b" not in row and "\\x1b]0;pwn\\x07" in row


def test_credential_field_round_trips_and_defaults_empty():
    msg = p.Release(request_id="r", user="u", job_id=3, credential="MUNGE:abc")
    assert p.decode(p.encode(msg)) == msg
    legacy = {"request_id": "r", "user": "u", "job_id": 3}
    assert p.decode(frames("release", legacy)).credential == ""


def test_digest_ignores_the_credential_and_covers_every_other_field():
    a = p.Release(request_id="r", user="u", job_id=3).to_dict()
    assert digest(a) == digest({**a, "credential": "anything"})
    assert digest(a) != digest({**a, "job_id": 4})


def test_generated_keys_load_and_are_private(tmp_path):
    public_path, secret_path = generate_keys(tmp_path / "k", "orchestrator")
    keys = load_keys(tmp_path / "k", "orchestrator")
    assert load_public_key(public_path) == keys.public and len(keys.secret) == 40
    assert secret_path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(SecurityError, match="already exists"):
        generate_keys(tmp_path / "k", "orchestrator")


def test_concurrent_creation_yields_one_key_pair(tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_keys(tmp_path, "s", True)))
               for _ in range(8)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert load_public_key(tmp_path / "s.key") == results[0].public


def test_garbage_key_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.key_secret").write_text("hello\n")
    with pytest.raises(SecurityError, match=r"bad\.key_secret"):
        load_keys(tmp_path, "bad")


def test_allow_list_sees_keys_added_later(tmp_path):
    allow = AllowList(tmp_path)
    assert allow.public_keys() == frozenset()
    public_path, _ = generate_keys(tmp_path / "src", "a")
    os.link(public_path, tmp_path / "a.key")
    assert allow.public_keys() == {load_public_key(public_path)}


def test_allow_list_directory_must_exist(tmp_path):
    with pytest.raises(SecurityError, match="allow-list directory does not exist"):
        AllowList(tmp_path / "none")


def test_a_name_is_bound_to_its_first_key():
    stored = {"old": "K0"}
    names = NodeKeys(stored.get)
    assert names.check("a", "K1") is None
    assert names.check("a", "K1") is None
    assert "bound to another server's key" in names.check("a", "K2")
    assert names.check("old", "K1") is not None  # bound before a restart
    names.forget("a")
    assert names.check("a", "K2") is None


@pytest.fixture
def pair():
    ctx = zmq.Context.instance()
    router = Router(ctx, "tcp://127.0.0.1:*", reply_queue=5)
    dealer = Dealer(ctx, router.endpoint)
    yield router, dealer
    dealer.close()
    router.close()


def test_held_messages_leave_only_on_release(pair):
    router, dealer = pair
    dealer.send(p.ListNodes(request_id="hello"))
    address, _ = router.recv()
    router.hold()
    assert router.send(address, p.Error(code="a", message="1"))
    router.send(address, p.Error(code="b", message="2"))
    assert dealer.recv(0) is None  # nothing left the socket yet
    assert router.release() == 2
    assert [dealer.recv(10_000).code for _ in range(2)] == ["a", "b"]


def test_peer_over_its_reply_queue_is_dropped_not_buffered(pair):
    router, dealer = pair
    dealer.socket.setsockopt(zmq.RCVHWM, 1)
    dealer.send(p.ListNodes(request_id="hello"))
    address, _ = router.recv()
    big = p.Error(code="x", message="y" * 100_000)
    sent = 0
    while router.send(address, big):  # the kernel buffers fill, then our 5-message queue
        sent += 1
        assert sent < 10_000, "the reply queue is not bounded"
    assert address in router.dropped
    assert not router.send(address, big)  # dropped peers get nothing more
