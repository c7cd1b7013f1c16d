"""Trust costs and limits, measured on real processes; figures go to doc/security.md by hand.

- MUNGE: encode (client side) and decode + digest check (orchestrator side) per request,
  with a private munged (needs the `munge` package).
- Memory: the orchestrator's RSS before and after a peer sends one 256 MiB frame
  (issue 10 measured 66 -> 578 MiB before ZMQ_MAXMSGSIZE).

    .venv/bin/python bench/bench_trust.py [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zmq

from storalloc.wire import protocol as p
from storalloc.wire.security import Munge, authenticate, digest
from tests.procs import ORCH_CFG, start_orchestrator
from tests.services.munge import Munged, munge_missing


def munge_costs(requests: int) -> str:
    if munge_missing():
        return f"MUNGE: skipped ({munge_missing()})"
    root = Path(tempfile.mkdtemp(prefix="bench-munge-"))
    root.chmod(0o755)
    enc, dec = [], []
    with Munged(root) as daemon:
        munge = Munge(daemon.socket)
        for i in range(requests):
            msg = p.ListJobs(request_id=str(i), user="x")
            t0 = time.perf_counter()
            cred = munge.encode(digest(msg.to_dict()))
            t1 = time.perf_counter()
            authenticate(munge, p.ListJobs(request_id=str(i), user="x", credential=cred))
            dec.append(time.perf_counter() - t1)
            enc.append(t1 - t0)
    return (f"MUNGE per request ({requests}): encode median {statistics.median(enc) * 1e3:.2f} "
            f"ms, decode + check median {statistics.median(dec) * 1e3:.2f} ms")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def big_frame() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "o.yml"
        cfg.write_text(ORCH_CFG.read_text().replace("state_dir: null", f"state_dir: {tmp}/s"))
        orch, clients, _ = start_orchestrator(config=cfg, verbose=False)
        try:
            before = rss_mib(orch.proc.pid)
            sock = zmq.Context.instance().socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            sock.connect(clients)
            sock.send_multipart([p.VERSION, b"list_nodes", b" " * (256 << 20)])
            if monitor.poll(60_000):
                monitor.recv_multipart()
            after = rss_mib(orch.proc.pid)
            sock.disable_monitor()
            sock.close()
        finally:
            orch.stop()
    return f"orchestrator RSS around one 256 MiB frame: {before:.0f} -> {after:.0f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    print(munge_costs(args.requests), flush=True)
    print(big_frame(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
