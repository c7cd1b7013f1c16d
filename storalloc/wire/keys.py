"""CURVE key files: generation (atomic, never overwriting), loading, and allow-lists.

Files use ZeroMQ's certificate format (`name.key` public, `name.key_secret` private,
0600), so zmq.auth reads them and keys made by other ZeroMQ tools work here.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

log = logging.getLogger(__name__)


class SecurityError(Exception):
    """A key or credential problem; the message names the file or the cause."""


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
            # A warning in the audit trail: a new identity appearing must be on record
            # (were the old keys lost, allow-lists and pinned names now refuse this host).
            logging.getLogger("storalloc.audit").warning("created a new CURVE key pair: %s",
                                                         secret_path)
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
    if not path.exists():
        raise SecurityError(f"{path}: no such key file; copy the orchestrator's public key "
                            "(orchestrator.key in its keys directory) here, or set "
                            "orchestrator_key")  # fmt: skip
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


