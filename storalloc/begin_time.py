"""Parse Slurm ``--begin`` values (now+1hour, 16:00, 2026-11-25T16:00...) into datetimes."""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo

__all__ = ["MAX_BEGIN_AHEAD_S", "local_zone", "parse_begin"]

# A begin offset this far ahead is a typo, and bigger ones overflow datetime.
MAX_BEGIN_AHEAD_S = 10 * 366 * 86400

_BEGIN_FORMS = (
    "expected now[+count[seconds|minutes|hours|days|weeks]], HH:MM[:SS][AM|PM], "
    "YYYY-MM-DD[THH:MM[:SS]], MMDD[YY], MM/DD[/YY] or MM.DD[.YY] optionally followed by "
    "-HH:MM[:SS], midnight, noon, elevenses, fika, teatime, today or tomorrow "
    "(e.g. now+1hour, 16:00, 2026-11-25T16:00)"
)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_WORD_TIMES = {"midnight": 0, "noon": 12, "elevenses": 11, "fika": 15, "teatime": 16}
_NOW_RE = re.compile(
    r"now(?:\s*\+\s*([0-9]+)\s*(?:(second|minute|hour|day|week)s?)?)?", re.I | re.A
)
_DATE = (
    r"(?P<iso>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})|(?P<mmdd>[0-9]{4}(?:[0-9]{2})?)"
    r"|(?P<sep>[0-9]{1,2}(?P<c>[./])[0-9]{1,2}(?:(?P=c)[0-9]{2})?)|(?P<dword>today|tomorrow)"
)
_TIME = (
    r"(?P<hms>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:\s*[ap]m)?)"
    r"|(?P<tword>midnight|noon|elevenses|fika|teatime)"
)
# Slurm accepts a date and a time joined by '-', 'T' or blanks, in either order.
_DATE_FIRST_RE = re.compile(rf"(?:{_DATE})(?:(?:\s*[-T]\s*|\s+)(?:{_TIME}))?", re.I | re.A)
_TIME_FIRST_RE = re.compile(rf"(?:{_TIME})(?:\s+(?:{_DATE}))?", re.I | re.A)
_HMS_RE = re.compile(r"([0-9]+):([0-9]+)(?::([0-9]+))?\s*([ap]m)?", re.I | re.A)

_Date = tuple[int | None, int, int]  # (year or None when omitted, month, day)
_Time = tuple[int, int, int]


def _begin_error(text: str, reason: str = "") -> ValueError:
    return ValueError(f"invalid begin time {text!r}: {reason}{_BEGIN_FORMS}")


def _parse_hms(text: str, hms: str) -> _Time:
    """``HH:MM[:SS][AM|PM]`` -> (hour, minute, second), with Slurm's 12-hour clock rules."""
    match = _HMS_RE.fullmatch(hms)
    assert match is not None  # guaranteed by _TIME
    hour, minute, second = (int(g) if g else 0 for g in match.groups()[:3])
    meridiem = (match.group(4) or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise _begin_error(text, f"hour {hour} must be 1 to 12 with AM/PM; ")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise _begin_error(text, f"time {hms!r} is out of range; ")
    return hour, minute, second


def _parse_date(match: re.Match[str], today: dt.date) -> _Date:
    """Turn the date group of a begin match into (year or None, month, day)."""
    if match["dword"]:
        day = today if match["dword"].lower() == "today" else today + dt.timedelta(days=1)
        return day.year, day.month, day.day
    if match["iso"]:
        year, month, mday = (int(p) for p in match["iso"].split("-"))
        return year, month, mday
    if match["mmdd"]:
        digits = match["mmdd"]
        year = 2000 + int(digits[4:]) if len(digits) == 6 else None
        return year, int(digits[:2]), int(digits[2:4])
    parts = re.split(r"[./]", match["sep"])
    year = 2000 + int(parts[2]) if len(parts) == 3 else None
    return year, int(parts[0]), int(parts[1])


def _make(text: str, now: dt.datetime, year: int, month: int, day: int, t: _Time) -> dt.datetime:
    try:
        return dt.datetime(year, month, day, *t, tzinfo=now.tzinfo)
    except ValueError:
        raise _begin_error(text, f"there is no date {year:04d}-{month:02d}-{day:02d}; ") from None


def _parse_now(text: str, match: re.Match[str], now: dt.datetime) -> dt.datetime:
    count, unit = match.groups()
    seconds = int(count or 0) * _UNIT_SECONDS[(unit or "second").lower()]
    if seconds > MAX_BEGIN_AHEAD_S:
        raise _begin_error(text, "more than 10 years ahead; ")
    if now.tzinfo is None:
        return now + dt.timedelta(seconds=seconds)
    # Go through UTC so the offset is elapsed time even across a DST change.
    return (now.astimezone(dt.UTC) + dt.timedelta(seconds=seconds)).astimezone(now.tzinfo)


def local_zone() -> dt.tzinfo:
    """This machine's time zone *with its rules* (TZ, else /etc/localtime): a date next
    summer gets next summer's offset, not today's. Falls back to today's fixed offset only
    when no zone database describes the zone."""
    name = os.environ.get("TZ", "").lstrip(":")
    try:
        if name:
            return zoneinfo.ZoneInfo(name)
        with open("/etc/localtime", "rb") as f:
            return zoneinfo.ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return dt.datetime.now().astimezone().tzinfo or dt.UTC


def parse_begin(text: str, now: dt.datetime) -> dt.datetime:
    """Parse a Slurm ``--begin`` value relative to ``now``; returns the same kind (aware/naive).

    Follows Slurm: a time of day without a date is today if it is still ahead,
    else tomorrow; a date without a year is this year unless that moment has
    passed, else next year; a date without a time is 00:00. Like Slurm, an
    explicit date (or ``today``) may give a moment in the past, which callers
    treat as "as soon as possible". Raises ValueError naming the value.
    """
    s = text.strip()
    now_match = _NOW_RE.fullmatch(s)
    if now_match is not None:
        return _parse_now(text, now_match, now)
    match = _DATE_FIRST_RE.fullmatch(s) or _TIME_FIRST_RE.fullmatch(s)
    if match is None:
        if not s:
            raise _begin_error(text, "it must not be empty; ")
        if s.lower().startswith("now") and "-" in s:
            raise _begin_error(text, "a start cannot be in the past, use now+count; ")
        raise _begin_error(text)
    if match["tword"]:
        t: _Time | None = (_WORD_TIMES[match["tword"].lower()], 0, 0)
    else:
        t = _parse_hms(text, match["hms"]) if match["hms"] else None
    if not any(match[g] for g in ("iso", "mmdd", "sep", "dword")):
        assert t is not None
        today = _make(text, now, now.year, now.month, now.day, t)
        if today > now:
            return today
        tomorrow = now.date() + dt.timedelta(days=1)
        return _make(text, now, tomorrow.year, tomorrow.month, tomorrow.day, t)
    year, month, day = _parse_date(match, now.date())
    t = t or (0, 0, 0)
    if year is not None:
        return _make(text, now, year, month, day, t)
    this_year = _make(text, now, now.year, month, day, t)
    return this_year if this_year > now else _make(text, now, now.year + 1, month, day, t)
