"""Every command of README.md's `shell` blocks, run for real.

The seed's three commands run as processes (on free ports: the sandbox's configs point
there) and print what the README shows; the usage examples run against such a site; the
install block runs in a fresh venv; `make demo` runs. `make test` is only dry-run
(`make -n test`): running it would start this very suite again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import AULT14, CLIENT_CFG, ROOT, WAIT, Proc, start_orchestrator

pytestmark = pytest.mark.e2e

README = (ROOT / "README.md").read_text()
SEED = ("./orchestrator.py ", "./server.py ", "./client.py -c config/client/config.yml -s 200 "
        "-t 60 -v")  # fmt: skip
NQN_TAIL = re.compile(r"(j\d+-p\d+-)[0-9a-f]{6}")


def shell_blocks() -> list[str]:
    return re.findall(r"^``` ?shell\n(.*?)^```", README, re.M | re.S)


def commands() -> list[str]:
    """Commands of blocks without prompts (one per line)."""
    found = []
    for block in shell_blocks():
        if not block.startswith("$ "):
            found += [line for line in block.splitlines() if line.strip()]
    return found


def shown_outputs() -> dict[str, list[str]]:
    """`$ command` blocks: the command and the lines the README shows after it."""
    shown: dict[str, list[str]] = {}
    for block in shell_blocks():
        if block.startswith("$ "):
            first, *rest = block.rstrip("\n").split("\n")
            shown[first[2:]] = rest
    return shown


def test_the_readme_has_the_blocks_this_test_knows():
    cmds = commands()
    assert cmds[:2] == ["make demo   # creates .venv, runs the scenario below end to end, "
                        "stops every process",
                        "make test   # creates .venv with the test tools, runs ruff and the "
                        "whole test suite"]  # fmt: skip
    every = set(cmds) | set(shown_outputs())
    for cmd in every:
        assert (cmd.startswith(("make ", "python3 -m pip install", "storalloc-", *SEED))
                or "./client.py" in cmd), f"README command not covered by this test: {cmd}"


def test_make_demo_and_make_test():
    demo = subprocess.run(["make", "demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "storalloc: Granted job allocation 0" in demo.stdout
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and "pytest" in dry.stdout


def test_install_block(installed_venv, tmp_path):
    install = [c for c in commands() if c.startswith(("python3 -m pip", "storalloc-"))]
    assert install == ["python3 -m pip install .", "storalloc-client --version"]
    path = f"{installed_venv}{os.pathsep}{os.environ['PATH']}"
    shown = subprocess.run(install[1], shell=True, cwd=tmp_path, capture_output=True,
                           text=True, env={**os.environ, "PATH": path})  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.startswith("storalloc-client "), shown


def _site_config(tmp_path: Path, clients: str) -> Path:
    cfg = tmp_path / "client.yml"
    cfg.write_text(f"orchestrator: {clients}\ntimeout: 5\nretry: 5\n")
    return cfg


def _run(cmd: str, cfg: Path, user: str = "alice") -> subprocess.CompletedProcess[str]:
    """A README line as a shell runs it from the checkout, with our venv's python3 first on
    PATH and the sandbox's client config in place of the shipped one."""
    line = cmd.replace("config/client/config.yml", str(cfg))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "NO_COLOR": "1", "STORALLOC_USER": user}
    return subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=ROOT,
                          capture_output=True, text=True, timeout=WAIT * 3, env=env)  # fmt: skip


def test_seed_commands_print_what_the_readme_shows(tmp_path):
    shown = shown_outputs()
    orch_cmd, server_cmd, client_cmd = (next(c for c in shown if c.startswith(s)) for s in SEED)
    orch, clients, servers = start_orchestrator(config=ROOT / orch_cmd.split()[2])
    server = Proc([*server_cmd[2:].split(), "--orchestrator", servers])
    try:
        server.wait_for("Registering to the orchestrator")
        orch.wait_for("Server registered")
        client = _run(client_cmd, _site_config(tmp_path, clients))
        assert client.returncode == 0, client.stderr
        server.wait_for("storalloc: {")
        orch.wait_for("└")
    finally:
        server.stop()
        orch.stop()

    def same(lines: list[str]) -> list[str]:
        return [NQN_TAIL.sub(r"\1XXXXXX", x).replace(servers, "tcp://127.0.0.1:35001")
                for x in lines]  # fmt: skip

    assert same(client.stdout.splitlines()) == same(shown[client_cmd])
    assert same(server.lines) == same(shown[server_cmd])
    assert same(orch.lines[1:]) == same(shown[orch_cmd])  # after --print-endpoints' line


def test_usage_examples_run_as_shown(tmp_path):
    examples = [c for c in commands() if "./client.py" in c]
    assert len(examples) >= 8
    orch, clients, servers = start_orchestrator(verbose=False)
    server = Proc(["server.py", "-c", "config/server/config.yml", "-s", str(AULT14),
                   "--simulate", "-v", "--orchestrator", servers])  # fmt: skip
    cfg = _site_config(tmp_path, clients)
    try:
        server.wait_for("Registering to the orchestrator")
        for cmd in examples:
            result = _run(cmd, cfg)
            assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr
            if "-- sh -c" in cmd:
                assert re.search(r"^job 1 on nqn\.\S+:j1-p0-", result.stdout, re.M), result
    finally:
        server.stop()
        orch.stop()
    assert CLIENT_CFG.exists()  # the shipped config was only ever read, never changed
