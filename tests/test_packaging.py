"""Storalloc as a site installs it: `pip install .` into a fresh venv, then the console
commands, run away from the checkout, with the shipped example configs; config discovery;
the Python version guard."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import storalloc
from storalloc.config.loader import ConfigError, find_config
from tests.procs import ROOT, WAIT, env

COMMANDS = ("storalloc-orchestrator", "storalloc-server", "storalloc-client",
            "storalloc-simulate")  # fmt: skip


@pytest.mark.slow
@pytest.mark.e2e
def test_pip_install_gives_working_commands(installed_venv, tmp_path):
    bin_dir = installed_venv
    away = tmp_path / "elsewhere"  # not the checkout: only the installed package is found
    away.mkdir()
    for command in COMMANDS:
        shown = subprocess.run([str(bin_dir / command), "--version"], cwd=away,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == f"{command} {storalloc.__version__}"
    _seed_scenario(bin_dir, away)


def _seed_scenario(bin_dir, cwd) -> None:
    """The seed's three commands, from the installed package and its shipped examples."""
    locate = "import storalloc; print(storalloc.examples_dir())"
    examples = subprocess.run([str(bin_dir / "python"), "-c", locate], cwd=cwd,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert examples.startswith(str(bin_dir.parent))
    orch = subprocess.Popen(
        [str(bin_dir / "storalloc-orchestrator"), "-c", f"{examples}/orchestrator/config.yml",
         "--client-endpoint", "tcp://127.0.0.1:*", "--server-endpoint", "tcp://127.0.0.1:*",
         "--print-endpoints"], cwd=cwd, stdout=subprocess.PIPE, text=True, env=env(),
    )  # fmt: skip
    server = None
    try:
        assert orch.stdout is not None
        fields = dict(x.split("=", 1) for x in orch.stdout.readline().split()[1:])
        server = subprocess.Popen(
            [str(bin_dir / "storalloc-server"), "-c", f"{examples}/server/config.yml",
             "-s", "ault14", "--simulate", "--orchestrator", fields["servers"]],
            cwd=cwd, stdout=subprocess.DEVNULL, env=env(),
        )  # fmt: skip
        granted = subprocess.run(
            [str(bin_dir / "storalloc-client"), "--orchestrator", fields["clients"], "-s", "200",
             "-t", "60", "--immediate=20"], cwd=cwd, capture_output=True, text=True,
            timeout=WAIT * 3, env=env(STORALLOC_CONF=f"{examples}/client/config.yml"),
        )  # fmt: skip
        assert granted.returncode == 0, granted.stderr
        assert "storalloc: Granted job allocation 0" in granted.stdout
    finally:
        for proc in (server, orch):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=WAIT)
        if orch.stdout:
            orch.stdout.close()


def test_config_is_found_as_slurm_finds_its_own(tmp_path):
    system = tmp_path / "etc"
    system.mkdir()
    (system / "client.yml").write_text("timeout: 1\n")
    look = {"STORALLOC_CONF_DIR": str(system)}
    assert find_config("client", "given.yml", {**look, "STORALLOC_CONF": "env.yml"}) == \
        "given.yml"
    assert find_config("client", None, {**look, "STORALLOC_CONF": "env.yml"}) == "env.yml"
    assert find_config("client", None, look) == str(system / "client.yml")
    # A directory in STORALLOC_CONF serves every role of a host.
    assert find_config("server", None, {"STORALLOC_CONF": str(system)}) == \
        str(system / "server.yml")
    with pytest.raises(ConfigError, match=r"no server configuration: give -c FILE, set "
                       r"STORALLOC_CONF, or create .*/server.yml"):  # fmt: skip
        find_config("server", None, look)


def test_missing_config_is_a_clear_error_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "client.py"), "--list"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, env=env(STORALLOC_CONF_DIR=str(tmp_path), STORALLOC_CONF=""),
    )  # fmt: skip
    assert result.returncode == 1
    assert "storalloc: error: no client configuration: give -c FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_old_python_is_refused_with_a_clear_message():
    assert storalloc.check_python((3, 11, 0)) is None
    message = storalloc.check_python((3, 10, 12))
    assert message is not None
    assert message.startswith("storalloc: error: Python 3.11 or newer is needed, this is "
                              "Python 3.10")  # fmt: skip


def _old_pythons() -> list[str]:
    """Interpreters older than 3.11 on this machine (PATH, pyenv): none in a plain CI box."""
    import glob
    import shutil

    found = [shutil.which(f"python3.{minor}") for minor in range(6, 11)]
    found += glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python"))
    old = []
    for path in filter(None, found):
        probe = subprocess.run([path, "-c", "import sys; print(sys.version_info[0] * 100 + "
                                "sys.version_info[1])"], capture_output=True, text=True)
        if probe.returncode == 0 and int(probe.stdout) < 311:
            old.append(path)
    return sorted(set(old))


@pytest.mark.parametrize("script", ["client.py", "orchestrator.py", "server.py"])
def test_old_interpreters_get_the_message_not_a_traceback(script):
    old = _old_pythons()
    if not old:
        pytest.skip("no Python older than 3.11 on this machine; the guard's function is "
                    "tested above")  # fmt: skip
    for python in old:
        result = subprocess.run([python, script, "--version"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert result.returncode == 1, (python, result.stderr)
        assert result.stderr.startswith("storalloc: error: Python 3.11 or newer is needed"), \
            (python, result.stderr)
