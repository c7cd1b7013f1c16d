"""Issue 13 on a real kernel: no data crosses tenants (wipe before reuse), per-lease
DH-HMAC-CHAP, re-export after the kernel lost its target, attach with multipath off.

One guest boot runs all cases (tests/vm/guest_hardening.sh). Debian 12's own 6.1 kernel has
no NVMe in-band authentication (CONFIG_NVME_TARGET_AUTH unset), so this module boots the
bookworm 6.12 kernel (metapackage linux-image-6.12-amd64), which has it (and NVMe/TCP TLS);
override with STORALLOC_VM_HARDENING_KERNEL. Skips, loudly, only when QEMU is missing or
cannot start.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.vmrun import print_kernel_proof, results, run_guest

pytestmark = pytest.mark.vm

KERNEL = os.environ.get("STORALLOC_VM_HARDENING_KERNEL", "linux-image-6.12-amd64")


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    return run_guest(tmp_path_factory.mktemp("hardening"), "guest_hardening.sh", kernel=KERNEL)


def test_multipath_was_off_for_every_attach(guest: tuple[int, str, Path]) -> None:
    _, log, _ = guest
    assert "INFO nvme_core.multipath=N" in log, log
    assert results(log).get("modules") == "ok", log


def test_no_data_crosses_tenants(guest: tuple[int, str, Path]) -> None:
    _, log, _ = guest
    assert results(log).get("wipe") == "ok", log
    # The control shows the leak is real without the wipe, so the check can fail.
    assert re.search(r"INFO without wipe tenant B reads tenant A's marker at MiB \[.*40", log)
    assert "INFO with wipe tenant B reads markers at MiB []" in log
    assert results(log).get("wipe-cost") == "ok", log
    print(re.findall(r"^TIME (?:wipe|release).*$", log, flags=re.M))


def test_only_the_granted_secret_connects(guest: tuple[int, str, Path]) -> None:
    _, log, share = guest
    assert results(log).get("dhchap") == "ok", log
    assert "INFO dhchap connect with no secret refused" in log
    assert "INFO dhchap connect with a wrong secret refused" in log
    proof = print_kernel_proof(share)
    assert any("authenticated" in line for line in proof), proof


def test_a_lost_target_is_reexported_and_the_client_reads_its_data(
    guest: tuple[int, str, Path],
) -> None:
    rc, log, share = guest
    assert results(log).get("reboot") == "ok", log
    assert "read its data" in log
    assert (share / "nvme-list-after-reboot.json").exists()
    assert rc == 0, log


def test_the_three_scripts_ride_out_a_storage_node_restart(guest: tuple[int, str, Path]) -> None:
    _, log, share = guest
    logs = "".join(f"\n--- {p.name}\n{p.read_text()}" for p in sorted(share.glob("*.log"))
                   if p.name not in ("guest.log", "console.log", "kernel.log"))  # fmt: skip
    assert results(log).get("e2e-reboot") == "ok", log + logs
    assert "INFO e2e target emptied: subsystems=[]" in log
    assert "read its data back" in log
