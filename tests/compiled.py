"""Whether the compiled core is built, for the tests that need it."""

from __future__ import annotations

import os

import pytest

from storalloc import accel


def need_build(what: str) -> None:
    """Skip without a current build, except where CI requires one (.ci/run sets
    STORALLOC_REQUIRE_COMPILED=1 once a compiler is in): there it fails."""
    if accel.active():
        return
    if os.environ.get("STORALLOC_REQUIRE_COMPILED") == "1":
        pytest.fail(f"{accel.status()}, and this run requires the compiled core")
    pytest.skip(f"{accel.status()}: {what}")
