"""Leaf checks for configuration values: numbers, names, endpoints, NQNs, strategies."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection
from types import MappingProxyType

from storalloc.config.schema import Leaf


def _is_number(value: object) -> bool:
    # bool is an int subclass: `capacity: yes` must not silently become 1 GB.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def positive(unit: str) -> Leaf:
    """A finite number > 0, converted to float."""
    return Leaf(f"a positive number of {unit}", lambda v: _is_number(v) and v > 0, float)


def non_negative(unit: str) -> Leaf:
    """A finite number >= 0, converted to float."""
    return Leaf(f"a number of {unit} >= 0", lambda v: _is_number(v) and v >= 0, float)


def integer(low: int | None = None, high: int | None = None, what: str = "an integer") -> Leaf:
    """An int (never a bool) within the inclusive bounds given."""

    def test(v: object) -> bool:
        return (
            isinstance(v, int)
            and not isinstance(v, bool)
            and (low is None or v >= low)
            and (high is None or v <= high)
        )

    return Leaf(what, test)


BOOLEAN = Leaf("true or false", lambda v: isinstance(v, bool))
TEXT = Leaf("a string", lambda v: isinstance(v, str))
NON_EMPTY = Leaf("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))
USER_PATH = Leaf(
    "an absolute path or one starting with ~",
    lambda v: isinstance(v, str) and (v.startswith("/") or v == "~" or v.startswith("~/")),
)
ABSOLUTE_PATH = Leaf("an absolute path", lambda v: isinstance(v, str) and v.startswith("/"))
VG_NAME = Leaf(
    "an LVM volume group name (letters, digits, '+', '_', '.', '-'; not starting with '-')",
    lambda v: (
        isinstance(v, str)
        and re.fullmatch(r"[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}", v) is not None
        and v not in (".", "..")
    ),
)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
HOST_NAME = Leaf(
    "a host name (letters, digits, '.', '_', '-')",
    lambda v: isinstance(v, str) and _NAME_RE.fullmatch(v) is not None,
)


def one_of(*choices: str) -> Leaf:
    """One of a fixed set of strings."""
    return Leaf(f"one of {', '.join(choices)}", lambda v: v in choices)


def _is_ipv4(value: object) -> bool:
    try:
        ipaddress.IPv4Address(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return isinstance(value, str)


IPV4 = Leaf("an IPv4 address like 192.168.1.10", _is_ipv4)

KEYWORDS = Leaf(
    "a mapping of keyword names to values",
    lambda v: isinstance(v, dict) and all(isinstance(k, str) and k.isidentifier() for k in v),
    lambda v: MappingProxyType(dict(v)),
)

_TCP_RE = re.compile(r"tcp://(?P<host>\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d+|\*)")
_IPC_RE = re.compile(r"ipc://\S+")


def endpoint(bind: bool) -> Leaf:
    """A zmq endpoint; ``*`` as host or port only makes sense for one that binds."""

    def test(v: object) -> bool:
        if not isinstance(v, str):
            return False
        if _IPC_RE.fullmatch(v):
            return True
        match = _TCP_RE.fullmatch(v)
        if match is None:
            return False
        host, port = match["host"], match["port"]
        if "*" in (host, port):
            return bind
        return 1 <= int(port) <= 65535

    ports = "PORT 1-65535 or *" if bind else "PORT 1-65535"
    return Leaf(f"a zmq endpoint tcp://HOST:PORT or ipc://PATH ({ports})", test)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NQN_RE = re.compile(
    rf"nqn\.\d{{4}}-(0[1-9]|1[0-2])\.{_LABEL}(?:\.{_LABEL})+(?::[A-Za-z0-9._:-]+)?"
)
NQN_MAX = 223  # NVMe base specification limit for a whole NQN, in bytes

NQN_PREFIX = Leaf(
    "an NQN prefix nqn.yyyy-mm.reverse.domain (e.g. nqn.2026-11.io.storalloc)",
    lambda v: isinstance(v, str) and len(v) <= NQN_MAX and _NQN_RE.fullmatch(v) is not None,
)

_DOTTED_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
_STRATEGY_NAME_RE = re.compile(r"[A-Za-z_][\w-]*")


def strategy(names: Collection[str] | None) -> Leaf:
    """A strategy from ``names`` (any plain name when ``None``) or a ``pkg.module:Class``."""

    def test(v: object) -> bool:
        if not isinstance(v, str):
            return False
        if _DOTTED_RE.fullmatch(v):
            return True
        return v in names if names is not None else _STRATEGY_NAME_RE.fullmatch(v) is not None

    what = "a strategy name" if names is None else f"one of {', '.join(sorted(names))}"
    return Leaf(f"{what} or 'pkg.module:Class'", test)
