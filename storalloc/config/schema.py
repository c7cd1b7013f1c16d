"""Generic config machinery: safe YAML reading and declarative mapping → dataclass checks."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import yaml


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; the message names file and key."""


class Invalid(Exception):
    """A value failed validation at ``key``; the loader prefixes the file name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def show(value: object, limit: int = 80) -> str:
    """``repr`` of a bad value, shortened so a huge mapping cannot flood the error."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expected(key: str, what: str, got: object) -> Invalid:
    """The standard ``key: expected WHAT, got VALUE`` error."""
    return Invalid(key, f"expected {what}, got {show(got)}")


def join(prefix: str, name: str) -> str:
    """Key path of ``name`` inside ``prefix`` (``""`` is the top level)."""
    return f"{prefix}.{name}" if prefix else name


class Check(Protocol):
    """Anything that validates and converts one value found at a key path."""

    expected: str

    def __call__(self, value: object, key: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Leaf:
    """A scalar check: a predicate plus an optional conversion."""

    expected: str
    test: Callable[[object], bool]
    convert: Callable[[Any], object] = lambda value: value

    def __call__(self, value: object, key: str) -> Any:
        if not self.test(value):
            raise expected(key, self.expected, value)
        return self.convert(value)


@dataclass(frozen=True, slots=True)
class Nullable:
    """Accept ``null`` (kept as ``None``) or whatever ``inner`` accepts."""

    inner: Check

    @property
    def expected(self) -> str:
        return f"{self.inner.expected} or null"

    def __call__(self, value: object, key: str) -> Any:
        if value is None:
            return None
        try:
            return self.inner(value, key)
        except Invalid as exc:
            if exc.key != key:  # a nested key failed: its own message is more precise
                raise
            raise expected(key, self.expected, value) from None


@dataclass(frozen=True, slots=True)
class ListOf:
    """A YAML sequence whose items all pass ``item``; converted to a tuple."""

    item: Check
    expected: str
    min_len: int = 0

    def __call__(self, value: object, key: str) -> tuple[Any, ...]:
        if not isinstance(value, list) or len(value) < self.min_len:
            raise expected(key, self.expected, value)
        return tuple(self.item(v, f"{key}[{i}]") for i, v in enumerate(value))


Finish = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True, slots=True)
class Record:
    """A YAML mapping turned into dataclass ``cls``.

    ``checks`` maps every accepted key to its check.  Defaults come from the
    dataclass itself (so they are written once), or from ``defaults`` where the
    dataclass cannot have one (field order).  ``finish`` runs cross-key checks
    on the converted values and may fill in derived ones.
    """

    cls: type
    checks: Mapping[str, Check]
    defaults: Mapping[str, object] = dataclasses.field(default_factory=dict)
    finish: Finish | None = None
    expected: str = "a mapping of keys"

    def __post_init__(self) -> None:
        # Catch schema/dataclass drift at import time rather than at a user's first typo.
        names = {f.name for f in dataclasses.fields(self.cls)}
        if stray := set(self.checks) - names:
            raise TypeError(f"{self.cls.__name__} has no field(s) {sorted(stray)}")

    def default(self, name: str) -> object:
        """The default of key ``name``, or ``dataclasses.MISSING`` if it is required."""
        if name in self.defaults:
            return self.defaults[name]
        field = next(f for f in dataclasses.fields(self.cls) if f.name == name)
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        return field.default

    def __call__(self, value: object, key: str) -> Any:
        if not isinstance(value, dict):
            raise expected(key or "(top level)", self.expected, value)
        data: dict[object, object] = value
        self.reject_unknown(data, key)
        values: dict[str, Any] = {}
        for name, check in self.checks.items():
            where = join(key, name)
            if name in data:
                values[name] = check(data[name], where)
            elif (default := self.default(name)) is dataclasses.MISSING:
                raise Invalid(where, f"missing required key, expected {check.expected}")
            else:
                values[name] = default
        if self.finish is not None:
            self.finish(values, key)
        return self.cls(**values)

    def reject_unknown(self, data: dict[object, object], key: str) -> None:
        """Refuse keys the schema does not know, suggesting the closest valid one."""
        for name in data:
            if name in self.checks:
                continue
            valid = sorted(self.checks)
            hint = difflib.get_close_matches(str(name), valid, n=1)
            guess = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise Invalid(
                join(key, str(name)), f"unknown key{guess}; valid keys: {', '.join(valid)}"
            )


def reject_duplicates(
    items: tuple[Any, ...], attr: str, key: str, keep: Callable[[Any], bool] = lambda _: True
) -> None:
    """Refuse two ``items`` sharing ``attr``; the error points at the second one."""
    first: dict[object, int] = {}
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if not keep(item):
            continue
        if value in first:
            what = f"a {attr} not already used by {key}[{first[value]}]"
            raise expected(f"{key}[{i}].{attr}", what, value)
        first[value] = i


# ---- reading YAML --------------------------------------------------------------

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicate keys (YAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if (key_node.tag, key_node.value) in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads `1e9` (no dot) as a string; users mean the number, as in YAML 1.2.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: str | os.PathLike[str]) -> object:
    """Parse the YAML file ``path``; I/O and syntax problems raise ``ConfigError`` naming it."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError(f"{path}: cannot read file: {reason}") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
