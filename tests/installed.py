"""`pip install .` into a fresh venv, once per test session (it is slow): shared by the
packaging test and the README test, which both use the installed commands."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

from tests.procs import ROOT


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a venv where the checkout is pip-installed."""
    where = tmp_path_factory.mktemp("installed") / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    install = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(ROOT)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return where / "bin"
