"""Parse and format sizes (decimal GB), Slurm-style time limits and begin times, and durations."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import zoneinfo

__all__ = [
    "MAX_SIZE_GB",
    "MAX_TIME_LIMIT_S",
    "format_minutes",
    "format_number",
    "format_request",
    "format_size",
    "format_time_left",
    "local_zone",
    "parse_begin",
    "parse_size_gb",
    "parse_time_limit",
]

MAX_SIZE_GB = 1e9
MAX_TIME_LIMIT_S = 365 * 86400
# A begin offset this far ahead is a typo, and bigger ones overflow datetime.
MAX_BEGIN_AHEAD_S = 10 * 366 * 86400

# ---------------------------------------------------------------- sizes

_SIZE_EXPONENTS = {"M": -3, "G": 0, "T": 3, "P": 6}  # decimal powers of ten relative to GB
_SIZE_RE = re.compile(
    r"((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)\s*(?:([mgtp])b?)?", re.I | re.A
)
_SIZE_FORMS = (
    "expected a positive number of GB, optionally with a unit M, G, T or P (e.g. 500M, 200G, 2T)"
)


def parse_size_gb(text: str) -> float:
    """Parse a size such as ``200``, ``500M``, ``2T`` or ``1.5TB`` into decimal GB.

    A plain number is GB; units are decimal (500M = 0.5 GB) and case-insensitive.
    Raises ValueError naming the value for empty, non-positive, non-numeric or
    absurd (> 1e9 GB) input.
    """
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"invalid size {text!r}: {_SIZE_FORMS}")
    unit = (match.group(2) or "G").upper()
    exponent = _SIZE_EXPONENTS[unit]
    number = float(match.group(1))
    # Dividing keeps 300M exactly 0.3 where multiplying by 1e-3 would not.
    value = number * 10**exponent if exponent >= 0 else number / 10**-exponent
    if value <= 0:
        raise ValueError(f"invalid size {text!r}: the size must be more than 0; {_SIZE_FORMS}")
    if value > MAX_SIZE_GB:
        raise ValueError(f"invalid size {text!r}: more than the maximum of 1e9 GB; {_SIZE_FORMS}")
    return value


def format_number(value: float) -> str:
    """Format a number without decimals when integral, else with at most 2 (``0.5``, ``1.25``)."""
    if not math.isfinite(value):
        raise ValueError(f"cannot format non-finite number {value!r}")
    if value == int(value):
        return str(int(value))
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        # Two decimals would print a tiny non-zero value as 0: keep two significant digits.
        return f"{value:.2g}"
    return text


def format_size(gb: float) -> str:
    """Format GB compactly with the largest fitting decimal unit: ``500M``, ``200G``, ``1.5T``."""
    if not math.isfinite(gb):
        raise ValueError(f"cannot format non-finite size {gb!r}")
    # Pick the unit after rounding, so 999.999G prints as 1T rather than 1000G.
    for unit, exponent in (("P", 6), ("T", 3), ("G", 0)):
        if round(abs(gb) / 10**exponent, 2) >= 1:
            return f"{format_number(round(gb / 10**exponent, 2))}{unit}"
    return "0G" if gb == 0 else f"{format_number(round(gb * 1000, 2))}M"


def format_minutes(seconds: float) -> str:
    """Format a duration in minutes the way the orchestrator logs it: 3600 -> ``60 m``."""
    return f"{format_number(seconds / 60)} m"


def format_request(size_gb: float, duration_s: float) -> str:
    """Format a request as in the seed's log lines: (200, 3600) -> ``200 GB, 60 m``."""
    return f"{format_number(size_gb)} GB, {format_minutes(duration_s)}"


# ---------------------------------------------------------------- time limits

_TIME_LIMIT_FORMS = (
    "expected minutes, minutes:seconds, hours:minutes:seconds, days-hours, "
    "days-hours:minutes or days-hours:minutes:seconds (e.g. 60, 90:00, 2:00:00, 1-12)"
)
_DAYS_RE = re.compile(r"([0-9]+)-([0-9]+)(?::([0-9]+)(?::([0-9]+))?)?", re.A)
_DIGITS_RE = re.compile(r"[0-9]+", re.A)


def _time_limit_error(text: str, reason: str = "") -> ValueError:
    return ValueError(f"invalid time limit {text!r}: {reason}{_TIME_LIMIT_FORMS}")


def _check_below(text: str, name: str, value: int, limit: int, where: str = "") -> None:
    if value >= limit:
        raise _time_limit_error(text, f"{name} {value} must be below {limit}{where}; ")


def _split_time_limit(text: str, s: str) -> tuple[int, int, int, int]:
    """Return (days, hours, minutes, seconds) for one of Slurm's ``--time`` forms."""
    match = _DAYS_RE.fullmatch(s)
    if match is not None:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        _check_below(text, "hours", hours, 24, " after a day part")
        _check_below(text, "minutes", minutes, 60)
    else:
        parts = s.split(":")
        if len(parts) > 3 or not all(_DIGITS_RE.fullmatch(p) for p in parts):
            reason = "it must be positive; " if s.startswith("-") else ""
            raise _time_limit_error(text, reason if s else "it must not be empty; ")
        numbers = [int(p) for p in parts]
        # The leading field is unbounded (90:00 and 48:00:00 are common), the others are not.
        if len(numbers) == 3:
            days, (hours, minutes, seconds) = 0, numbers
            _check_below(text, "minutes", minutes, 60)
        else:
            days, hours = 0, 0
            minutes, seconds = (*numbers, 0)[:2]
    _check_below(text, "seconds", seconds, 60)
    return days, hours, minutes, seconds


def parse_time_limit(text: str) -> int:
    """Parse a Slurm ``--time`` value into seconds: ``60`` -> 3600, ``1-12`` -> 129600.

    Forms: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    days-hours:minutes, days-hours:minutes:seconds. Unlike Slurm, seconds are kept
    (not rounded up to a minute), and UNLIMITED/INFINITE/-1 are refused because a
    lease must have an end. Raises ValueError naming the value.
    """
    s = text.strip()
    if s.upper() in ("UNLIMITED", "INFINITE", "-1"):
        raise ValueError(
            f"invalid time limit {text!r}: a lease must have an end, "
            "give a finite duration such as 60 (minutes) or 1-00:00:00"
        )
    days, hours, minutes, seconds = _split_time_limit(text, s)
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise _time_limit_error(text, "the duration must be more than 0; ")
    if total > MAX_TIME_LIMIT_S:
        raise _time_limit_error(text, "more than the maximum of 365 days; ")
    return total


def format_time_left(seconds: float) -> str:
    """Format a remaining duration like squeue's TIME_LEFT: ``59:58``, ``1:00:00``, ``1-00:00:00``.

    Fractions of a second are dropped. Negative or NaN values give ``INVALID``
    (Slurm's word for an impossible duration), +inf gives ``UNLIMITED``.
    """
    if seconds == math.inf:
        return "UNLIMITED"
    if math.isnan(seconds) or seconds < 0:
        return "INVALID"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


# ---------------------------------------------------------------- begin times

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
