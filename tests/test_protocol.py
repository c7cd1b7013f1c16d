"""Codec: round trips, and every kind of bad input raises ProtocolError naming it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storalloc.wire import protocol as p

SAMPLES = [
    p.AllocRequest(request_id="r1", user="alice", size_gb=200.0, duration_s=3600.0),
    p.AllocRequest(request_id="r2", user="bob", size_gb=0.5, duration_s=60.0, begin=1.8e9,
                   stripes=4, immediate=5.0, hostnqn="nqn.2014-08.org.nvmexpress:uuid:x"),
    p.Notice(request_id="r1", job_id=0, text="Pending job allocation 0"),
    p.Granted(request_id="r1", job_id=0, connections=[{"type": "nvme", "nqn": "n"}], end=3.0),
    p.Refused(request_id="r1", job_id=None, reason="too big"),
    p.Register(name="ault14:0", hostname="ault14", network_bw=12.5,
               disks=[{"capacity": 8000, "write_bw": 2.93, "read_bw": 3.13}], exports=["a"]),
    p.Allocate(job_id=1, part=0, parts=1, disk=3, capacity=200.0, duration=60.0, user="u"),
    p.Deallocate(job_id=1, part=0, export_id=None),
    p.Error(code="bad_field", message="x"),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.kind)
def test_round_trip(msg):
    frames = p.encode(msg)
    assert frames[0] == p.VERSION and frames[1] == msg.kind.encode()
    assert p.decode(frames) == msg


@given(
    size=st.floats(min_value=1e-6, max_value=1e12, allow_nan=False),
    duration=st.floats(min_value=1.0, max_value=1e9, allow_nan=False),
    user=st.text(min_size=1, max_size=20).filter(str.isprintable),  # control chars: refused
    stripes=st.integers(min_value=1, max_value=4096),
)
def test_alloc_request_round_trip_property(size, duration, user, stripes):
    msg = p.AllocRequest(request_id="x", user=user, size_gb=size, duration_s=duration,
                         stripes=stripes)
    assert p.decode(p.encode(msg)) == msg


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=5))
def test_arbitrary_frames_raise_only_protocol_error(frames):
    try:
        p.decode(frames)
    except p.ProtocolError as exc:
        assert exc.code and str(exc)


def _frames(kind: str, body: object) -> list[bytes]:
    return [p.VERSION, kind.encode(), json.dumps(body).encode()]


GOOD = {"request_id": "r", "user": "u", "size_gb": 1, "duration_s": 60}
BATCH = {"request_id": "r", "trace_ids": ["t1", "t2"], "users": ["u", "u"], "submits": [0, 5],
         "sizes_gb": [1, 2], "durations_s": [60, 60], "begins": [None, 10]}


@pytest.mark.parametrize(
    "frames, code, words",
    [
        ([b"x"], "bad_frame", "expected 3 frames"),
        ([b"storalloc/9", b"alloc_request", b"{}"], "bad_version", "storalloc/9"),
        (_frames("launch_missiles", {}), "unknown_kind", "launch_missiles"),
        ([p.VERSION, b"alloc_request", b"{not json"], "bad_json", "not valid JSON"),
        ([p.VERSION, b"alloc_request", b"[1, 2]"], "bad_json", "JSON object"),
        (_frames("alloc_request", {**GOOD, "size_gb": "200"}), "bad_field", "'size_gb'"),
        (_frames("alloc_request", {**GOOD, "size_gb": True}), "bad_field", "'size_gb'"),
        (_frames("alloc_request", {**GOOD, "size_gb": -1}), "bad_field", "'size_gb'"),
        (_frames("alloc_request", {**GOOD, "size_gb": 1e30}), "bad_field", "'size_gb'"),
        (_frames("alloc_request", {**GOOD, "duration_s": 0}), "bad_field", "'duration_s'"),
        (_frames("alloc_request", {k: v for k, v in GOOD.items() if k != "user"}),
         "bad_field", "missing field 'user'"),
        (_frames("alloc_request", {**GOOD, "extra": 1}), "bad_field", "unknown field(s) extra"),
        (_frames("alloc_request", {**GOOD, "stripes": 0}), "bad_field", "stripes"),
        (_frames("release", {"request_id": "r", "user": "u", "job_id": -4}), "bad_field",
         "job_id"),
        (_frames("register", {"name": "n", "hostname": "h", "network_bw": 1, "disks": []}),
         "bad_field", "at least one disk"),
        ([p.VERSION, b"alloc_request", b" " * (p.MAX_BODY + 1)], "too_large", "exceeds"),
        (_frames("trace_batch", {**BATCH, "users": ["u"]}), "bad_field",
         "field 'users' has 1 entries for 2 trace ids"),
        (_frames("trace_batch", {**BATCH, "sizes_gb": [1, -3]}), "bad_field",
         "record 't2': trace_batch: field 'size_gb' must be > 0"),
        (_frames("trace_batch", {**BATCH, "begins": [None, "soon"]}), "bad_field", "'begins'"),
        (_frames("trace_batch", {key: [] for key in BATCH} | {"request_id": "r"}),
         "bad_field", "1 to 256 records, got 0"),
        (_frames("trace_batch", {key: v * 129 if isinstance(v, list) else v
                                 for key, v in BATCH.items()}),
         "bad_field", "1 to 256 records, got 258"),
    ],
)
def test_rejections_name_the_problem(frames, code, words):
    with pytest.raises(p.ProtocolError) as err:
        p.decode(frames)
    assert err.value.code == code
    assert words in str(err.value)


def test_nan_is_rejected():
    body = b'{"request_id": "r", "user": "u", "size_gb": NaN, "duration_s": 60}'
    with pytest.raises(p.ProtocolError, match="size_gb"):
        p.decode([p.VERSION, b"alloc_request", body])


def test_no_code_running_codec_in_the_package():
    import pathlib

    root = pathlib.Path(p.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "import marshal" not in text, path


def test_brackets_inside_strings_are_not_nesting():
    # Bodies with few brackets skip the depth walk; many brackets in a string must still
    # decode (the walk then finds the real depth, 1).
    body = json.dumps({**GOOD, "request_id": "[{" * 40}).encode()
    assert p.decode([p.VERSION, b"alloc_request", body]).request_id == "[{" * 40
