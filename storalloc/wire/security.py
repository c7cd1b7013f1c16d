"""Who is talking: CURVE on sockets (ZAP decisions), node names bound to keys, and MUNGE
credentials for users. Key files are in `keys.py`. See doc/security.md.

MUNGE goes through the real `munge` and `unmunge` commands rather than libmunge through
ctypes: the commands ship in the same Debian package, their exit codes are documented
(15 expired, 16 rewound, 17 replayed), and a wrong ctypes prototype would crash the
orchestrator instead of failing one request. The price is a fork per request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pwd
import subprocess
from dataclasses import dataclass
from typing import Any, TypeVar

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from storalloc.wire.keys import AllowList, KeyPair
from storalloc.wire.protocol import Message

log = logging.getLogger(__name__)

SERVERS_DOMAIN = "storalloc-servers"
CLIENTS_DOMAIN = "storalloc-clients"
MUNGE_TIMEOUT = 10.0
M = TypeVar("M", bound=Message)
_MUNGE_ERRORS = {15: "expired", 16: "rewound", 17: "replayed"}


class _Gate:
    """ZAP decisions: clients any key (MUNGE says who they are), servers the allow-list."""

    def __init__(self, servers: AllowList | None) -> None:
        self.servers = servers

    def callback(self, domain: str, key: bytes) -> bool:
        if domain == CLIENTS_DOMAIN or self.servers is None:
            return True
        allowed = key in self.servers.public_keys()
        if not allowed:
            log.warning("refused a storage server whose key %s is not in %s",
                        key.decode(errors="replace"), self.servers.directory)  # fmt: skip
        return allowed


def start_authenticator(ctx: zmq.Context, servers: AllowList | None) -> ThreadAuthenticator:
    """The ZAP handler thread of `ctx`; stop() it when the sockets are closed."""
    zap_log = logging.getLogger(__name__ + ".zap")
    zap_log.setLevel(logging.WARNING)  # one debug line per handshake is noise, even with -v
    auth = ThreadAuthenticator(ctx, log=zap_log)
    auth.start()
    gate = _Gate(servers)
    auth.configure_curve_callback(SERVERS_DOMAIN, credentials_provider=gate)
    auth.configure_curve_callback(CLIENTS_DOMAIN, credentials_provider=gate)
    return auth


def curve_server(socket: zmq.Socket, keys: KeyPair, domain: str) -> None:
    """Make a ROUTER a CURVE server whose peers the ZAP handler checks in `domain`."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True
    socket.zap_domain = domain.encode()


def curve_client(socket: zmq.Socket, keys: KeyPair, server_public: bytes) -> None:
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_serverkey = server_public


def peer_key(frame: zmq.Frame) -> str | None:
    """The Z85 public key a CURVE peer authenticated with (None on a plain socket)."""
    try:
        return frame.get("User-Id") or None
    except zmq.ZMQError:
        return None


class NodeKeys:
    """Node name → the key that first registered it (trust on first use, then pinned)."""

    def __init__(self, lookup: Any = None) -> None:
        self._bound: dict[str, str | None] = {}
        self._lookup = lookup  # e.g. Store.node_key, for bindings made before a restart

    def check(self, name: str, key: str | None) -> str | None:
        """None when `key` may use `name` (binding it if free), else the reason why not."""
        if name not in self._bound and self._lookup is not None:
            stored = self._lookup(name)
            if stored is not None:
                self._bound[name] = stored
        bound = self._bound.setdefault(name, key)
        if bound == key:
            return None
        return (f"node name {name!r} is bound to another server's key; pick another name, "
                f"or have an admin remove the node first")  # fmt: skip

    def forget(self, name: str) -> None:
        self._bound.pop(name, None)


# --- MUNGE ----------------------------------------------------------------------------


