"""Inside the VM (issue 13): wipe between tenants, DH-HMAC-CHAP per lease, re-export after
the kernel lost its target, all with nvme_core.multipath=N, on the real kernel.

Prints `RESULT <case> ok|FAIL <why>`, `INFO ...` and `TIME <what> <seconds>` lines; saves
`nvme list -o json` while attached to $OUT/nvme-list-<case>.json; exits 1 on a failure.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import traceback

from storalloc.client.attach import AttachError, connect, disconnect
from storalloc.config.loader import DiskConfig, NodeConfig, ServerConfig, TransportConfig
from storalloc.server.backends.base import ExportSpec, export_id_for, make_nqn
from storalloc.server.backends.dhchap import generate_secret
from storalloc.server.backends.nvmeof import NvmeofBackend
from storalloc.server.runner import Runner

PREFIX = "nqn.2026-11.io.storalloc"
ROOT = "/sys/kernel/config/nvmet"
HOSTNQN = os.environ["HOSTNQN"]
OUT = os.environ.get("OUT", "/mnt/share")
VG = "storalloc-vmtest"
MARKER = b"TENANT-A-SECRET!"
OFFSETS_MIB = (0, 1, 40, 63)  # first block (zeroed by lvcreate anyway) and beyond it
SIZE_GB = 0.064  # 64 MB, rounded up to 62 MiB... the offsets stay inside
STATE = tempfile.mkdtemp(prefix="storalloc-state-")
RUN = Runner(timeout=120)
DISK = DiskConfig(model="VM", capacity=0.2, write_bw=1.0, read_bw=1.0, path="/dev/loopX",
                  carving="lvm", vg=VG)  # fmt: skip
NODE = NodeConfig(hostname="vmnode", ipv4="127.0.0.1", network="loopback", network_bw=1.0,
                  transport=TransportConfig(), disks=(DISK,))  # fmt: skip


def server(**kw: object) -> ServerConfig:
    base = {"driver": "configfs", "command_timeout": 120.0, "state_dir": STATE, "dhchap": True}
    return ServerConfig(**{**base, **kw})  # type: ignore[arg-type]


def sh(*argv: str) -> bytes:
    return subprocess.run(argv, check=True, capture_output=True).stdout


def new_export(b: NvmeofBackend, job: int) -> tuple[str, dict[str, object]]:
    eid = export_id_for(job, 0)
    nqn = make_nqn(PREFIX, NODE.hostname, eid)
    return eid, b.create(ExportSpec(eid, nqn, DISK, 0, SIZE_GB, HOSTNQN))


def attach(conn: dict[str, object], case: str) -> str:
    dev = connect(conn, HOSTNQN, runner=RUN, timeout=60)
    with open(f"{OUT}/nvme-list-{case}.json", "wb") as f:
        f.write(sh("nvme", "list", "-o", "json"))
    return dev


def write_markers(dev: str) -> None:
    with open(dev, "r+b", buffering=0) as f:
        for mib in OFFSETS_MIB:
            f.seek(mib << 20)
            f.write(MARKER.ljust(4096, b"!"))
        os.fsync(f.fileno())


def markers_seen(dev: str) -> list[int]:
    # O_DIRECT-free reads through the page cache are fine: the device is freshly attached.
    seen = []
    with open(dev, "rb", buffering=0) as f:
        for mib in OFFSETS_MIB:
            f.seek(mib << 20)
            if MARKER in f.read(4096):
                seen.append(mib)
    return seen


def tenant_b_sees(wipe: bool, job: int) -> list[int]:
    """Tenant A writes markers and releases; tenant B gets the same extents and reads them."""
    b = NvmeofBackend.from_config(server(wipe=wipe), NODE)
    eid_a, conn_a = new_export(b, job)
    dev = attach(conn_a, f"tenant-a-{job}")
    write_markers(dev)
    if markers_seen(dev) != list(OFFSETS_MIB):
        raise AssertionError("tenant A cannot read back its own markers")
    disconnect(str(conn_a["nqn"]), runner=RUN)
    start = time.monotonic()
    b.delete(eid_a)
    print(f"TIME release-returned-wipe-{wipe} {time.monotonic() - start:.2f}", flush=True)
    if b.wiper is not None and not b.wiper.wait(timeout=600):
        raise AssertionError("the wipe did not finish")
    eid_b, conn_b = new_export(b, job + 1)
    seen = markers_seen(attach(conn_b, f"tenant-b-{job}"))
    disconnect(str(conn_b["nqn"]), runner=RUN)
    b.delete(eid_b)
    if b.wiper is not None:
        b.wiper.wait(timeout=600)
    return seen


def wipe_case() -> None:
    leak = tenant_b_sees(wipe=False, job=10)
    print(f"INFO without wipe tenant B reads tenant A's marker at MiB {leak}", flush=True)
    if not [m for m in leak if m > 0]:
        raise AssertionError("control failed: no leak without the wipe, the test proves nothing")
    seen = tenant_b_sees(wipe=True, job=20)
    print(f"INFO with wipe tenant B reads markers at MiB {seen}", flush=True)
    if seen:
        raise AssertionError(f"tenant B read tenant A's marker at MiB {seen}")


def wipe_cost() -> None:
    """Seconds per GB of `blkdiscard --zeroout` on a 256 MiB LV of this VG."""
    sh("lvcreate", "-y", "-L", "256m", "-n", "wipecost", VG)
    start = time.monotonic()
    sh("blkdiscard", "--zeroout", f"/dev/{VG}/wipecost")
    took = time.monotonic() - start
    sh("lvremove", "-y", f"{VG}/wipecost")
    print(f"TIME wipe-256MiB {took:.2f} ({took / (256 * 2**20 / 1e9):.1f} s/GB)", flush=True)


def dhchap_case() -> None:
    b = NvmeofBackend.from_config(server(), NODE)
    eid, conn = new_export(b, 30)
    secret = str(conn.get("dhchap_secret") or "")
    key_file = f"{ROOT}/hosts/{HOSTNQN}/dhchap_key"
    with open(key_file) as f:
        in_kernel = f.read().strip() == secret
    print(f"INFO dhchap grant carries a secret {secret[:10]}...; {key_file} holds it: "
          f"{in_kernel}", flush=True)  # fmt: skip
    if not secret or not in_kernel:
        raise AssertionError("no per-lease secret in the grant and the kernel")
    for label, bad in (("no", None), ("a wrong", generate_secret())):
        try:
            attempt = {k: v for k, v in conn.items() if k != "dhchap_secret"}
            if bad:
                attempt["dhchap_secret"] = bad
            connect(attempt, HOSTNQN, runner=RUN, timeout=10)
            raise AssertionError(f"a connect with {label} secret succeeded")
        except AttachError as exc:
            print(f"INFO dhchap connect with {label} secret refused: {exc}", flush=True)
    dev = attach(conn, "dhchap")
    print(f"INFO dhchap connect with the granted secret: {dev}", flush=True)
    disconnect(str(conn["nqn"]), runner=RUN)
    b.delete(eid)
    if os.path.exists(f"{ROOT}/hosts/{HOSTNQN}"):
        raise AssertionError("the host entry (and its key) survived the lease")
    b.wiper and b.wiper.wait(timeout=600)


def clear_target_like_a_reboot() -> None:
    """What a reboot does to nvmet: all of configfs gone; LVs and the record stay."""
    for port in os.listdir(f"{ROOT}/ports"):
        for link in os.listdir(f"{ROOT}/ports/{port}/subsystems"):
            os.unlink(f"{ROOT}/ports/{port}/subsystems/{link}")
        os.rmdir(f"{ROOT}/ports/{port}")
    for sub in os.listdir(f"{ROOT}/subsystems"):
        for ns in os.listdir(f"{ROOT}/subsystems/{sub}/namespaces"):
            with open(f"{ROOT}/subsystems/{sub}/namespaces/{ns}/enable", "w") as f:
                f.write("0")
            os.rmdir(f"{ROOT}/subsystems/{sub}/namespaces/{ns}")
        for host in os.listdir(f"{ROOT}/subsystems/{sub}/allowed_hosts"):
            os.unlink(f"{ROOT}/subsystems/{sub}/allowed_hosts/{host}")
        os.rmdir(f"{ROOT}/subsystems/{sub}")
    for host in os.listdir(f"{ROOT}/hosts"):
        os.rmdir(f"{ROOT}/hosts/{host}")


def reboot_case() -> None:
    b = NvmeofBackend.from_config(server(), NODE)
    eid, conn = new_export(b, 40)
    dev = attach(conn, "before-reboot")
    payload = os.urandom(1 << 20)
    with open(dev, "r+b", buffering=0) as f:
        f.seek(8 << 20)
        f.write(payload)
        os.fsync(f.fileno())
    disconnect(str(conn["nqn"]), runner=RUN)
    clear_target_like_a_reboot()
    print(f"INFO target cleared: subsystems={os.listdir(f'{ROOT}/subsystems')}", flush=True)
    restarted = NvmeofBackend.from_config(server(), NODE)
    if eid not in restarted.list_exports():
        raise AssertionError("the restarted server does not find the LV")
    print(f"INFO re-exported after restart: {restarted.restore({eid})}", flush=True)
    dev = attach(conn, "after-reboot")  # the grant the client already had
    with open(dev, "rb", buffering=0) as f:
        f.seek(8 << 20)
        if f.read(1 << 20) != payload:
            raise AssertionError("the data written before the reboot is not read back")
    print(f"INFO client reconnected as {dev} with its old grant and read its data", flush=True)
    disconnect(str(conn["nqn"]), runner=RUN)
    restarted.delete(eid)
    restarted.wiper and restarted.wiper.wait(timeout=600)


def main() -> int:
    failed = 0
    for name, case in (("wipe", wipe_case), ("wipe-cost", wipe_cost), ("dhchap", dhchap_case),
                       ("reboot", reboot_case)):  # fmt: skip
        t0 = time.monotonic()
        try:
            case()
            print(f"RESULT {name} ok", flush=True)
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            print(f"RESULT {name} FAIL {exc}", flush=True)
        print(f"TIME case-{name} {time.monotonic() - t0:.1f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
