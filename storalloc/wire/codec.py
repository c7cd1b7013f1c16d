"""The wire codec: three frames `[version, kind, JSON body]`, validated.

JSON only: nothing on the wire can make a peer run code. Every message kind is a frozen
dataclass registered under its name; `decode` checks the version, the kind, the size, every
field's presence and type, and the message's own range checks, and raises exactly one
exception type, `ProtocolError`, whose text names the problem. See doc/protocol.md. The
message kinds themselves are in `messages_client.py` and `messages_server.py`; import them
all from `storalloc.wire.protocol`.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, ClassVar, TypeVar, Union

VERSION = b"storalloc/1"
MAX_BODY = 8 * 1024 * 1024  # a full job listing of a busy site fits; a stray blob does not
MAX_SIZE_GB = 1e12  # 1 ZB: anything larger is a typo or an attack, not a request
MIN_DURATION_S = 1.0  # a lease shorter than a second is an empty window, not a request
MAX_DURATION_S = 100 * 365 * 86400.0
MAX_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z: the last instant datetime can show
MAX_DEPTH = 32  # nesting of a valid message is far below; deeper is an attack on the parser


class ProtocolError(Exception):
    """A frame set that is not a valid message. `code` is stable, for scripts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Message:
    """Base of every message kind."""

    kind: ClassVar[str]

    def check(self) -> None:
        """Range checks beyond types; raise ProtocolError('bad_field', ...)."""

    def to_dict(self) -> dict[str, Any]:
        # The field names registered with the kind, read directly: asdict's recursive deep
        # copy cost 15% of the orchestrator's CPU per grant, and every field value is
        # already plain JSON data (numbers, strings, lists and dicts of them).
        return {name: getattr(self, name) for name in _FIELD_NAMES[self.kind]}


KINDS: dict[str, type[Message]] = {}
_CHECKERS: dict[str, list[tuple[str, Callable[[Any], bool], str, Any]]] = {}
_FIELD_NAMES: dict[str, tuple[str, ...]] = {}
M = TypeVar("M", bound=type[Message])


def _type_checker(tp: Any) -> tuple[Callable[[Any], bool], str]:
    """A predicate for values of annotation `tp`, and a name for error messages."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        parts = [_type_checker(a) for a in typing.get_args(tp)]
        return (lambda v: any(p(v) for p, _ in parts)), " or ".join(n for _, n in parts)
    if tp is type(None):
        return (lambda v: v is None), "null"
    if tp is bool:
        return (lambda v: isinstance(v, bool)), "a boolean"
    if tp is int:
        return (lambda v: isinstance(v, int) and not isinstance(v, bool)), "an integer"
    if tp is float:
        return (
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ), "a number"
    if tp is str:
        return (lambda v: isinstance(v, str)), "a string"
    if origin is list:
        (item,) = typing.get_args(tp)
        check, name = _type_checker(item)
        return (lambda v: isinstance(v, list) and all(check(x) for x in v)), f"a list of {name}"
    if origin is dict or tp is dict:
        return (lambda v: isinstance(v, dict)), "an object"
    raise TypeError(f"unsupported field type {tp!r}")


def message(kind: str) -> Callable[[M], M]:
    """Class decorator: register a dataclass as the message kind `kind`."""

    def register(cls: M) -> M:
        cls.kind = kind
        hints = typing.get_type_hints(cls)
        checkers = []
        for f in fields(cls):  # type: ignore[arg-type]
            check, name = _type_checker(hints[f.name])
            default = f.default if f.default is not MISSING else MISSING
            if f.default_factory is not MISSING:
                default = f.default_factory
            checkers.append((f.name, check, name, default))
        KINDS[kind] = cls
        _CHECKERS[kind] = checkers
        _FIELD_NAMES[kind] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return cls

    return register


def encode(msg: Message) -> list[bytes]:
    """The three frames for `msg`."""
    body = json.dumps(msg.to_dict(), separators=(",", ":"), allow_nan=False)
    return [VERSION, msg.kind.encode("ascii"), body.encode("utf-8")]


def decode(frames: list[bytes]) -> Message:
    """Parse and validate three frames; raise ProtocolError naming what is wrong."""
    if len(frames) != 3:
        raise ProtocolError(
            "bad_frame", f"expected 3 frames [version, kind, body], got {len(frames)}"
        )
    version, raw_kind, body = frames
    if version != VERSION:
        raise ProtocolError(
            "bad_version", f"unsupported protocol version {version[:32]!r}, expected {VERSION!r}"
        )
    kind = raw_kind.decode("ascii", "replace")
    cls = KINDS.get(kind)
    if cls is None:
        raise ProtocolError("unknown_kind", f"unknown message type {kind[:40]!r}")
    if len(body) > MAX_BODY:
        raise ProtocolError("too_large", f"{kind} body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("bad_json", f"{kind} body is not valid JSON: {exc}") from None
    except RecursionError:
        data = None  # deeper than Python's parser goes: certainly deeper than MAX_DEPTH
    # Each level of nesting opens a bracket: a body with few brackets needs no walk.
    if data is None or (body.count(b"[") + body.count(b"{") > MAX_DEPTH and _too_deep(data)):
        raise ProtocolError("bad_json", f"{kind} body is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", f"{kind} body must be a JSON object")
    return _build(cls, data)


def _too_deep(data: Any) -> bool:
    """Whether containers nest deeper than MAX_DEPTH (iterative: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return True
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))
    return False


def _build(cls: type[Message], data: dict[str, Any]) -> Message:
    values = {}
    found = 0
    for name, check, type_name, default in _CHECKERS[cls.kind]:
        if name not in data:
            if default is MISSING:
                raise ProtocolError("bad_field", f"{cls.kind}: missing field {name!r}")
            values[name] = default() if callable(default) else default
            continue
        found += 1
        value = data[name]
        if not check(value):
            raise ProtocolError(
                "bad_field", f"{cls.kind}: field {name!r} must be {type_name}, got {value!r:.60}"
            )
        values[name] = value
    if found != len(data):  # keys are unique: any other key is unknown
        extra = sorted(set(data) - set(_FIELD_NAMES[cls.kind]))
        raise ProtocolError("bad_field", f"{cls.kind}: unknown field(s) {', '.join(extra)}")
    msg = cls(**values)
    msg.check()
    return msg


def _printable(kind: str, name: str, value: str | None) -> None:
    """Names end up on terminals and in logs: no control characters (escape sequences)."""
    if value is not None and not value.isprintable():
        raise ProtocolError("bad_field", f"{kind}: field {name!r} has control characters")


def _positive(kind: str, name: str, value: float, limit: float = math.inf) -> None:
    if not 0 < value <= limit:
        raise ProtocolError(
            "bad_field", f"{kind}: field {name!r} must be > 0 and <= {limit:g}, got {value!r}"
        )


def _check_window(kind: str, duration: float, begin: float | None) -> None:
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise ProtocolError(
            "bad_field", f"{kind}: field 'duration_s' must be between {MIN_DURATION_S:g} and "
            f"{MAX_DURATION_S:g} seconds, got {duration!r}",
        )
    if begin is not None and not 0 <= begin + duration <= MAX_EPOCH:
        raise ProtocolError(
            "bad_field", f"{kind}: field 'begin' must be an epoch time before the year 10000, "
            f"got {begin!r}",
        )
