"""CURVE for test peers that talk to an orchestrator's server socket by hand."""

from __future__ import annotations

import zmq

from storalloc.config.paths import default_state_dir
from storalloc.wire.keys import KeyPair, load_keys, load_public_key
from storalloc.wire.security import ClientSecurity


def local_orchestrator_key() -> bytes:
    """The public key an orchestrator with the seed config uses on this host."""
    return load_public_key(default_state_dir() / "keys" / "orchestrator.key", wait=20.0)


def fresh_server_security(orchestrator_key: bytes | None = None) -> ClientSecurity:
    """A new server identity (its own key pair) for the orchestrator's server socket."""
    public, secret = zmq.curve_keypair()
    return ClientSecurity(keys=KeyPair(public, secret),
                          server_public=orchestrator_key or local_orchestrator_key())


def local_server_security() -> ClientSecurity:
    """The identity of servers started with the seed config on this host (same key pair)."""
    keys = load_keys(default_state_dir() / "keys", "server", create=True)
    return ClientSecurity(keys=keys, server_public=local_orchestrator_key())
