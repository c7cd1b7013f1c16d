"""Messages between clients and the orchestrator (see doc/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass

from storalloc.nqn import validate_hostnqn
from storalloc.wire.codec import (
    MAX_SIZE_GB,
    Message,
    ProtocolError,
    _check_window,
    _positive,
    _printable,
    message,
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
    instance: str = ""  # the orchestrator's run (see pong): who holds the job now


@message("granted")
@dataclass(frozen=True, slots=True)
class Granted(Message):
    """The allocation is ready: one connection entry per part. The client shows
    `granted_text(job_id)` for it, so no notice with that line has to come before it."""

    request_id: str
    job_id: int
    connections: list[dict]
    end: float


def granted_text(job_id: int) -> str:
    """salloc's line for a grant, shown by the client when `granted` arrives."""
    return f"Granted job allocation {job_id}"


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


@message("error")
@dataclass(frozen=True, slots=True)
class Error(Message):
    """A request that could not be served. `code` is stable; `message` is for people."""

    code: str
    message: str
    request_id: str | None = None
