"""Wire messages and their codec: three frames `[version, kind, JSON body]`, validated.

JSON only: nothing on the wire can make a peer run code. Every message kind is a frozen
dataclass registered under its name; `decode` checks the version, the kind, the size, every
field's presence and type, and the message's own range checks, and raises exactly one
exception type, `ProtocolError`, whose text names the problem. See doc/protocol.md.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, Union

from storalloc.nqn import validate_hostnqn

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
    if data is None or _too_deep(data):
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
    known = set()
    for name, check, type_name, default in _CHECKERS[cls.kind]:
        known.add(name)
        if name not in data:
            if default is MISSING:
                raise ProtocolError("bad_field", f"{cls.kind}: missing field {name!r}")
            values[name] = default() if callable(default) else default
            continue
        value = data[name]
        if not check(value):
            raise ProtocolError(
                "bad_field", f"{cls.kind}: field {name!r} must be {type_name}, got {value!r:.60}"
            )
        values[name] = value
    extra = sorted(set(data) - known)
    if extra:
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


# --- client → orchestrator ------------------------------------------------------------------


@message("alloc_request")
@dataclass(frozen=True, slots=True)
class AllocRequest(Message):
    request_id: str
    user: str
    size_gb: float
    duration_s: float
    begin: float | None = None  # epoch seconds; None = as soon as possible
    stripes: int = 1
    immediate: float | None = None  # give up if not granted within this many seconds
    hostnqn: str | None = None
    credential: str = ""  # MUNGE credential (auth: munge); the user is taken from it

    def check(self) -> None:
        _positive(self.kind, "size_gb", self.size_gb, MAX_SIZE_GB)
        _check_window(self.kind, self.duration_s, self.begin)
        if self.hostnqn is not None:
            try:
                validate_hostnqn(self.hostnqn)
            except ValueError as exc:
                raise ProtocolError("bad_field", f"{self.kind}: 'hostnqn': {exc}") from None
        if not 1 <= self.stripes <= 4096:
            raise ProtocolError("bad_field", f"{self.kind}: 'stripes' must be 1..4096")
        if self.immediate is not None and self.immediate < 0:
            raise ProtocolError("bad_field", f"{self.kind}: 'immediate' must be >= 0")
        if not self.user:
            raise ProtocolError("bad_field", f"{self.kind}: 'user' must not be empty")
        _printable(self.kind, "user", self.user)
        _printable(self.kind, "hostnqn", self.hostnqn)


@message("trace_submit")
@dataclass(frozen=True, slots=True)
class TraceSubmit(Message):
    """One trace record, submitted at virtual time `submit` (simulation only)."""

    request_id: str
    trace_id: str
    user: str
    submit: float
    size_gb: float
    duration_s: float
    begin: float | None = None

    def check(self) -> None:
        _positive(self.kind, "size_gb", self.size_gb, MAX_SIZE_GB)
        _positive(self.kind, "duration_s", self.duration_s, 100 * 365 * 86400.0)
        _printable(self.kind, "user", self.user)


@message("trace_end")
@dataclass(frozen=True, slots=True)
class TraceEnd(Message):
    request_id: str


@dataclass(frozen=True, slots=True)
class JobRequest(Message):
    """What a user asks about one job (not a message kind by itself)."""

    request_id: str
    user: str
    job_id: int
    credential: str = ""

    def check(self) -> None:
        _printable(self.kind, "user", self.user)
        if self.job_id < 0:
            raise ProtocolError(
                "bad_field", f"{self.kind}: field 'job_id' must be >= 0, got {self.job_id}"
            )


@message("cancel")
@dataclass(frozen=True, slots=True)
class Cancel(JobRequest):
    """Withdraw a request still waiting (Ctrl-C on salloc)."""


@message("release")
@dataclass(frozen=True, slots=True)
class Release(JobRequest):
    """End a job now (scancel)."""


@message("list_jobs")
@dataclass(frozen=True, slots=True)
class ListJobs(Message):
    request_id: str
    user: str
    credential: str = ""


@message("show_job")
@dataclass(frozen=True, slots=True)
class ShowJob(JobRequest):
    """Everything about one job, connection details included (owner or admin)."""


@message("drain_node")
@dataclass(frozen=True, slots=True)
class DrainNode(Message):
    """An admin closes a node to new placements (`drain`), or reopens it."""

    request_id: str
    user: str
    node: int | str  # its number or its name
    drain: bool = True
    credential: str = ""

    def check(self) -> None:
        _check_node_ref(self.kind, self.node)


@message("remove_node")
@dataclass(frozen=True, slots=True)
class RemoveNode(Message):
    """An admin forgets a node that is down and holds no job, and the key bound to its name."""

    request_id: str
    user: str
    node: int | str  # its number or its name
    credential: str = ""

    def check(self) -> None:
        _check_node_ref(self.kind, self.node)


def _check_node_ref(kind: str, node: int | str) -> None:
    if node == "" or (isinstance(node, int) and node < 0):
        raise ProtocolError("bad_field", f"{kind}: field 'node' must be a number >= 0 or a name")


@message("list_nodes")
@dataclass(frozen=True, slots=True)
class ListNodes(Message):
    request_id: str
    credential: str = ""


@message("ping")
@dataclass(frozen=True, slots=True)
class Ping(Message):
    """A waiting client checks the orchestrator is still there; answered by `pong`."""

    request_id: str


# --- orchestrator → client ------------------------------------------------------------------


@message("pong")
@dataclass(frozen=True, slots=True)
class Pong(Message):
    request_id: str
    instance: str = ""  # changes when the orchestrator restarts: waiting clients re-send


@message("node_list")
@dataclass(frozen=True, slots=True)
class NodeList(Message):
    """Storage nodes as `--nodes` (sinfo-like) shows them, and the orchestrator's mode."""

    request_id: str
    nodes: list[dict]
    simulate: bool
    submitted: int  # requests admitted so far (a fresh replay needs 0)
    now: float


