"""Name → "module:Class" tables for pluggable parts, and the loader for dotted paths."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

STRATEGIES: dict[str, str] = {
    "worst_case": "storalloc.strategies.worst_case:WorstCase",
    "best_bandwidth": "storalloc.strategies.best_bandwidth:BestBandwidth",
    "random": "storalloc.strategies.random_choice:RandomChoice",
    "round_robin": "storalloc.strategies.round_robin:RoundRobin",
    "worst_fit": "storalloc.strategies.worst_fit:WorstFit",
    "best_fit": "storalloc.strategies.best_fit:BestFit",
    "first_fit": "storalloc.strategies.first_fit:FirstFit",
}


BACKENDS: dict[str, str] = {
    "simulate": "storalloc.server.backends.simulate:SimulatedBackend",
    "nvmeof": "storalloc.server.backends.nvmeof:NvmeofBackend",
}


class PluginError(Exception):
    """A plug-in name or dotted path that cannot be loaded."""


def load(table: dict[str, str], spec: str, kind: str = "strategy") -> type:
    """Return the class named by a short name from `table` or by 'pkg.module:Class'."""
    target = table.get(spec, spec)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(
            f"unknown {kind} {spec!r}: expected one of {', '.join(sorted(table))} "
            "or 'pkg.module:Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"{kind} {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{kind} {spec!r}: module {module_name!r} has no {attr!r}") from None


def make_strategy(spec: str, options: Mapping[str, Any] | None = None, seed: int = 0) -> Any:
    """An instance of the strategy `spec` (name or 'pkg.module:Class'), built with the
    config's `strategy_options`; `seed` goes to strategies that take one."""
    cls = load(STRATEGIES, spec)
    kwargs = dict(options or {})
    if "seed" in inspect.signature(cls).parameters:
        kwargs.setdefault("seed", seed)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise PluginError(f"strategy_options do not fit {cls.__name__}: {exc}") from exc
