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
from tests.compiled import need_build
from tests.procs import ROOT

COMPILED_OFF = os.environ.get(accel.SWITCH) == "0"


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
    assert active and text == f"compiled core: in use ({len(accel.sources())} modules)"
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
            "storalloc.strategies.worst_case", "storalloc.sim.replay",
            "storalloc.core.typed_steps", "storalloc.core.typed_overlaps"} <= names  # fmt: skip
    assert not any(n.endswith("__init__") for n in names)
    assert all(path.is_file() for path in accel.sources().values())


def test_the_imported_modules_are_the_compiled_ones_exactly_when_active():
    if not COMPILED_OFF:
        need_build("nothing compiled to check")
    for name, source in accel.sources().items():
        if COMPILED_OFF and source.suffix == ".pyx":  # the typed twins exist compiled only
            with pytest.raises(ImportError):
                importlib.import_module(name)
            continue
        file = Path(importlib.import_module(name).__file__)
        if COMPILED_OFF:
            assert file == source, name
        else:
            assert file.parent.parent == accel.BUILD and file.suffix == ".so", name
    from storalloc.core import capacity

    twins = {capacity.BlockSteps.__module__, capacity.OverlapIndex.__module__}
    expected = {"storalloc.core.steps", "storalloc.core.overlaps"}
    assert twins == (expected if COMPILED_OFF else {f"storalloc.core.typed_{n.rsplit('.', 1)[1]}"
                                                    for n in expected})  # fmt: skip


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
from storalloc.core import capacity
for strategy in ("worst_case", "best_bandwidth", "best_fit"):
    sim = new_simulation(ault14_site(2), make_strategy(strategy))
    sim.replay(trace(3000, 400, seed=7))
    jobs = sorted([*sim.finished, *sim.scheduler.jobs.values()], key=lambda j: j.id)
    rows = [(j.id, j.start, j.end, j.state.value, [(e.node, e.disk, e.size) for e in j.extents])
            for j in jobs]
    print(strategy, len(jobs), hashlib.sha256(repr(rows).encode()).hexdigest())
print(capacity.BlockSteps.__module__, capacity.__file__.rsplit(".", 1)[1])
"""


@pytest.mark.skipif(COMPILED_OFF, reason="this run is the Python sources' own")
def test_compiled_and_python_replays_place_every_job_alike():
    need_build("nothing compiled to compare")
    runs = {}
    for switch in ("1", "0"):
        done = subprocess.run([sys.executable, "-c", REPLAY], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, accel.SWITCH: switch},
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        *placements, suffix = done.stdout.split("\n")[:-1]
        runs[suffix] = placements
    # One run of each, really: the typed twins compiled, the sources' own structures not.
    assert set(runs) == {"storalloc.core.typed_steps so", "storalloc.core.steps py"}
    compiled, sources = runs.values()
    assert len(compiled) == 3 and compiled == sources
