"""Decoding a peer's frames, or answering `error` when they are not a message."""

from __future__ import annotations

import logging

from storalloc.wire import protocol as p
from storalloc.wire.transport import Router

log = logging.getLogger("storalloc.orchestrator.service")


def decode_or_answer(
    router: Router, address: bytes, frames: list[bytes], peer: str
) -> p.Message | None:
    """The message, or None after answering `error` (the loop goes on serving)."""
    try:
        return p.decode(frames)
    except p.ProtocolError as exc:
        log.warning("%s %s sent a bad message: %s", peer, address.hex(), exc)
        router.send(address, p.Error(code=exc.code, message=str(exc)))
        return None
