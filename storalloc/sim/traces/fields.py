"""Parse one trace field (time, duration, capacity, user); errors name the field and value."""

from __future__ import annotations

import datetime as dt
import math
import re

from storalloc.units import parse_size_gb

__all__ = [
    "FieldError",
    "MissingField",
    "format_time",
    "parse_capacity",
    "parse_count",
    "parse_duration",
    "parse_time",
    "parse_user",
]

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([smhd]?)", re.A)
_TIME_FORMS = "epoch seconds or an ISO-8601 time such as 2026-12-01T10:00:00 (naive = UTC)"
_DURATION_FORMS = "seconds > 0, or a number with a unit s, m, h or d (e.g. 90s, 60m, 2h, 1d)"


class FieldError(ValueError):
    """A field holds a value of the wrong form; the message starts with the field name."""

    def __init__(self, field: str, expected: str, value: object) -> None:
        super().__init__(f"{field}: expected {expected}, got {value!r}")


class MissingField(FieldError):
    """A required field is absent or empty."""

    def __init__(self, field: str) -> None:
        ValueError.__init__(self, f"{field}: missing (the field is required)")


def _number(value: object) -> float | None:
    """``value`` as a finite float if it is a YAML/CSV number, else None (bools are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _epoch(moment: dt.datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def format_time(epoch: float) -> str:
    """An epoch time as ISO-8601 UTC for messages: 1577836800 -> ``2020-01-01T00:00:00Z``."""
    try:
        moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return repr(epoch)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(field: str, value: object) -> float:
    """Epoch seconds from a number, a numeric string, an ISO-8601 string or a YAML timestamp."""
    number = _number(value)
    if number is not None:
        if number < 0:
            raise FieldError(field, f"{_TIME_FORMS}, not negative", value)
        return number
    if isinstance(value, dt.datetime):
        return _epoch(value)
    if isinstance(value, dt.date):  # YAML turns a bare 2026-12-01 into a date
        return _epoch(dt.datetime(value.year, value.month, value.day))
    if isinstance(value, str):
        try:
            return _epoch(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise FieldError(field, _TIME_FORMS, value)


def parse_duration(field: str, value: object) -> float:
    """Seconds > 0 from a number or a string with a unit (``90s``, ``60m``, ``2h``, ``1d``)."""
    number = _number(value)
    if number is None and isinstance(value, str):
        match = _DURATION_RE.fullmatch(value.strip())
        if match is not None:
            number = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if number is None or not number > 0:
        raise FieldError(field, _DURATION_FORMS, value)
    return number


def parse_capacity(field: str, value: object) -> float:
    """GB > 0 from a number (GB) or a size string with a decimal unit (``500M``, ``2T``)."""
    number = _number(value)
    if number is not None:
        if number <= 0:
            raise FieldError(field, "a positive number of GB", value)
        return number
    if isinstance(value, str):
        try:
            return parse_size_gb(value)
        except ValueError as err:
            raise FieldError(field, "a size such as 200, 500M, 200G or 2T", value) from err
    raise FieldError(field, "a positive number of GB or a size such as 500M, 200G, 2T", value)


def parse_count(field: str, value: object, what: str = "a number >= 0") -> float:
    """A finite number >= 0 (e.g. bytes) from a number or a numeric string."""
    number = _number(value)
    if number is None or number < 0:
        raise FieldError(field, what, value)
    return number


def parse_user(field: str, value: object, default: str = "trace") -> str:
    """A user name: strings and integers (uids) are kept, empty or missing gives ``default``."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip() or default
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FieldError(field, "a user name", value)
