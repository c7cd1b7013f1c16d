"""The optional compiled build of the hot modules: the scheduling core, the strategies and
the one-process replay, compiled unchanged from their Python sources by Cython.

    python -m storalloc.accel build     # make test and make bench run it
    python -m storalloc.accel status

The build writes extension modules under storalloc/_compiled/, with a manifest of the
sources they were compiled from. A package below puts that directory first on its
`__path__` only if every source still matches the manifest, for this interpreter, and
STORALLOC_COMPILED is not 0: a stale or partial build is never imported. Without one,
everything runs from the Python sources with the same results (the tests run both ways);
the build only makes replays and placement faster (doc/performance.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
BUILD = PACKAGE / "_compiled"
MANIFEST = BUILD / "manifest.json"
#: Set to 0 to run from the Python sources even where a current build exists.
SWITCH = "STORALLOC_COMPILED"
#: Compiled subpackages, and their modules (None: all but __init__).
MODULES: dict[str, tuple[str, ...] | None] = {"core": None, "strategies": None,
                                              "sim": ("replay",)}  # fmt: skip
#: Directives that keep compiled code's behaviour that of the sources: annotations are
#: hints, not C types (an int passed as a float stays an int, as in Python).
DIRECTIVES = {"language_level": 3, "annotation_typing": False}


def sources() -> dict[str, Path]:
    """Dotted name -> source file of every module the build compiles."""
    found = {}
    for package, names in MODULES.items():
        folder = PACKAGE / package
        paths = ([folder / f"{n}.py" for n in names] if names is not None
                 else sorted(p for p in [*folder.glob("*.py"), *folder.glob("*.pyx")]
                             if p.name != "__init__.py"))
        for path in paths:
            found[f"storalloc.{package}.{path.stem}"] = path
    return found


def _digests() -> dict[str, str]:
    """sha256 of every source, and of the files the typed ones include."""
    files = dict(sources())
    for package in MODULES:
        for path in (PACKAGE / package).glob("*.pxi"):
            files[f"storalloc/{package}/{path.name}"] = path
    return {name: hashlib.sha256(path.read_bytes()).hexdigest()
            for name, path in files.items()}  # fmt: skip


@functools.cache
def active() -> bool:
    """Whether this process imports the compiled build (checked once)."""
    if os.environ.get(SWITCH, "1") == "0":
        return False
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("python") == sys.implementation.cache_tag
            and manifest.get("sources") == _digests())  # fmt: skip


def package_path(package: str) -> list[str]:
    """Where `package` (storalloc.core, ...) finds its compiled modules first: nothing
    unless the build is active."""
    return [str(BUILD / package.rsplit(".", 1)[1])] if active() else []


def status() -> str:
    if os.environ.get(SWITCH, "1") == "0":
        return f"compiled core: off ({SWITCH}=0)"
    if not MANIFEST.exists():
        return "compiled core: not built (python -m storalloc.accel build)"
    if not active():
        return "compiled core: stale, not used (sources changed since the build)"
    return f"compiled core: in use ({len(sources())} modules)"


def build(jobs: int = os.cpu_count() or 1) -> None:
    """Compile every module of `sources()` into BUILD, replacing it whole, then write the
    manifest (last: an interrupted build leaves no manifest, so nothing is imported).
    Raises ImportError without Cython or setuptools, and whatever the compiler raises."""
    import tempfile
    import time

    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    digests = _digests()  # before compiling: a source edited meanwhile fails the check
    began = time.monotonic()
    print(f"compiling {len(sources())} modules with Cython ({jobs} jobs) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="storalloc-accel-") as tmp:
        work = Path(tmp)
        exts = [Extension(name, [str(path)]) for name, path in sources().items()]
        # Not quiet: its line per module is the build's progress.
        exts = cythonize(exts, build_dir=str(work / "c"), compiler_directives=DIRECTIVES,
                         nthreads=jobs)  # fmt: skip
        dist = Distribution({"ext_modules": exts})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib, cmd.build_temp = str(work / "lib"), str(work / "tmp")
        cmd.parallel = jobs
        cmd.ensure_finalized()
        cmd.run()
        staged = work / "staged"
        for ext in exts:
            built = Path(cmd.get_ext_fullpath(ext.name))
            target = staged / ext.name.split(".")[1] / built.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, target)
        shutil.rmtree(BUILD, ignore_errors=True)
        shutil.copytree(staged, BUILD)
    manifest = {"python": sys.implementation.cache_tag, "sources": digests}
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"compiled core built in {time.monotonic() - began:.0f} s: {BUILD}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["status"]:
        print(status())
        return 0
    if args != ["build"]:
        print("usage: python -m storalloc.accel build|status", file=sys.stderr)
        return 2
    try:
        build()
    except ImportError as exc:
        print(f"storalloc.accel: cannot build: {exc}; everything runs from the Python "
              "sources", file=sys.stderr)  # fmt: skip
        return 1
    except Exception as exc:  # the compiler's errors: name them, leave no build behind
        shutil.rmtree(BUILD, ignore_errors=True)
        print(f"storalloc.accel: build failed: {exc}; everything runs from the Python "
              "sources", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
