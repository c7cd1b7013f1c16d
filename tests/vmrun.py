"""Running a guest script in a throwaway QEMU VM (tests/vm/boot.sh) from pytest, and keeping
the evidence: the guest's log, its kernel log and `nvme list -o json` stay in the test's share
directory, and the kernel lines that prove nvmet / nvme-tcp did the work are printed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOOT = REPO / "tests" / "vm" / "boot.sh"
QEMU_START_FAILURES = ("could not initialize", "failed to initialize", "Could not access KVM")
#: Kernel messages that only a real target / host stack prints (nvmet, nvme-tcp, auth).
KERNEL_PROOF = re.compile(
    r"nvmet: (?:creating|adding|Created)|nvmet_tcp: enabling port|nvme nvme\d+: "
    r"(?:new ctrl|creating|mapped|qid 0: authenticated|qid 0: (?:error|authentication))|"
    r"nvme nvme\d+: Removing ctrl|nvmet: host .* (?:failed|not allowed)|"
    r"nvme_fabrics: .*(?:error|failed)|Failed to write to /dev/nvme-fabrics",
    re.I,
)


def loud_skip(why: str) -> None:
    banner = f"VM TEST NOT RUN: {why}"
    sys.stderr.write(f"\n{'!' * len(banner)}\n{banner}\n{'!' * len(banner)}\n")
    pytest.skip(banner)


def _hidden_by_guest_tmpfs(path: str) -> bool:
    # The guest mounts empty tmpfs on /tmp and /run: a venv there must be shared on its own.
    return path.startswith(("/tmp/", "/run/"))


def run_guest(tmp_path: Path, guest: str, kernel: str | None = None) -> tuple[int, str, Path]:
    """Boot the VM with tests/vm/<guest>; return (exit code, guest log, share dir)."""
    if shutil.which("qemu-system-x86_64") is None:
        loud_skip("qemu-system-x86_64 is not installed (run tests/vm/ci-setup.sh as root)")
    share = tmp_path / "share"
    share.mkdir()
    # The guest sees the host's / read-only, so this python and this checkout are there.
    (share / "run.sh").write_text(
        f"export REPO='{REPO}' PY='{sys.executable}'\n. \"$REPO/tests/vm/{guest}\"\n"
    )
    env = dict(os.environ)
    if _hidden_by_guest_tmpfs(sys.prefix):
        env["STORALLOC_VM_EXTRA"] = sys.prefix
    if kernel:
        env["STORALLOC_VM_KERNEL"] = kernel
    start = time.monotonic()
    proc = subprocess.run(["sh", str(BOOT), str(share), "run.sh"], capture_output=True,
                          text=True, timeout=1500, env=env)  # fmt: skip
    took = time.monotonic() - start
    log = _read(share / "guest.log")
    console = _read(share / "console.log")
    print(f"boot.sh {guest}: exit {proc.returncode} after {took:.1f}s\n{proc.stderr}{log}")
    if proc.returncode == 125 and not log and any(s in console for s in QEMU_START_FAILURES):
        loud_skip(f"qemu-system-x86_64 cannot start: {console.strip()[-300:]}")
    # 127 from boot.sh itself means missing tools; from the guest script (guest.rc written),
    # it is a command missing inside the guest: a failure, not a reason to skip.
    assert not (proc.returncode == 127 and not (share / "guest.rc").exists()), (
        f"VM tools missing: {proc.stderr}"
    )
    print_kernel_proof(share)
    return proc.returncode, log, share


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def print_kernel_proof(share: Path) -> list[str]:
    """Print (and return) the kernel log lines showing nvmet / nvme-tcp at work."""
    lines = [ln for ln in _read(share / "kernel.log").splitlines() if KERNEL_PROOF.search(ln)]
    print(f"--- kernel evidence ({share / 'kernel.log'}), {len(lines)} lines:")
    print("\n".join(lines[:60]))
    for listing in sorted(share.glob("nvme-list*.json")):
        print(f"--- {listing}:\n{_read(listing)[:1500]}")
    return lines


def results(log: str) -> dict[str, str]:
    """`RESULT name status...` lines of the guest log, as {name: status...}."""
    return dict(re.findall(r"^RESULT (\S+) (.*)$", log, flags=re.M))
