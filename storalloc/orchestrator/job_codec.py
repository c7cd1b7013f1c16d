"""Generic JSON (de)serialisation of a Job for the store: every field, whatever the lead adds.

Enums are stored by value, dataclasses as {"$": name, ...}, tuples as {"$t": [...]} and
sets as {"$s": [...]}, so a job reads back with the same Python types it was saved with.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import typing
from typing import Any

from storalloc.core import jobs as jobs_module
from storalloc.core.cluster import Extent
from storalloc.core.jobs import Job

__all__ = ["TRANSIENT", "job_from_json", "job_to_json"]

log = logging.getLogger("storalloc.orchestrator.store")

# Runtime-only fields: reply addresses die with the connection, timers are re-armed.
TRANSIENT = frozenset({"client", "timers"})
_TYPES: dict[str, type] = {"Extent": Extent}


# Types stored as they are. Exact types, not isinstance: a StrEnum is a str but is stored
# by value through the slow path, and the fast path is what keeps a store flush cheap on
# the grant path (the generic isinstance chain was most of the orchestrator's flush time).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_STORED: dict[type, tuple[str, ...]] = {}  # a job class's fields but the transient ones


def _encode(value: Any) -> Any:
    cls = type(value)
    if cls in _PLAIN:
        return value
    if cls is list:
        return [v if type(v) in _PLAIN else _encode(v) for v in value]
    if cls is tuple:
        return {"$t": [v if type(v) in _PLAIN else _encode(v) for v in value]}
    return _encode_other(value)


def _encode_other(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(value))
        return {"$": cls.__name__, **{name: _encode(getattr(value, name)) for name in names}}
    if isinstance(value, tuple):
        return {"$t": [_encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"$s": [_encode(v) for v in sorted(value, key=repr)]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$t" in value:
        return tuple(_decode(v) for v in value["$t"])
    if "$s" in value:
        return {_decode_hashable(v) for v in value["$s"]}
    if "$" in value:
        cls = _TYPES[value["$"]]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _decode(v) for k, v in value.items() if k in names})
    return {k: _decode(v) for k, v in value.items()}


def _decode_hashable(value: Any) -> Any:
    decoded = _decode(value)
    return tuple(decoded) if isinstance(decoded, list) else decoded


def job_to_json(job: Job) -> str:
    """Every field of `job` except the runtime-only ones; fields the lead adds come along."""
    data = {}
    for name in _stored_fields(type(job)):
        value = getattr(job, name)
        try:
            data[name] = value if type(value) in _PLAIN else _encode(value)
        except TypeError as exc:
            log.debug("job %s: field %s not stored: %s", job.id, name, exc)
    return json.dumps(data, separators=(",", ":"))


def _stored_fields(cls: type) -> tuple[str, ...]:
    names = _STORED.get(cls)
    if names is None:
        names = _STORED[cls] = tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in TRANSIENT
        )
    return names


def job_from_json(text: str) -> Job:
    """A Job from `job_to_json`; unknown stored fields are ignored, missing ones default."""
    raw = json.loads(text)
    hints = typing.get_type_hints(Job, vars(jobs_module))
    values = {}
    for f in dataclasses.fields(Job):
        if f.name in TRANSIENT or f.name not in raw:
            continue
        values[f.name] = _as_hinted(_decode(raw[f.name]), hints.get(f.name))
    return Job(**values)


def _as_hinted(value: Any, hint: Any) -> Any:
    """Enums come back as enums, also when the field is optional (`Reason | None`)."""
    candidates = typing.get_args(hint) or (hint,)
    for cls in candidates:
        if value is not None and isinstance(cls, type) and issubclass(cls, enum.Enum):
            return cls(value)
    return value
