"""Parse and format sizes (decimal GB), Slurm-style time limits, and durations.

Begin times live in storalloc.begin_time; they are re-exported here so existing
importers keep working.
"""

from __future__ import annotations

import math
import re

from storalloc.begin_time import local_zone, parse_begin

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
