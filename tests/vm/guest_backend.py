"""Inside the VM: export, attach, write/read, tear down with the real backend and kernel.

Prints `RESULT <case> ok|FAIL <why>` lines and `TIME <what> <seconds>`; exits 1 on a failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import traceback

from storalloc.client.attach import AttachError, connect, disconnect
from storalloc.config.loader import DiskConfig, NodeConfig, ServerConfig, TransportConfig
from storalloc.server.backends import reset
from storalloc.server.backends.base import ExportSpec, export_id_for, make_nqn
from storalloc.server.backends.nvmeof import NvmeofBackend
from storalloc.server.runner import Runner

PREFIX = "nqn.2026-11.io.storalloc"
ROOT = "/sys/kernel/config/nvmet"
HOSTNQN = os.environ["HOSTNQN"]
PATTERN_MIB = 1


# No record file and no wipe here: these cases are about the export itself (see
# guest_hardening.py for issue 13's wipe, secrets and re-export).
SERVER = ServerConfig(driver="configfs", command_timeout=60.0, state_dir=None, wipe=False)


def vm_disk(path: str, carving: str, *, vg: str = "", mountpoint: str | None = None) -> DiskConfig:
    """A disk of the real configuration type (the figures do not matter here)."""
    return DiskConfig(
        model="VM",
        capacity=1.0,
        write_bw=1.0,
        read_bw=1.0,
        path=path,
        carving=carving,
        vg=vg,
        mountpoint=mountpoint,
    )


def vm_node(hostname: str, disks: tuple[DiskConfig, ...]) -> NodeConfig:
    return NodeConfig(
        hostname=hostname,
        ipv4="127.0.0.1",
        network="loopback",
        network_bw=1.0,
        transport=TransportConfig(),
        disks=disks,
    )


def sh(*argv: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, check=True, capture_output=True, **kw)  # type: ignore[call-overload]


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def write_and_check(dev: str, backing: str, job: int) -> None:
    """Write a pattern through the NVMe device, read it back, find it in the backing store."""
    pattern = f"/tmp/pattern-{job}"
    with open(pattern, "wb") as f:
        f.write(os.urandom(PATTERN_MIB << 20))
    sh("dd", f"if={pattern}", f"of={dev}", "bs=1M", "oflag=direct", "conv=fsync", "status=none")
    back = sh("dd", f"if={dev}", "bs=1M", f"count={PATTERN_MIB}", "iflag=direct", "status=none")
    with open(pattern, "rb") as f:
        want = f.read()
    if back.stdout != want:
        raise AssertionError(f"read back through {dev} differs from what was written")
    with open(backing, "rb") as f:
        if f.read(len(want)) != want:
            raise AssertionError(f"the pattern did not reach the backing store {backing}")


def round_trip(name: str, disk: DiskConfig, job: int) -> None:
    """One export's whole life, with checks at each step."""
    t0 = time.monotonic()
    node = vm_node(hostname="vmnode", disks=(disk,))
    backend = NvmeofBackend.from_config(SERVER, node)
    eid = export_id_for(job, 0)
    nqn = make_nqn(PREFIX, node.hostname, eid)
    conn = backend.create(ExportSpec(eid, nqn, disk, 0, 0.064, HOSTNQN))
    sub = f"{ROOT}/subsystems/{nqn}"
    backing = read(f"{sub}/namespaces/1/device_path")
    buffered = read(f"{sub}/namespaces/1/buffered_io")
    print(f"INFO {name} backing={backing} buffered_io={buffered}", flush=True)
    runner = Runner(timeout=60)
    try:
        connect(
            conn,
            "nqn.2014-08.org.nvmexpress:uuid:0badc0de-0000-4000-8000-000000000000",
            runner=runner,
            timeout=5,
        )
        raise AssertionError("a host that is not allowed could connect")
    except AttachError as exc:
        print(f"INFO {name} intruder refused: {exc}", flush=True)
    dev = connect(conn, HOSTNQN, runner=runner, timeout=30)
    print(f"INFO {name} attached as {dev}", flush=True)
    with open(f"/mnt/share/nvme-list-{name}.json", "wb") as f:
        f.write(sh("nvme", "list", "-o", "json").stdout)
    write_and_check(dev, backing, job)
    if NvmeofBackend.from_config(SERVER, node).list_exports() != [eid]:
        raise AssertionError("a restarted backend does not list the export")
    count = disconnect(nqn, runner=runner)
    if count != 1:
        raise AssertionError(f"nvme disconnect reported {count} controllers, expected 1")
    backend.delete(eid)
    leftovers = [p for p in (sub, backing) if os.path.exists(p)]
    leftovers += os.listdir(f"{ROOT}/ports") + os.listdir(f"{ROOT}/hosts")
    if leftovers:
        raise AssertionError(f"left behind after delete: {leftovers}")
    backend.delete(eid)  # idempotent on a real kernel too
    print(f"TIME {name} {time.monotonic() - t0:.1f}", flush=True)


def reset_case() -> None:
    """Two exports left behind by a 'crashed' server are found and removed by reset()."""
    disk = vm_disk("/dev/fake", "file", mountpoint="/mnt/ext4")
    node = vm_node(hostname="vmnode", disks=(disk,))
    first = NvmeofBackend.from_config(SERVER, node)
    ids = [export_id_for(50 + i, 0) for i in range(2)]
    for eid in ids:
        first.create(ExportSpec(eid, make_nqn(PREFIX, "vmnode", eid), disk, 0, 0.01, HOSTNQN))
    removed = reset(NvmeofBackend.from_config(SERVER, node))
    if sorted(removed) != sorted(ids) or os.listdir(f"{ROOT}/subsystems"):
        raise AssertionError(f"reset removed {removed}, expected {ids}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vg-ready", type=int, default=0)
    args = ap.parse_args()
    cases = [
        (
            "tmpfs-file",
            lambda: round_trip(
                "tmpfs-file", vm_disk("/dev/a", "file", mountpoint="/tmp/tmpfs-disk"), 1
            ),
        ),
        (
            "ext4-file",
            lambda: round_trip("ext4-file", vm_disk("/dev/b", "file", mountpoint="/mnt/ext4"), 2),
        ),
        ("reset", reset_case),
    ]
    if args.vg_ready:
        cases.append(
            ("lvm", lambda: round_trip("lvm", vm_disk("/dev/c", "lvm", vg="storalloc-vmtest"), 3))
        )
    else:
        print("RESULT lvm SKIP no volume group (lvm2 missing?)", flush=True)
    failed = 0
    for name, case in cases:
        try:
            case()
            print(f"RESULT {name} ok", flush=True)
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            print(f"RESULT {name} FAIL {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