class CredentialError(Exception):
    """A MUNGE credential that does not prove who sent the request."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def digest(fields: dict[str, Any]) -> str:
    """What a credential signs: the request itself, so it cannot be moved to another."""
    body = {k: v for k, v in fields.items() if k != "credential"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Munge:
    """Encode and decode credentials with the local munged (`socket`: None = default)."""

    def __init__(self, socket: str | None = None) -> None:
        self.socket = socket

    def _run(self, argv: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
        if self.socket:
            argv.append(f"--socket={self.socket}")
        try:
            return subprocess.run(argv, input=data, capture_output=True,
                                  timeout=MUNGE_TIMEOUT, check=False)  # fmt: skip
        except FileNotFoundError:
            raise CredentialError("munge_missing", f"{argv[0]} not found: install the "
                                  "'munge' package (auth: munge)") from None  # fmt: skip
        except subprocess.TimeoutExpired:
            raise CredentialError("munge_down", f"{argv[0]} did not answer within "
                                  f"{MUNGE_TIMEOUT:g} s; is munged running?") from None

    def encode(self, payload: str) -> str:
        done = self._run(["munge"], payload.encode())
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip()
            raise CredentialError("munge_failed", f"cannot create a MUNGE credential: {why}")
        return done.stdout.decode().strip()

    def decode(self, credential: str) -> tuple[int, str]:
        """(uid, payload); raises CredentialError for invalid, expired or replayed ones."""
        if not credential:
            raise CredentialError("no_credential", "this orchestrator needs a MUNGE "
                                  "credential (client auth: munge)")  # fmt: skip
        done = self._run(["unmunge", "--numeric", "--keys=UID"], credential.encode())
        if done.returncode != 0:
            what = _MUNGE_ERRORS.get(done.returncode, "invalid")
            why = done.stderr.decode(errors="replace").strip().removeprefix("unmunge: Error: ")
            raise CredentialError("bad_credential", f"MUNGE credential {what}: {why}")
        head, _, payload = done.stdout.decode(errors="replace").partition("\n\n")
        try:
            uid = int(head.split(":", 1)[1])
        except (IndexError, ValueError):
            raise CredentialError("bad_credential", f"unexpected unmunge output "
                                  f"{head[:80]!r}") from None  # fmt: skip
        return uid, payload


def user_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise CredentialError("unknown_uid", f"uid {uid} has no user name here") from None


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    """What a client or server DEALER needs: CURVE keys and, for clients, MUNGE."""

    keys: KeyPair | None = None
    server_public: bytes | None = None
    munge: Munge | None = None

    def setup(self, socket: zmq.Socket) -> None:
        if self.keys is not None and self.server_public is not None:
            curve_client(socket, self.keys, self.server_public)

    def sign(self, msg: M) -> M:
        """`msg` with a fresh credential, when it has a credential field and MUNGE is on."""
        if self.munge is None or not hasattr(msg, "credential"):
            return msg
        credential = self.munge.encode(digest(msg.to_dict()))
        return dataclasses.replace(msg, credential=credential)  # type: ignore[type-var]


def authenticate(munge: Munge, msg: Message) -> str:
    """The user who really sent `msg`, from its credential's uid (never from the message)."""
    uid, payload = munge.decode(getattr(msg, "credential", ""))
    if payload != digest(msg.to_dict()):
        raise CredentialError("bad_credential", "MUNGE credential was made for another request")
    return user_of(uid)


@dataclass(slots=True)
class OrchestratorSecurity:
    """The orchestrator's side: its keys, who may register, and how users are identified."""

    keys: KeyPair
    allow: AllowList | None = None  # None: any server key (names pinned on first use)
    encrypt_clients: bool = False
    munge: Munge | None = None  # None: auth none, the user is whatever the message says
    node_keys: NodeKeys = dataclasses.field(default_factory=NodeKeys)
    authenticator: ThreadAuthenticator | None = None

    @property
    def server_curve(self) -> tuple[KeyPair, str]:
        return self.keys, SERVERS_DOMAIN

    @property
    def client_curve(self) -> tuple[KeyPair, str] | None:
        return (self.keys, CLIENTS_DOMAIN) if self.encrypt_clients else None

    def start(self, ctx: zmq.Context) -> None:
        """Start the ZAP handler; before the sockets bind, so no handshake goes unchecked."""
        self.authenticator = start_authenticator(ctx, self.allow)

    def stop(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
            self.authenticator = None

    def identify(self, msg: M) -> M:
        """`msg` with `user` from its MUNGE credential (unchanged under auth none)."""
        if self.munge is None or not hasattr(msg, "credential"):
            return msg
        user = authenticate(self.munge, msg)  # every request proves its sender, reads too
        if not hasattr(msg, "user"):
            return msg
        return dataclasses.replace(msg, user=user)  # type: ignore[type-var]
