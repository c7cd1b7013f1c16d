"""Imports flow one way: the scheduling core loads no ZeroMQ and no front end."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.procs import ROOT

CORE = [
    "storalloc.core.scheduler", "storalloc.core.capacity", "storalloc.core.cluster",
    "storalloc.core.jobs",
    "storalloc.sim.replay", "storalloc.sim.report", "storalloc.registry",
    *[f"storalloc.strategies.{m}" for m in ("worst_case", "best_bandwidth", "random_choice",
                                            "round_robin", "worst_fit", "best_fit",
                                            "first_fit")],
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_neither_zmq_nor_the_front_ends(module):
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m == 'zmq' or m.startswith('storalloc.cli')"
        " or m in ('orchestrator', 'server', 'client')); print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"
