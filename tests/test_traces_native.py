"""Native YAML and CSV traces: hand-checked values, malformed input, round trips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storalloc.sim.traces import (
    TraceError,
    TraceRecord,
    read_trace,
    write_native_csv,
    write_native_yaml,
)

DATA = Path(__file__).parent / "data" / "traces"
JAN1 = 1577836800.0  # 2020-01-01T00:00:00Z


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, fmt: str | None = None) -> str:
    with pytest.raises(TraceError) as info:
        read_trace(path, fmt)
    return str(info.value)


# ---------------------------------------------------------------- YAML


def test_native_yaml_values_computed_by_hand() -> None:
    records = read_trace(DATA / "native.yml")
    assert records == [
        # No id: the line where the request starts. Same submit as 'a': '11' sorts first.
        TraceRecord("11", JAN1, None, 86400.0, 0.5, "trace"),
        TraceRecord("a", JAN1, None, 3600.0, 200.0, "trace"),
        TraceRecord("b", JAN1 + 3600, JAN1 + 7200, 90 * 60.0, 2000.0, "alice"),
    ]


def test_native_yaml_time_with_offset_is_converted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yml",
        "version: 1\nrequests:\n- {submit: '2020-01-01T02:00:00+02:00', duration: 2h, "
        "capacity: 1.5}\n",
    )
    [record] = read_trace(path)
    assert record.submit == JAN1
    assert record.duration == 7200.0


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("requests: []\n", 1, "version: expected 1, got None"),
        ("version: 2\nrequests: []\n", 1, "version: expected 1, got '2'"),
        ("version: 1\nrequests: []\nextra: 1\n", 1, "unknown key(s) extra"),
        ("version: 1\nrequests: {a: 1}\n", 1, "requests: expected a list"),
        (
            "version: 1\nrequests:\n- {submit: 0, duration: 60, capacity: 1}\n"
            "- {submit: 0, duration: 60}\n",
            4,
            "capacity: missing",
        ),
        (
            "version: 1\nrequests:\n- {submit: 0, duration: 60, capacity: -3}\n",
            3,
            "capacity: expected a positive number of GB, got '-3'",
        ),
        (
            "version: 1\nrequests:\n- {submit: 100, start: 50, duration: 60, capacity: 1}\n",
            3,
            "start: expected a time at or after submit (1970-01-01T00:01:40Z), got '50'",
        ),
        (
            "version: 1\nrequests:\n- {submit: 0, duration: 90x, capacity: 1}\n",
            3,
            "duration: expected seconds > 0",
        ),
        (
            "version: 1\nrequests:\n- {submit: 0, duration: 0, capacity: 1}\n",
            3,
            "duration: expected seconds > 0",
        ),
        (
            "version: 1\nrequests:\n- {submit: yesterday, duration: 1, capacity: 1}\n",
            3,
            "submit: expected epoch seconds or an ISO-8601 time",
        ),
        (
            "version: 1\nrequests:\n- {submit: 0, duration: 1, capacity: 1, size: 2}\n",
            3,
            "key: expected one of submit, start, duration, capacity, user, id, got 'size'",
        ),
        (
            "version: 1\nrequests:\n- {id: x, submit: 0, duration: 1, capacity: 1}\n"
            "- {id: x, submit: 5, duration: 1, capacity: 1}\n",
            4,
            "id: duplicate id 'x' (first at line 3)",
        ),
        ("version: 1\nrequests:\n- [1, 2]\n", 3, "requests[0]: expected a mapping"),
        ("version: 1\n---\nversion: 1\n", 2, "expected a single YAML document"),
        ("version: 1\nrequests: [\n", 3, "invalid YAML"),  # where the file ends
    ],
)
def test_native_yaml_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = write(tmp_path, "bad.yml", text)
    message = error_of(path, "native-yaml")
    assert message.startswith(f"{path}:{line}: "), message
    assert needle in message


def test_native_yaml_cut_mid_document_names_the_line() -> None:
    message = error_of(DATA / "truncated.yml")
    assert message.startswith(f"{DATA / 'truncated.yml'}:11: invalid YAML")


def test_empty_yaml_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yml", "")
    assert "expected a mapping with keys version and requests" in error_of(path, "native-yaml")


# ---------------------------------------------------------------- CSV


def test_native_csv_values_computed_by_hand() -> None:
    records = read_trace(DATA / "native.csv")
    assert records == [
        TraceRecord("j1", JAN1, None, 3600.0, 200.0, "trace"),
        TraceRecord("5", JAN1 + 0.5, None, 45.0, 0.75, "carol"),  # no id: its line number
        TraceRecord("j2", JAN1 + 1800, JAN1 + 3600, 7200.0, 1500.0, "bob"),
    ]


def test_native_csv_columns_in_any_order_and_optional(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "\ufeffcapacity,duration,submit\n2T,1d,1577836800\n")
    assert read_trace(path) == [TraceRecord("2", JAN1, None, 86400.0, 2000.0, "trace")]


def test_truncated_csv_names_the_last_line() -> None:
    message = error_of(DATA / "truncated.csv")
    assert message == (
        f"{DATA / 'truncated.csv'}:3: expected 6 fields (submit,start,duration,capacity,user,id),"
        " got 5 (truncated line?)"
    )


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (
            "submit,start,duration,capacity,user\n0,,60,1,a\n0,,60,-3,b\n",
            3,
            "capacity: expected a positive number of GB, got '-3'",
        ),
        ("submit,start,duration,capacity,user\n0,,60,1,a,extra\n", 2, "expected 5 fields"),
        ("submit,duration,size\n", 1, "header: unknown column 'size'; missing column 'capacity'"),
        ("submit,duration,capacity,submit\n", 1, "duplicate column 'submit'"),
        ("# only a comment\n\nsubmit,duration,capacity\n1,2,3G\n1,2,\n", 5, "capacity: missing"),
        ("submit,duration,capacity\n1,2,lots\n", 2, "capacity: expected a size such as"),
        ("submit,start,duration,capacity\n10,5,1,1\n", 2, "start: expected a time at or after"),
    ],
)
def test_native_csv_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = write(tmp_path, "trace.csv", text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert needle in message


def test_empty_csv_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "\n# nothing\n")
    assert error_of(path) == f"{path}: empty file: expected a header line submit,start,..."


def test_csv_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"submit,duration,capacity,user\n0,60,1,ok\n0,60,1,Ren\xe9\n")
    assert error_of(path).startswith(f"{path}:3: not UTF-8 text")


# ---------------------------------------------------------------- round trips

text_field = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=12,
).map(lambda s: s.replace("\x85", "x"))  # U+0085 is a YAML line break


@st.composite
def records(draw: st.DrawFn) -> list[TraceRecord]:
    count = draw(st.integers(min_value=0, max_value=8))
    ids = draw(st.lists(text_field, min_size=count, max_size=count, unique=True))
    result = []
    for record_id in ids:
        submit = draw(st.floats(min_value=0, max_value=4e9))
        delay = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=1e7)))
        result.append(
            TraceRecord(
                id=record_id,
                submit=submit,
                start=None if delay is None else submit + delay,
                duration=draw(st.floats(min_value=1e-3, max_value=1e8)),
                capacity=draw(st.floats(min_value=1e-9, max_value=1e8)),
                user=draw(text_field),
            )
        )
    return sorted(result, key=lambda r: (r.submit, r.id))


@pytest.mark.parametrize(
    ("writer", "name"), [(write_native_csv, "t.csv"), (write_native_yaml, "t.yml")]
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trace=records())
def test_write_then_read_gives_equal_records(tmp_path: Path, writer, name, trace) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    writer(trace, path)
    assert read_trace(path) == trace


def test_round_trip_of_a_hand_made_trace_keeps_tricky_text(tmp_path: Path) -> None:
    trace = [
        TraceRecord("null", 1.5, None, 60.0, 0.001, 'o\'brien, "the" user'),
        TraceRecord("# not a comment", 2.0, 2.0, 1e-3, math.pi, "~"),
        TraceRecord("007", 3.25, 100.0, 86400.0, 16000.0, "1001"),
    ]
    for name, writer in (("a.csv", write_native_csv), ("a.yaml", write_native_yaml)):
        writer(trace, tmp_path / name)
        assert read_trace(tmp_path / name) == trace


def test_writers_refuse_multi_line_text(tmp_path: Path) -> None:
    bad = [TraceRecord("a\nb", 0.0, None, 1.0, 1.0, "u")]
    with pytest.raises(ValueError, match="id: expected a single-line"):
        write_native_csv(bad, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
