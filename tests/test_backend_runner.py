"""The command runner: argv only, timeouts that kill the process group, clear errors; dry run."""

from __future__ import annotations

import sys
import time

import pytest

from storalloc.server.runner import CommandError, DryRunRunner, Runner, tail

PY = sys.executable


def test_run_returns_output_and_code() -> None:
    r = Runner(timeout=20).run(
        [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"]
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


def test_arguments_are_not_interpreted_by_a_shell() -> None:
    r = Runner(timeout=20).run([PY, "-c", "import sys; print(sys.argv[1])", "$HOME; rm -rf /"])
    assert r.stdout == "$HOME; rm -rf /\n"


def test_nonzero_exit_raises_with_command_code_and_stderr_tail() -> None:
    code = "import sys; [print(f'line {i}', file=sys.stderr) for i in range(20)]; sys.exit(3)"
    with pytest.raises(CommandError) as info:
        Runner(timeout=20).run([PY, "-c", code])
    msg = str(info.value)
    assert "exited with code 3" in msg
    assert "line 19" in msg
    assert "line 0 " not in msg and "line 10" not in msg
    assert info.value.returncode == 3


def test_check_false_returns_the_failure() -> None:
    r = Runner(timeout=20).run([PY, "-c", "raise SystemExit(4)"], check=False)
    assert r.returncode == 4


def test_missing_program_names_the_package() -> None:
    with pytest.raises(CommandError, match=r"nvme not found on PATH \(install nvme-cli\)"):
        Runner(timeout=20, env={"PATH": "/nonexistent"}).run(["nvme", "list"])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_timeout_kills_the_whole_process_group(tmp_path) -> None:
    # The grandchild holds our stdout open: unless the whole group dies, communicate() hangs.
    pidfile = tmp_path / "pid"
    grandchild = (
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(3600)"
    )
    code = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]); time.sleep(3600)"
    )
    with pytest.raises(CommandError, match=r"timed out after 1s") as info:
        Runner(timeout=1).run([PY, "-c", code])
    assert info.value.returncode is None
    pid = int(pidfile.read_text())
    for _ in range(100):  # SIGKILL is delivered asynchronously; wait for it, bounded
        if not _alive(pid):
            break
        time.sleep(0.05)
    assert not _alive(pid)


def test_input_is_fed_to_stdin() -> None:
    r = Runner(timeout=20).run([PY, "-c", "print(input()[::-1])"], input="abc\n")
    assert r.stdout == "cba\n"


def test_commands_run_in_the_c_locale() -> None:
    r = Runner(timeout=20).run([PY, "-c", "import os; print(os.environ['LC_ALL'])"])
    assert r.stdout == "C\n"


def test_bad_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        Runner(timeout=0)


def test_dry_run_prints_shell_quoted_argv_and_runs_nothing(tmp_path) -> None:
    said: list[str] = []
    marker = tmp_path / "ran"
    r = DryRunRunner(said.append).run(["touch", str(marker), "a b"])
    assert said == [f"dry-run: touch {marker} 'a b'"]
    assert r.returncode == 0
    assert not marker.exists()


def test_tail_keeps_the_last_lines() -> None:
    assert tail("a\n\nb\nc\n", lines=2) == "b | c"
    assert tail("x" * 1000, chars=10) == "..." + "x" * 10
