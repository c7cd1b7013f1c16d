"""Tests for storalloc.units: sizes, Slurm --time and --begin, and formatting."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storalloc.units import (
    MAX_SIZE_GB,
    MAX_TIME_LIMIT_S,
    format_minutes,
    format_number,
    format_request,
    format_size,
    format_time_left,
    parse_begin,
    parse_size_gb,
    parse_time_limit,
)

# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "gb"),
    [
        ("200", 200.0),
        ("0.5", 0.5),
        ("500M", 0.5),
        ("300M", 0.3),
        ("200G", 200.0),
        ("2T", 2000.0),
        ("1.5T", 1500.0),
        ("2P", 2e6),
        ("500mb", 0.5),
        ("200gb", 200.0),
        ("2Tb", 2000.0),
        ("1PB", 1e6),
        (" 7 GB ", 7.0),
        (".5T", 500.0),
        ("1e3", 1000.0),
        ("1000P", MAX_SIZE_GB),
    ],
)
def test_parse_size_accepts_plain_gb_and_decimal_units(text: str, gb: float) -> None:
    assert parse_size_gb(text) == gb


@pytest.mark.parametrize(
    "text",
    ["", "  ", "-3", "0", "0T", "0.0", "nan", "inf", "-inf", "abc", "5B", "5GiB", "1,5T", "2 T B",
     "1001P", "1e999", "G", "5K", "٣"],
)  # fmt: skip
def test_parse_size_rejects_bad_values_naming_value_and_forms(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size_gb(text)
    message = str(info.value)
    assert f"invalid size {text!r}" in message
    assert "expected a positive number of GB" in message
    assert "500M, 200G, 2T" in message


def test_parse_size_error_matches_the_documented_example() -> None:
    with pytest.raises(ValueError, match=r"^invalid size '-3': expected a positive number of GB"):
        parse_size_gb("-3")


def test_parse_size_says_why_for_zero_and_too_large() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        parse_size_gb("0M")
    with pytest.raises(ValueError, match="maximum of 1e9 GB"):
        parse_size_gb("2000P")


@given(st.integers(1, 999_999), st.sampled_from([("M", 1e-3), ("G", 1.0), ("T", 1e3)]))
def test_parse_size_integer_with_unit_scales_by_unit(n: int, unit: tuple[str, float]) -> None:
    suffix, factor = unit
    assert math.isclose(parse_size_gb(f"{n}{suffix}"), n * factor, rel_tol=1e-12)


@given(st.text(max_size=12))
def test_parse_size_only_ever_raises_value_error(text: str) -> None:
    try:
        value = parse_size_gb(text)
    except ValueError:
        return
    assert 0 < value <= MAX_SIZE_GB


@pytest.mark.parametrize(
    ("gb", "text"),
    [
        (0.5, "500M"),
        (0.3, "300M"),
        (200, "200G"),
        (200.0, "200G"),
        (1500, "1.5T"),
        (8000, "8T"),
        (1234.5678, "1.23T"),
        (999.999, "1T"),
        (2.5e6, "2.5P"),
        (1e9, "1000P"),
        (0, "0G"),
    ],
)
def test_format_size_is_compact(gb: float, text: str) -> None:
    assert format_size(gb) == text


@given(st.floats(0.01, MAX_SIZE_GB))
def test_format_size_round_trips_within_rounding(gb: float) -> None:
    assert math.isclose(parse_size_gb(format_size(gb)), gb, rel_tol=0.01)


def test_format_size_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        format_size(math.nan)


# ---------------------------------------------------------------- numbers and requests


@pytest.mark.parametrize(
    ("value", "text"),
    [(200, "200"), (200.0, "200"), (0.5, "0.5"), (1.25, "1.25"), (1 / 3, "0.33"), (2.999, "3"),
     (0.001, "0.001"), (-0.0, "0"), (8000.0, "8000")],
)  # fmt: skip
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_request_matches_seed_log_line() -> None:
    # Seed: "[D] [00000] New incoming request: [200 GB, 60 m]"
    assert f"[{format_request(200, 3600)}]" == "[200 GB, 60 m]"


def test_format_request_non_integral_values() -> None:
    assert format_request(0.5, 90) == "0.5 GB, 1.5 m"
    assert format_minutes(3600) == "60 m"
    assert format_minutes(100) == "1.67 m"


# ---------------------------------------------------------------- time limits


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60", 3600),
        ("1", 60),
        ("90:30", 5430),
        ("0:30", 30),
        ("2:00:00", 7200),
        ("48:00:00", 172800),
        ("1-12", 129600),
        ("1-0", 86400),
        ("1-12:30", 131400),
        ("1-12:30:15", 131415),
        ("0-0:0:1", 1),
        ("365-0", MAX_TIME_LIMIT_S),
        (" 60 ", 3600),
    ],
)
def test_parse_time_limit_accepts_slurm_forms(text: str, seconds: int) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "more than 0"),
        ("0:00", "more than 0"),
        ("0-0", "more than 0"),
        ("-5", "positive"),
        ("", "empty"),
        ("abc", ""),
        ("1h", ""),
        ("1.5", ""),
        ("1:2:3:4", ""),
        ("1-2-3", ""),
        ("1-", ""),
        ("-1-2", ""),
        ("1:60", "seconds 60 must be below 60"),
        ("1:60:00", "minutes 60 must be below 60"),
        ("1:00:60", "seconds 60"),
        ("1-24", "hours 24 must be below 24 after a day part"),
        ("1-0:60", "minutes 60"),
        ("1-0:0:60", "seconds 60"),
        ("366-0", "365 days"),
        ("525601", "365 days"),
        ("99999999999999999999", "365 days"),
        ("٣", ""),
    ],
)
def test_parse_time_limit_rejects_bad_values(text: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_time_limit(text)
    message = str(info.value)
    assert f"invalid time limit {text!r}" in message
    assert why in message
    assert "days-hours:minutes:seconds" in message


@pytest.mark.parametrize("text", ["UNLIMITED", "infinite", "Unlimited", "-1"])
def test_parse_time_limit_refuses_unlimited_leases(text: str) -> None:
    with pytest.raises(ValueError, match="a lease must have an end") as info:
        parse_time_limit(text)
    assert repr(text) in str(info.value)


@given(st.integers(0, 365), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_parse_time_limit_days_form_adds_up(d: int, h: int, m: int, s: int) -> None:
    total = d * 86400 + h * 3600 + m * 60 + s
    text = f"{d}-{h:02d}:{m:02d}:{s:02d}"
    if 0 < total <= MAX_TIME_LIMIT_S:
        assert parse_time_limit(text) == total
    else:
        with pytest.raises(ValueError):
            parse_time_limit(text)


@given(st.text(max_size=12))
def test_parse_time_limit_only_ever_raises_value_error(text: str) -> None:
    try:
        seconds = parse_time_limit(text)
    except ValueError:
        return
    assert 0 < seconds <= MAX_TIME_LIMIT_S


# ---------------------------------------------------------------- time left


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (5, "0:05"),
        (59.9, "0:59"),
        (600, "10:00"),
        (3598, "59:58"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (36000, "10:00:00"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (90061, "1-01:01:01"),
        (12 * 86400 + 5, "12-00:00:05"),
        (-1, "INVALID"),
        (-0.5, "INVALID"),
        (math.nan, "INVALID"),
        (math.inf, "UNLIMITED"),
    ],
)
def test_format_time_left_like_squeue(seconds: float, text: str) -> None:
    assert format_time_left(seconds) == text


@given(st.integers(1, MAX_TIME_LIMIT_S))
def test_format_time_left_is_read_back_by_parse_time_limit(seconds: int) -> None:
    assert parse_time_limit(format_time_left(seconds)) == seconds


# ---------------------------------------------------------------- begin times

NOW = dt.datetime(2026, 11, 25, 11, 40, tzinfo=dt.UTC)


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("NOW", NOW),
        ("now+60", _at(2026, 11, 25, 11, 41)),
        ("now+90seconds", _at(2026, 11, 25, 11, 41, 30)),
        ("now+1second", _at(2026, 11, 25, 11, 40, 1)),
        ("now+5minutes", _at(2026, 11, 25, 11, 45)),
        ("now+1hour", _at(2026, 11, 25, 12, 40)),
        ("now+3hours", _at(2026, 11, 25, 14, 40)),
        ("now+2days", _at(2026, 11, 27, 11, 40)),
        ("now + 1 week", _at(2026, 12, 2, 11, 40)),
        ("now+2WEEKS", _at(2026, 12, 9, 11, 40)),
        ("16:00", _at(2026, 11, 25, 16)),
        ("16:00:30", _at(2026, 11, 25, 16, 0, 30)),
        ("4:00 PM", _at(2026, 11, 25, 16)),
        ("4:00pm", _at(2026, 11, 25, 16)),
        ("12:00PM", _at(2026, 11, 25, 12)),
        ("12:30am", _at(2026, 11, 26, 0, 30)),
        ("11:41", _at(2026, 11, 25, 11, 41)),
        ("11:40", _at(2026, 11, 26, 11, 40)),  # not strictly ahead: tomorrow
        ("09:00", _at(2026, 11, 26, 9)),
        ("midnight", _at(2026, 11, 26)),
        ("noon", _at(2026, 11, 25, 12)),
        ("elevenses", _at(2026, 11, 26, 11)),
        ("fika", _at(2026, 11, 25, 15)),
        ("teatime", _at(2026, 11, 25, 16)),
        ("TeaTime", _at(2026, 11, 25, 16)),
        ("today", _at(2026, 11, 25)),
        ("tomorrow", _at(2026, 11, 26)),
        ("tomorrow teatime", _at(2026, 11, 26, 16)),
        ("teatime tomorrow", _at(2026, 11, 26, 16)),
        ("today 09:00", _at(2026, 11, 25, 9)),  # explicit date: no roll-over
        ("2026-12-01", _at(2026, 12, 1)),
        ("2026-12-01T10:00", _at(2026, 12, 1, 10)),
        ("2026-12-01T10:00:05", _at(2026, 12, 1, 10, 0, 5)),
        ("2026-12-01-10:00", _at(2026, 12, 1, 10)),
        ("2020-01-01", _at(2020, 1, 1)),  # past date kept: the caller starts it now
        ("1201", _at(2026, 12, 1)),
        ("120127", _at(2027, 12, 1)),
        ("1201-10:30", _at(2026, 12, 1, 10, 30)),
        ("12/01", _at(2026, 12, 1)),
        ("12/01/27", _at(2027, 12, 1)),
        ("12/01-10:30:15", _at(2026, 12, 1, 10, 30, 15)),
        ("12.01", _at(2026, 12, 1)),
        ("12.01.27T10:30", _at(2027, 12, 1, 10, 30)),
        ("11/25", _at(2027, 11, 25)),  # today 00:00 has passed: next year
        ("11/25-12:00", _at(2026, 11, 25, 12)),  # still ahead this year
        ("0115", _at(2027, 1, 15)),
    ],
)
def test_parse_begin_slurm_forms(text: str, expected: dt.datetime) -> None:
    assert parse_begin(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("x", ""),
        ("now+1h", ""),
        ("now+", ""),
        ("now+1 fortnight", ""),
        ("now-5", "cannot be in the past"),
        ("25:00", "out of range"),
        ("12:60", "out of range"),
        ("12:00:60", "out of range"),
        ("13:00pm", "1 to 12"),
        ("0:30am", "1 to 12"),
        ("4pm", ""),
        ("02/30", "no date 2026-02-30"),
        ("2026-13-01", "no date"),
        ("1301", "no date"),
        ("12/01/2027", ""),
        ("12/01.27", ""),
        ("now+99999999999weeks", "10 years"),
        ("tomorrow today", ""),
    ],
)
def test_parse_begin_rejects_bad_values(text: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_begin(text, NOW)
    message = str(info.value)
    assert f"invalid begin time {text!r}" in message
    assert why in message
    assert "now[+count[seconds|minutes|hours|days|weeks]]" in message
    assert "teatime" in message


def test_parse_begin_keeps_naive_now_naive() -> None:
    now = dt.datetime(2026, 11, 25, 11, 40)
    assert parse_begin("now+1hour", now) == dt.datetime(2026, 11, 25, 12, 40)
    assert parse_begin("teatime", now) == dt.datetime(2026, 11, 25, 16)
    assert parse_begin("2026-12-01", now).tzinfo is None


def test_parse_begin_keeps_the_callers_time_zone() -> None:
    zone = dt.timezone(dt.timedelta(hours=2))
    now = dt.datetime(2026, 11, 25, 23, 30, tzinfo=zone)
    result = parse_begin("noon", now)
    assert result == dt.datetime(2026, 11, 26, 12, tzinfo=zone)
    assert result.utcoffset() == dt.timedelta(hours=2)


def test_parse_begin_now_offset_is_elapsed_time_across_dst() -> None:
    zurich = zoneinfo.ZoneInfo("Europe/Zurich")
    now = dt.datetime(2026, 3, 29, 1, 30, tzinfo=zurich)  # clocks jump 02:00 -> 03:00
    later = parse_begin("now+1hour", now)
    # Subtracting datetimes sharing a tzinfo compares wall clocks: check epoch seconds instead.
    assert later.timestamp() - now.timestamp() == 3600
    assert (later.hour, later.minute) == (3, 30)
    assert later.tzinfo is zurich


def test_parse_begin_time_of_day_rolls_over_the_year_end() -> None:
    now = _at(2026, 12, 31, 23, 0)
    assert parse_begin("00:30", now) == _at(2027, 1, 1, 0, 30)
    assert parse_begin("tomorrow", now) == _at(2027, 1, 1)


@given(
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1)),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)
def test_parse_begin_time_of_day_is_within_the_next_day(
    naive_now: dt.datetime, h: int, m: int, s: int
) -> None:
    now = naive_now.replace(tzinfo=dt.UTC)
    result = parse_begin(f"{h:02d}:{m:02d}:{s:02d}", now)
    assert now < result <= now + dt.timedelta(days=1)
    assert (result.hour, result.minute, result.second) == (h, m, s)


@given(st.text(max_size=16))
def test_parse_begin_only_ever_raises_value_error(text: str) -> None:
    try:
        result = parse_begin(text, NOW)
    except ValueError:
        return
    assert result.tzinfo is NOW.tzinfo
