"""Who is talking: CURVE keys for sockets, an allow-list of servers, node names bound to
keys, and MUNGE credentials for users. See doc/security.md.

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
import os
import pwd
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from storalloc.wire.protocol import Message

log = logging.getLogger(__name__)

SERVERS_DOMAIN = "storalloc-servers"
CLIENTS_DOMAIN = "storalloc-clients"
MUNGE_TIMEOUT = 10.0
M = TypeVar("M", bound=Message)
_MUNGE_ERRORS = {15: "expired", 16: "rewound", 17: "replayed"}


class SecurityError(Exception):
    """A key or credential problem; the message names the file or the cause."""


# --- CURVE keys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPair:
    public: bytes  # Z85, 40 bytes
    secret: bytes | None = None


def _key_text(public: bytes, secret: bytes | None) -> str:
    # ZeroMQ's certificate format, so zmq.auth can read the files and sites can use
    # keys made by other ZeroMQ tools.
    lines = ["#   Storalloc CURVE key (ZeroMQ certificate format)", "metadata", "curve",
             f'    public-key = "{public.decode()}"']  # fmt: skip
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write_new(path: Path, text: str, mode: int) -> bool:
    """Create `path` atomically with `text`; False when it already exists (we lost a race)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if it exists: two processes never mix their halves
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def generate_keys(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write `name.key` (public, to give away) and `name.key_secret` (0600) in `directory`."""
    directory = Path(directory).expanduser()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        public, secret = zmq.curve_keypair()
        secret_path = directory / f"{name}.key_secret"
        if not _write_new(secret_path, _key_text(public, secret), 0o600):
            raise SecurityError(f"{secret_path}: already exists; not overwritten")
        public_path = directory / f"{name}.key"
        public_path.unlink(missing_ok=True)  # a stale public half of an older pair
        _write_new(public_path, _key_text(public, None), 0o644)
    except OSError as exc:
        raise SecurityError(f"{directory}: cannot write keys: {exc.strerror}") from None
    return public_path, secret_path


def load_keys(directory: str | os.PathLike[str], name: str, create: bool = False) -> KeyPair:
    """The key pair `name` in `directory`, created first when missing and `create`."""
    secret_path = Path(directory).expanduser() / f"{name}.key_secret"
    if create and not secret_path.exists():
        try:
            generate_keys(secret_path.parent, name)
            log.info("created CURVE key pair %s", secret_path)
        except SecurityError:
            if not secret_path.exists():
                raise
        if not (secret_path.parent / f"{name}.key").exists():  # the race winner's public half
            _publish(secret_path, name)
    public, secret = _read_key(secret_path)
    if secret is None:
        raise SecurityError(f"{secret_path}: no secret-key in this file")
    return KeyPair(public, secret)


def _publish(secret_path: Path, name: str) -> None:
    public, _ = _read_key(secret_path)
    _write_new(secret_path.parent / f"{name}.key", _key_text(public, None), 0o644)


def _read_key(path: Path) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"{path}: not a readable CURVE key file: {exc}") from None
    if public is None or len(public) != 40:
        raise SecurityError(f"{path}: no valid public-key in this file")
    return public, secret


def load_public_key(path: str | os.PathLike[str], wait: float = 0.0) -> bytes:
    """The public key in `path`; waits up to `wait` s for a peer starting now to write it."""
    path = Path(path).expanduser()
    deadline = time.monotonic() + wait
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # a file appearing, not a peer's reply: nothing to poll on
    return _read_key(path)[0]


class AllowList:
    """Public keys of the `*.key` files in a directory, re-read when the directory changes."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        if not self.directory.is_dir():
            raise SecurityError(f"{self.directory}: allow-list directory does not exist")
        self._stamp: float | None = None
        self._keys: frozenset[bytes] = frozenset()

    def public_keys(self) -> frozenset[bytes]:
        try:
            stamp = self.directory.stat().st_mtime_ns
        except OSError:
            return frozenset()
        if stamp != self._stamp:
            found = set()
            for path in sorted(self.directory.glob("*.key")):
                try:
                    found.add(_read_key(path)[0])
                except SecurityError as exc:
                    log.warning("allow-list: %s", exc)
            self._keys, self._stamp = frozenset(found), stamp
        return self._keys


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
    auth = ThreadAuthenticator(ctx, log=logging.getLogger(__name__ + ".zap"))
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
        uid = int(head.split(":", 1)[1])
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
