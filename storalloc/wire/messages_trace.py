"""Messages of a trace replay through an orchestrator `--simulate` (see doc/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass

from storalloc.wire.codec import (
    MAX_DURATION_S,
    MAX_SIZE_GB,
    Message,
    ProtocolError,
    _positive,
    _printable,
    message,
)

#: Trace records in one TraceBatch: 256 records are about 20 kB on the wire.
MAX_TRACE_BATCH = 256

# --- client → orchestrator ------------------------------------------------------------------


@message("trace_batch")
@dataclass(frozen=True, slots=True)
class TraceBatch(Message):
    """Consecutive trace records in submit order, one column per field (simulation only).

    Up to MAX_TRACE_BATCH records travel in one message: a replay through sockets is
    bounded by messages, not by scheduling (doc/performance.md)."""

    request_id: str
    trace_ids: list[str]
    users: list[str]
    submits: list[float]
    sizes_gb: list[float]
    durations_s: list[float]
    begins: list[float | None]

    def check(self) -> None:
        count = len(self.trace_ids)
        if not 1 <= count <= MAX_TRACE_BATCH:
            raise ProtocolError(
                "bad_field", f"{self.kind}: 1 to {MAX_TRACE_BATCH} records, got {count}"
            )
        for name in ("users", "submits", "sizes_gb", "durations_s", "begins"):
            if len(getattr(self, name)) != count:
                raise ProtocolError(
                    "bad_field",
                    f"{self.kind}: field {name!r} has {len(getattr(self, name))} entries "
                    f"for {count} trace ids",
                )
        for trace_id, user, size, duration in zip(
            self.trace_ids, self.users, self.sizes_gb, self.durations_s, strict=True
        ):
            try:
                _positive(self.kind, "size_gb", size, MAX_SIZE_GB)
                _positive(self.kind, "duration_s", duration, MAX_DURATION_S)
                _printable(self.kind, "user", user)
                _printable(self.kind, "trace_id", trace_id)
            except ProtocolError as exc:
                raise ProtocolError(exc.code, f"record {trace_id[:40]!r}: {exc}") from None


@message("trace_end")
@dataclass(frozen=True, slots=True)
class TraceEnd(Message):
    request_id: str


# --- orchestrator → client ------------------------------------------------------------------


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
