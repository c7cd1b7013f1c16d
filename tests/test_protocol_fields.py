"""Message.to_dict reads the registered field names instead of dataclasses.asdict: same
dict, same frames, for messages with nested lists and dicts."""

from __future__ import annotations

import dataclasses

import pytest

from storalloc.wire import codec
from storalloc.wire import protocol as p

MESSAGES = [
    p.AllocRequest(request_id="r1", user="ann", size_gb=200.0, duration_s=3600.0, stripes=2),
    p.Granted(request_id="r1", job_id=7, end=1.5e9,
              connections=[{"nqn": "nqn.x", "traddr": "127.0.0.1", "size": 1}]),
    p.Register(name="ault14:0", hostname="ault14", network_bw=12.5,
               disks=[{"capacity": 8000, "write_bw": 2.93, "read_bw": 3.13}],
               exports=["j1-p0"]),
    p.Refused(request_id="r2", job_id=None, reason="too large", code="larger_than_site"),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: m.kind)
def test_to_dict_equals_asdict_and_round_trips(msg: p.Message) -> None:
    assert msg.to_dict() == dataclasses.asdict(msg)
    assert list(msg.to_dict()) == [f.name for f in dataclasses.fields(msg)]
    assert p.decode(p.encode(msg)) == msg


def test_every_kind_has_its_field_names() -> None:
    for kind, cls in p.KINDS.items():
        assert codec._FIELD_NAMES[kind] == tuple(f.name for f in dataclasses.fields(cls))
