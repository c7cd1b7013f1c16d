"""The wire: a bare pyzmq relay with a grant's hops (client -> orchestrator -> server ->
orchestrator -> client) beside the live grant path (orchestrator.py + server.py --simulate),
both as real processes on loopback in the same run.

    .venv/bin/python bench/bench_wire.py [--quick] [--profile]

Throughput with 64 requests in flight; p50/p99 latency of unpipelined requests.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storalloc import accel  # noqa: E402
from storalloc.wire import protocol as p  # noqa: E402

CONFIG = ROOT / "config"
IN_FLIGHT = 64
RELAY = r'''
import sys, zmq
ctx = zmq.Context()
if sys.argv[1] == "middle":
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.ROUTER)
    front.bind("tcp://127.0.0.1:*"); back.bind("tcp://127.0.0.1:*")
    ends = [s.getsockopt_string(zmq.LAST_ENDPOINT) for s in (front, back)]
    print(*ends, flush=True)
    server = back.recv_multipart()[0]  # the server says hello first
    poller = zmq.Poller(); poller.register(front, zmq.POLLIN); poller.register(back, zmq.POLLIN)
    while True:
        for sock, _ in poller.poll():
            frames = sock.recv_multipart()
            if sock is front:  # [client, body] -> server, tagged with the client
                back.send_multipart([server, frames[0], frames[1]])
            else:  # [server, client, body] -> client
                if frames[1] == b"stop": sys.exit(0)
                front.send_multipart([frames[1], frames[2]])
else:
    sock = ctx.socket(zmq.DEALER); sock.connect(sys.argv[2]); sock.send_multipart([b"", b"hello"])
    while True:
        client, body = sock.recv_multipart()
        sock.send_multipart([client, body])
'''


def _latencies(send, recv, count: int) -> list[float]:
    out = []
    for i in range(count):
        t0 = time.perf_counter()
        send(i)
        recv()
        out.append(time.perf_counter() - t0)
    return out


def _throughput(send, recv, count: int) -> float:
    t0 = time.perf_counter()
    sent = 0
    for _ in range(min(IN_FLIGHT, count)):
        send(sent)
        sent += 1
    for _ in range(count):
        recv()
        if sent < count:
            send(sent)
            sent += 1
    return count / (time.perf_counter() - t0)


def relay(count: int) -> dict:
    procs = [subprocess.Popen([sys.executable, "-c", RELAY, "middle"], stdout=subprocess.PIPE,
                              text=True)]  # fmt: skip
    front, back = procs[0].stdout.readline().split()
    procs.append(subprocess.Popen([sys.executable, "-c", RELAY, "server", back]))
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(front)
    body = p.encode(p.AllocRequest(request_id="r", user="bench", size_gb=1.0,
                                   duration_s=600.0))[2]  # fmt: skip
    try:
        send = lambda i: sock.send(body)  # noqa: E731
        recv = sock.recv
        _latencies(send, recv, 50)  # warm-up: connections established
        lat = _latencies(send, recv, count)
        rate = _throughput(send, recv, count * 4)
        return _figures(lat, rate)
    finally:
        sock.close(0)
        ctx.term()
        for proc in procs:
            proc.kill()
            proc.wait()


def _figures(lat: list[float], rate: float) -> dict:
    lat = sorted(lat)
    return {"p50_ms": statistics.median(lat) * 1e3,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
            "per_s": rate}  # fmt: skip


def _script(*args: str, out: int | None = None, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=out,
                            stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip


def _endpoints(out) -> dict[str, str]:
    """The `listening clients=... servers=...` line; log lines (state restored, ...) may
    come before it on stdout."""
    for line in out:
        words = line.split()
        if words and words[0] == "listening":
            return dict(w.split("=", 1) for w in words[1:] if "=" in w)
    raise RuntimeError("the orchestrator exited before printing its endpoints")


#: The orchestrator with its store's commits unsynced: a measurement only (a power cut
#: may lose what such a store committed), to tell the disk syncs' share of a grant from
#: the CPU's. Nothing in storalloc offers it.
UNSYNCED = ("import runpy, sys; from storalloc.orchestrator.store import Store; "
            "Store.__init__.__kwdefaults__['synchronous'] = 'OFF'; del sys.argv[0]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")


def grants(count: int, profile: Path | None = None, synced: bool = True) -> dict:
    """The live path: AllocRequest in, notices, Granted out, through a simulated server."""
    with tempfile.TemporaryDirectory(prefix="bench-wire-") as state:
        return _grants(count, profile, state, synced)


def _grants(count: int, profile: Path | None, state: str, synced: bool) -> dict:
    if not synced:  # (not profiled: cProfile's command line takes no -c)
        prefix = ["-c", UNSYNCED]
    else:
        prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    # A fresh state directory: no jobs restored from an earlier run, no run sharing a database.
    # A profile is taken from the Python sources: cProfile does not see compiled functions.
    env = {**os.environ, accel.SWITCH: "0"} if profile else None
    orch = _script(*prefix, "orchestrator.py", "-c", str(CONFIG / "orchestrator" / "config.yml"),
                   "--client-endpoint", "tcp://127.0.0.1:*", "--server-endpoint",
                   "tcp://127.0.0.1:*", "--state-dir", state, "--print-endpoints",
                   out=subprocess.PIPE, env=env)  # fmt: skip
    server = None
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        fields = _endpoints(orch.stdout)
        server = _script("server.py", "-c", str(CONFIG / "server" / "config.yml"), "-s",
                         str(CONFIG / "server" / "systems" / "ault14.yml"), "--simulate",
                         "--orchestrator", fields["servers"], out=subprocess.DEVNULL)  # fmt: skip
        sock.connect(fields["clients"])
        send, recv = _client(sock)
        _wait_registered(send, recv)
        procs = {"orch": orch.pid, "server": server.pid}
        cpu = {name: _cpu_s(pid) for name, pid in procs.items()}
        lat = _latencies(send, recv, count)
        unpiped = {name: _cpu_s(pid) for name, pid in procs.items()}
        rate = _throughput(send, recv, count * 4)
        figures = _figures(lat, rate)
        for name, pid in procs.items():  # CPU per grant: unpipelined, then 64 in flight
            figures[f"{name}_cpu_us_1"] = (unpiped[name] - cpu[name]) / count * 1e6
            figures[f"{name}_cpu_us_64"] = (_cpu_s(pid) - unpiped[name]) / (count * 4) * 1e6
        return figures
    finally:
        sock.close(0)
        ctx.term()
        for proc in (server, orch):
            if proc is not None:
                proc.send_signal(2)
                proc.wait(timeout=60)


def _client(sock: zmq.Socket) -> tuple[Callable[[int], None], Callable[[], None]]:
    """send(i): one request; recv(): wait for the grant that ends one request."""
    ids = itertools.count()
    sock.setsockopt(zmq.RCVTIMEO, 30_000)

    def send(_i: int) -> None:
        # Unique ids across phases: a repeated id is answered from its job, not placed.
        msg = p.AllocRequest(request_id=f"r{next(ids)}", user="bench", size_gb=1.0,
                             duration_s=600.0)  # fmt: skip
        sock.send_multipart(p.encode(msg))

    def recv() -> None:
        # Notices come first; the grant ends the request. The harness reads the kind of a
        # notice without decoding it, as the relay's reads no body: the two cores are
        # shared with what is measured.
        while True:
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                raise RuntimeError("no grant within 30 s: is the server registered?") from None
            if frames[1] == b"notice":
                continue
            msg = p.decode(frames)
            if isinstance(msg, p.Granted):
                return
            raise RuntimeError(f"refused: {msg}")

    return send, recv


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_registered(send, recv) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            send(-1)
            recv()
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise


def measure(quick: bool = False, profile: bool = True) -> dict:
    count = 200 if quick else 1000
    result = {"relay": relay(count), "grant": grants(count),
              "grant_unsynced": grants(count, synced=False)}  # fmt: skip
    if profile:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "orch.prof"
            grants(count // 2, path)
            out = io.StringIO()
            pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(14)
            lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
            start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
            result["profile"] = "\n".join(lines[start:]).replace(f"{ROOT}/", "")
    return result


def report(res: dict) -> str:
    """The figures, their ratios against the targets, and the orchestrator's profile."""
    relay, grant = res["relay"], res["grant"]
    share = grant["per_s"] / relay["per_s"]
    slower = grant["p50_ms"] / relay["p50_ms"]
    lines = [
        f"relay: {relay['per_s']:,.0f} round trips/s with {IN_FLIGHT} in flight; unpipelined "
        f"p50 {relay['p50_ms']:.3f} ms, p99 {relay['p99_ms']:.3f} ms",
        f"grant: {grant['per_s']:,.0f} grants/s with {IN_FLIGHT} in flight; unpipelined "
        f"p50 {grant['p50_ms']:.3f} ms, p99 {grant['p99_ms']:.3f} ms",
        f"CPU per grant (us), unpipelined / {IN_FLIGHT} in flight: orchestrator "
        f"{grant['orch_cpu_us_1']:,.0f} / {grant['orch_cpu_us_64']:,.0f}, server "
        f"{grant['server_cpu_us_1']:,.0f} / {grant['server_cpu_us_64']:,.0f}",
        f"throughput: grants at {share:.1%} of the relay (target >= 50%)",
        f"latency: grant p50 {slower:.1f}x the relay's round trip (target <= 2x)",
    ]
    bare = res.get("grant_unsynced")
    if bare:
        lines.append(f"with commits unsynced (a floor, not offered): {bare['per_s']:,.0f} "
                     f"grants/s ({bare['per_s'] / relay['per_s']:.1%} of the relay), p50 "
                     f"{bare['p50_ms']:.3f} ms ({bare['p50_ms'] / relay['p50_ms']:.1f}x)")
    if "profile" in res:
        lines += ["", "orchestrator profile (top functions by own time):", res["profile"]]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled run")
    args = parser.parse_args()
    print(report(measure(args.quick, profile=not args.no_profile)))
