"""Name → "module:Class" tables for pluggable parts, and the loader for dotted paths."""

from __future__ import annotations

import importlib

STRATEGIES: dict[str, str] = {
    "worst_case": "storalloc.strategies.worst_case:WorstCase",
    "best_bandwidth": "storalloc.strategies.best_bandwidth:BestBandwidth",
    "random": "storalloc.strategies.random_choice:RandomChoice",
    "round_robin": "storalloc.strategies.round_robin:RoundRobin",
    "worst_fit": "storalloc.strategies.worst_fit:WorstFit",
    "best_fit": "storalloc.strategies.best_fit:BestFit",
    "first_fit": "storalloc.strategies.first_fit:FirstFit",
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