@message("notice")
@dataclass(frozen=True, slots=True)
class Notice(Message):
    """A salloc-like progress line about a job, e.g. 'Pending job allocation 3'."""

    request_id: str
    job_id: int
    text: str


@message("granted")
@dataclass(frozen=True, slots=True)
class Granted(Message):
    """The allocation is ready: one connection entry per part."""

    request_id: str
    job_id: int
    connections: list[dict]
    end: float


@message("refused")
@dataclass(frozen=True, slots=True)
class Refused(Message):
    request_id: str
    job_id: int | None
    reason: str
    code: str = ""  # stable: larger_than_disks, larger_than_site, over_site_limit, ...


@message("ended")
@dataclass(frozen=True, slots=True)
class Ended(Message):
    """A granted lease is over: it ran out (COMPLETED), was released, or its node was lost."""

    request_id: str
    job_id: int
    state: str
    code: str
    reason: str


@message("done")
@dataclass(frozen=True, slots=True)
class Done(Message):
    """Success of a one-shot action (release, cancel), with a line for the user."""

    request_id: str
    text: str


@message("job_list")
@dataclass(frozen=True, slots=True)
class JobList(Message):
    request_id: str
    jobs: list[dict]
    now: float


@message("job_info")
@dataclass(frozen=True, slots=True)
class JobInfo(Message):
    request_id: str
    job: dict
    now: float


@message("trace_ack")
@dataclass(frozen=True, slots=True)
class TraceAck(Message):
    request_id: str
    job_id: int | None


@message("report")
@dataclass(frozen=True, slots=True)
class Report(Message):
    request_id: str
    report: dict


@message("error")
@dataclass(frozen=True, slots=True)
class Error(Message):
    """A request that could not be served. `code` is stable; `message` is for people."""

    code: str
    message: str
    request_id: str | None = None


# --- server ↔ orchestrator ------------------------------------------------------------------


@message("register")
@dataclass(frozen=True, slots=True)
class Register(Message):
    """A storage server announces its node (disks and bandwidths) and what it exports."""

    name: str
    hostname: str
    network_bw: float
    disks: list[dict]  # {capacity, write_bw, read_bw, model, path}
    exports: list[str] = field(default_factory=list)

    def check(self) -> None:
        _printable(self.kind, "name", self.name)
        _printable(self.kind, "hostname", self.hostname)
        _positive(self.kind, "network_bw", self.network_bw)
        if not self.disks:
            raise ProtocolError("bad_field", f"{self.kind}: a node needs at least one disk")
        for i, disk in enumerate(self.disks):
            for key in ("capacity", "write_bw", "read_bw"):
                value = disk.get(key)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ProtocolError(
                        "bad_field", f"{self.kind}: disks[{i}].{key} must be a number"
                    )
                _positive(self.kind, f"disks[{i}].{key}", value, MAX_SIZE_GB)
            for key in ("model", "path"):
                if isinstance(disk.get(key), str):
                    _printable(self.kind, f"disks[{i}].{key}", disk[key])


@message("registered")
@dataclass(frozen=True, slots=True)
class Registered(Message):
    """Welcome: the node's global number, and the exports it must keep (others go)."""

    node: int
    hold: list[str]
    heartbeat_interval: float


@message("reregister")
@dataclass(frozen=True, slots=True)
class Reregister(Message):
    """The orchestrator does not know this server (it restarted, or marked it down)."""

    reason: str


@message("heartbeat")
@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    name: str


@message("allocate")
@dataclass(frozen=True, slots=True)
class Allocate(Message):
    job_id: int
    part: int
    parts: int
    disk: int
    capacity: float  # GB
    duration: float  # minutes, as the seed prints it
    user: str
    hostnqn: str | None = None
    attempt: int = 1  # echoed in the answer, so a late answer to an earlier try is known


@message("deallocate")
@dataclass(frozen=True, slots=True)
class Deallocate(Message):
    job_id: int
    part: int
    export_id: str | None


@message("allocated")
@dataclass(frozen=True, slots=True)
class Allocated(Message):
    job_id: int
    part: int
    export_id: str
    connection: dict
    attempt: int = 1


@message("alloc_failed")
@dataclass(frozen=True, slots=True)
class AllocFailed(Message):
    job_id: int
    part: int
    reason: str
    attempt: int = 1
