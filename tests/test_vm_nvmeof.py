"""Real-kernel NVMe/TCP tests: boot a throwaway QEMU guest (tests/vm/boot.sh) and run a
guest script there. One drives the backend module directly, one the three real scripts.

Needs the packages of tests/vm/ci-setup.sh (everything then runs as root inside the guest;
the kernel is cached in $STORALLOC_VM_CACHE, default /var/cache/storalloc-vm). Skips,
loudly, only when qemu-system-x86_64 is missing or cannot start.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.vmrun import print_kernel_proof, results, run_guest

pytestmark = pytest.mark.vm


def test_backend_on_a_real_kernel(tmp_path: Path) -> None:
    rc, log, share = run_guest(tmp_path, "guest_backend.sh")
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
    proof = print_kernel_proof(share)
    assert any("nvmet: creating nvm controller" in line for line in proof), proof


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
    assert (share / "nvme-list-attached.json").exists()
    assert any("nvmet: creating nvm controller" in line for line in print_kernel_proof(share))
