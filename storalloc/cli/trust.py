"""Turn the trust keys of the three configurations into security setups, checked at start
(keys readable or created, allow-list present, munged answering), and `--gen-keys`."""

from __future__ import annotations

import logging
from pathlib import Path

import zmq

from storalloc.cli.common import EXIT_FAILED, EXIT_OK, error
from storalloc.config.loader import ClientConfig, OrchestratorConfig, ServerConfig
from storalloc.config.paths import default_state_dir, prepare_state_dir
from storalloc.wire.keys import (
    AllowList,
    KeyPair,
    SecurityError,
    generate_keys,
    load_keys,
    load_public_key,
)
from storalloc.wire.security import ClientSecurity, CredentialError, Munge, OrchestratorSecurity

log = logging.getLogger("storalloc.trust")
audit = logging.getLogger("storalloc.audit")

ORCHESTRATOR_KEY = "orchestrator"
SERVER_KEY = "server"
KEY_WAIT = 30.0  # a server started with its orchestrator waits this long for its key file


def state_dir(cfg: OrchestratorConfig, override: str | None = None) -> Path:
    """The orchestrator's state directory, created if missing (StateDirError if it cannot be)."""
    return prepare_state_dir(override or cfg.state_dir or default_state_dir())


def database_path(cfg: OrchestratorConfig, state: Path) -> Path:
    """Where the store lives: `database`, or storalloc.db in the state directory."""
    return Path(cfg.database).expanduser() if cfg.database else state / "storalloc.db"


def orchestrator_security(cfg: OrchestratorConfig) -> OrchestratorSecurity:
    """Raises SecurityError or CredentialError with a message naming the cause."""
    # The host's key directory, not <state_dir>/keys: servers on this host look there, also
    # when a test or a second instance runs on its own state directory.
    keys = load_keys(cfg.keys or default_state_dir() / "keys", ORCHESTRATOR_KEY, create=True)
    allow = None if cfg.server_keys == "any" else AllowList(cfg.server_keys)
    munge = None
    if cfg.user_auth == "munge":
        munge = Munge(cfg.munge_socket)
        munge.decode(munge.encode("storalloc start check"))  # munged up, key shared
    else:
        # The audit trail, not the terminal: the seed's demo must print the seed's lines.
        audit.warning("%s: user_auth: none: users are whoever they say they are; fine for "
                      "a laptop demo, not for a shared site (doc/security.md)", cfg.source)
    if allow is None:
        audit.warning("server_keys: any: any server key is accepted, and a node name is "
                      "bound to the first key that registers it")
    return OrchestratorSecurity(keys=keys, allow=allow, encrypt_clients=cfg.encrypt_clients,
                                munge=munge)  # fmt: skip


def server_security(cfg: ServerConfig) -> ClientSecurity:
    """This server's key pair (created if missing) and the orchestrator's public key."""
    local_keys = default_state_dir() / "keys"
    keys = load_keys(cfg.keys or local_keys, SERVER_KEY, create=True)
    orchestrator = cfg.orchestrator_key or local_keys / f"{ORCHESTRATOR_KEY}.key"
    return ClientSecurity(keys=keys, server_public=load_public_key(orchestrator, KEY_WAIT))


def client_security(cfg: ClientConfig) -> ClientSecurity | None:
    """MUNGE and CURVE for a client, or None when the config asks for neither."""
    munge = Munge(cfg.munge_socket) if cfg.user_auth == "munge" else None
    if cfg.orchestrator_key is None:
        return ClientSecurity(munge=munge) if munge else None
    # A fresh key pair per run: the client socket's CURVE encrypts and authenticates the
    # orchestrator; the user is proven by MUNGE, not by a client key.
    public, secret = zmq.curve_keypair()
    return ClientSecurity(keys=KeyPair(public, secret),
                          server_public=load_public_key(cfg.orchestrator_key), munge=munge)


def gen_keys(prog: str, directory: str, name: str) -> int:
    """`--gen-keys DIR` of the orchestrator and of servers: write the pair, say where, and
    return the exit code."""
    try:
        public, secret = generate_keys(directory, name)
    except SecurityError as exc:
        error(prog, str(exc))
        return EXIT_FAILED
    print(f"wrote {secret} (keep private) and {public} (give to peers)", flush=True)
    return EXIT_OK


__all__ = ["CredentialError", "client_security", "database_path", "gen_keys",
           "orchestrator_security", "server_security", "state_dir"]  # fmt: skip
