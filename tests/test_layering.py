"""Imports flow one way: the scheduling core loads no ZeroMQ, no wire protocol and no front
end, so the simulator runs the orchestrator's own code."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import storalloc.core
import storalloc.strategies
from tests.procs import ROOT

CORE = [
    *[f"{pkg.__name__}.{m.name}" for pkg in (storalloc.core, storalloc.strategies)
      for m in pkgutil.iter_modules(pkg.__path__)],
    "storalloc.sim.replay", "storalloc.sim.report", "storalloc.registry",
]
FORBIDDEN = ("zmq", "storalloc.cli", "storalloc.wire", "storalloc.orchestrator", "storalloc.server",
             "storalloc.client", "orchestrator", "server", "client")


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_neither_zmq_nor_the_wire_nor_the_front_ends(module):
    code = (
        f"import sys, {module}; forbidden = {FORBIDDEN!r}; "
        "bad = sorted(m for m in sys.modules if m in forbidden or "
        "any(m.startswith(f + '.') for f in forbidden)); print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"


def test_the_core_list_covers_the_lifecycle_modules():
    assert {"storalloc.core.lifecycle", "storalloc.core.scheduler",
            "storalloc.core.planning"} <= set(CORE)
