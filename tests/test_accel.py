"""The optional compiled core (storalloc/accel.py): used only when it matches the sources,
never when switched off, and placing exactly as the Python sources do."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storalloc import accel
from tests.procs import ROOT

COMPILED_OFF = os.environ.get(accel.SWITCH) == "0"


def _need_build(what: str) -> None:
    """Skip without a current build, except where CI requires one (.ci/run sets
    STORALLOC_REQUIRE_COMPILED=1 once a compiler is in): there it fails."""
    if accel.active():
        return
    if os.environ.get("STORALLOC_REQUIRE_COMPILED") == "1":
        pytest.fail(f"{accel.status()}, and this run requires the compiled core")
    pytest.skip(f"{accel.status()}: {what}")


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    """accel looking at a build directory of the test's own; the cached answer is dropped
    before and after, so the rest of the run sees the real one again."""
    monkeypatch.setattr(accel, "BUILD", tmp_path)
    monkeypatch.setattr(accel, "MANIFEST", tmp_path / "manifest.json")
    monkeypatch.delenv(accel.SWITCH, raising=False)
    accel.active.cache_clear()
    yield tmp_path / "manifest.json"
    accel.active.cache_clear()


def _check(manifest_path: Path, manifest: object) -> tuple[bool, str]:
    manifest_path.write_text(json.dumps(manifest))
    accel.active.cache_clear()
    return accel.active(), accel.status()


def test_a_build_is_used_only_while_it_matches_the_sources(fake_build, monkeypatch):
    accel.active.cache_clear()
    assert not accel.active() and "not built" in accel.status()
    current = {"python": sys.implementation.cache_tag, "sources": accel._digests()}
    active, text = _check(fake_build, current)
    assert active and text == f"compiled core: in use ({len(current['sources'])} modules)"
    assert accel.package_path("storalloc.core") == [str(fake_build.parent / "core")]
    one_changed = json.loads(json.dumps(current))
    name = next(iter(one_changed["sources"]))
    one_changed["sources"][name] = "0" * 64
    active, text = _check(fake_build, one_changed)
    assert not active and "stale" in text
    assert accel.package_path("storalloc.core") == []
    one_missing = json.loads(json.dumps(current))
    del one_missing["sources"][name]
    assert not _check(fake_build, one_missing)[0]
    assert not _check(fake_build, {**current, "python": "cpython-27"})[0]
    assert not _check(fake_build, ["not", "a", "manifest"])[0]
    fake_build.write_text("{truncated")
    accel.active.cache_clear()
    assert not accel.active()
    assert _check(fake_build, current)[0]  # current again: now only the switch is off
    monkeypatch.setenv(accel.SWITCH, "0")
    accel.active.cache_clear()
    assert not accel.active() and "off" in accel.status()


def test_every_hot_module_is_compiled():
    names = set(accel.sources())
    assert {"storalloc.core.steps", "storalloc.core.capacity", "storalloc.core.scheduler",
            "storalloc.strategies.worst_case", "storalloc.sim.replay"} <= names  # fmt: skip
    assert not any(n.endswith("__init__") for n in names)
    assert all(path.is_file() for path in accel.sources().values())


def test_the_imported_modules_are_the_compiled_ones_exactly_when_active():
    if not COMPILED_OFF:
        _need_build("nothing compiled to check")
    for name, source in accel.sources().items():
        file = Path(importlib.import_module(name).__file__)
        if COMPILED_OFF:
            assert file == source, name
        else:
            assert file.parent.parent == accel.BUILD and file.suffix == ".so", name


def test_usage_and_a_missing_compiler_get_clear_answers(monkeypatch, capsys):
    assert accel.main(["rebuild"]) == 2
    assert "usage: python -m storalloc.accel build|status" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "Cython.Build", None)  # as if Cython were not installed
    assert accel.main(["build"]) == 1
    err = capsys.readouterr().err
    assert "cannot build" in err and "Cython" in err and "Python sources" in err


REPLAY = """
import hashlib, sys
sys.path.insert(0, "bench")
from workloads import ault14_site, trace
from storalloc.registry import make_strategy
from storalloc.sim.replay import new_simulation
import storalloc.core.steps
for strategy in ("worst_case", "best_bandwidth", "best_fit"):
    sim = new_simulation(ault14_site(2), make_strategy(strategy))
    sim.replay(trace(3000, 400, seed=7))
    jobs = sorted([*sim.finished, *sim.scheduler.jobs.values()], key=lambda j: j.id)
    rows = [(j.id, j.start, j.end, j.state.value, [(e.node, e.disk, e.size) for e in j.extents])
            for j in jobs]
    print(strategy, len(jobs), hashlib.sha256(repr(rows).encode()).hexdigest())
print(storalloc.core.steps.__file__.rsplit(".", 1)[1])
"""


@pytest.mark.skipif(COMPILED_OFF, reason="this run is the Python sources' own")
def test_compiled_and_python_replays_place_every_job_alike():
    _need_build("nothing compiled to compare")
    runs = {}
    for switch in ("1", "0"):
        done = subprocess.run([sys.executable, "-c", REPLAY], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, accel.SWITCH: switch},
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        *placements, suffix = done.stdout.split("\n")[:-1]
        runs[suffix] = placements
    assert set(runs) == {"so", "py"}  # one run of each, really
    assert len(runs["so"]) == 3 and runs["so"] == runs["py"]
