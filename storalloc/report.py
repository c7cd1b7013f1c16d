"""Simulation report (placeholder until the report module lands)."""

from __future__ import annotations

from typing import Any


def build_report(scheduler: Any, finished: list) -> dict:
    return {"requests_count": len(finished)}
