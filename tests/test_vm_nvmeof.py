"""Real-kernel NVMe/TCP tests: boot a throwaway QEMU guest (tests/vm/boot.sh) and run a
guest script there. One drives the backend module directly, one the three real scripts.

Needs the packages of tests/vm/ci-setup.sh (everything then runs as root inside the guest;
the kernel is cached in $STORALLOC_VM_CACHE, default /var/cache/storalloc-vm). Skips,
loudly, only when qemu-system-x86_64 is missing or cannot start.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[1]
BOOT = REPO / "tests" / "vm" / "boot.sh"
QEMU_START_FAILURES = ("could not initialize", "failed to initialize", "Could not access KVM")


def _loud_skip(why: str) -> None:
    banner = f"VM TEST NOT RUN: {why}"
    sys.stderr.write(f"\n{'!' * len(banner)}\n{banner}\n{'!' * len(banner)}\n")
    pytest.skip(banner)


def run_guest(tmp_path: Path, guest: str) -> tuple[int, str, Path]:
    """Boot the VM with tests/vm/<guest>; return (exit code, guest log, share dir)."""
    if shutil.which("qemu-system-x86_64") is None:
        _loud_skip("qemu-system-x86_64 is not installed (run tests/vm/ci-setup.sh as root)")
    share = tmp_path / "share"
    share.mkdir()
    # The guest sees the host's / read-only, so this python and this checkout are there.
    (share / "run.sh").write_text(
        f"export REPO='{REPO}' PY='{sys.executable}'\n. \"$REPO/tests/vm/{guest}\"\n"
    )
    start = time.monotonic()
    proc = subprocess.run(
        ["sh", str(BOOT), str(share), "run.sh"], capture_output=True, text=True, timeout=1200
    )
    took = time.monotonic() - start
    log = (share / "guest.log").read_text() if (share / "guest.log").exists() else ""
    console = (share / "console.log").read_text() if (share / "console.log").exists() else ""
    print(f"boot.sh {guest}: exit {proc.returncode} after {took:.1f}s\n{proc.stderr}{log}")
    if proc.returncode == 125 and not log and any(s in console for s in QEMU_START_FAILURES):
        _loud_skip(f"qemu-system-x86_64 cannot start: {console.strip()[-300:]}")
    assert proc.returncode != 127, f"VM tools missing: {proc.stderr}"
    return proc.returncode, log, share


def results(log: str) -> dict[str, str]:
    """`RESULT name status...` lines of the guest log, as {name: status...}."""
    return dict(re.findall(r"^RESULT (\S+) (.*)$", log, flags=re.M))


def test_backend_on_a_real_kernel(tmp_path: Path) -> None:
    rc, log, _ = run_guest(tmp_path, "guest_backend.sh")
    got = results(log)
    assert got.get("modules") == "ok", log
    for case in ("tmpfs-file", "ext4-file", "reset"):
        assert got.get(case) == "ok", f"{case}: {got.get(case)}\n{log}"
    if shutil.which("vgcreate"):
        assert got.get("lvm") == "ok", log
    assert "INFO tmpfs-file backing=/tmp/tmpfs-disk/storalloc/" in log
    assert re.search(r"INFO tmpfs-file backing=\S+ buffered_io=1", log)  # tmpfs: no O_DIRECT
    assert re.search(r"INFO ext4-file backing=\S+ buffered_io=0", log)
    assert "intruder refused" in log
    assert rc == 0, log


def test_three_scripts_end_to_end(tmp_path: Path) -> None:
    rc, log, share = run_guest(tmp_path, "guest_e2e.sh")
    got = results(log)
    logs = "".join(
        f"\n--- {p.name}\n{p.read_text()}"
        for p in sorted(share.glob("*.log"))
        if p.name not in ("guest.log", "console.log")
    )
    for step in (
        "modules",
        "e2e-registered",
        "e2e-attach",
        "e2e-data",
        "e2e-release",
        "e2e-teardown",
    ):
        assert got.get(step, "").startswith("ok"), f"{step}: {got.get(step)}\n{log}{logs}"
    assert re.search(r"job \d+ attached as /dev/nvme\d+n\d+", log)
    assert rc == 0, log + logs
