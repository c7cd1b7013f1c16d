"""NVMe in-band authentication (DH-HMAC-CHAP) secrets in the NVMe 2.0 text representation.

A secret is `DHHC-1:<hh>:<base64 of key + CRC-32 of key, little endian>:` where `hh` names the
transformation applied to the key (00 none, 01 SHA-256, 02 SHA-384, 03 SHA-512). Linux takes
this text in configfs (`hosts/<hostnqn>/dhchap_key`) and `nvme connect --dhchap-secret`
takes the same string, so the server generates it and the client passes it on untouched.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import zlib

#: Key sizes the NVMe spec allows, in bytes (32 for an untransformed key, as nvme-cli's default).
KEY_SIZES = (32, 48, 64)
_SECRET_RE = re.compile(r"^DHHC-1:0[0-3]:(?P<b64>[A-Za-z0-9+/]+={0,2}):$")


def generate_secret(key_bytes: int = 32) -> str:
    """A fresh random host secret, untransformed (`DHHC-1:00:...:`)."""
    if key_bytes not in KEY_SIZES:
        raise ValueError(f"DH-HMAC-CHAP key size must be one of {KEY_SIZES} bytes")
    key = secrets.token_bytes(key_bytes)
    crc = zlib.crc32(key).to_bytes(4, "little")
    return f"DHHC-1:00:{base64.b64encode(key + crc).decode('ascii')}:"


def validate_secret(text: str) -> str:
    """Return `text` if it is a well-formed secret whose checksum matches, else ValueError."""
    m = _SECRET_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError("invalid DH-HMAC-CHAP secret: expected 'DHHC-1:0N:<base64>:'")
    try:
        raw = base64.b64decode(m["b64"], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid DH-HMAC-CHAP secret: bad base64 ({exc})") from exc
    key, crc = raw[:-4], raw[-4:]
    if len(key) not in KEY_SIZES or zlib.crc32(key).to_bytes(4, "little") != crc:
        raise ValueError("invalid DH-HMAC-CHAP secret: wrong key length or CRC-32")
    return text
