"""A one-node Slurm on localhost for tests: slurmctld and slurmd from Debian's packages,
with their own slurm.conf, ports, spool and state in a directory, authenticated by a
private munged, and the burst_buffer/lua plugin loading a given burst_buffer.lua."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.services.munge import Munged, MungeUnavailable

PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/slurm-wlm", "/usr/lib/slurm-wlm", "/usr/lib64/slurm")
START_WAIT = 60.0
NODE = "storalloc0"


class SlurmUnavailable(Exception):
    """The daemons are not installed or cannot start here (the reason is the message)."""


def missing() -> str | None:
    """Why a local Slurm cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs as another user"
    for tool in ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed (Debian packages slurmctld, slurmd, slurm-client)"
    if not any(os.path.exists(f"{d}/burst_buffer_lua.so") for d in PLUGIN_DIRS):
        return "this Slurm has no burst_buffer/lua plugin (burst_buffer_lua.so)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(d: Path, munge_socket: Path) -> str:
    host = socket.gethostname().split(".")[0]
    return f"""ClusterName=storalloc-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
BurstBufferType=burst_buffer/lua
DebugFlags=BurstBuffer
SlurmctldDebug=debug
NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 CPUs=1 RealMemory=100 State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


class Slurm:
    """`with Slurm(dir, lua, env) as s:` runs slurmctld and slurmd; `s.run(...)` runs a
    Slurm command against them. `env` reaches slurmctld, hence burst_buffer.lua."""

    def __init__(self, directory: Path, lua: Path, env: dict[str, str]) -> None:
        self.dir = Path(directory)
        self.lua = lua
        self.extra_env = env
        self.munge = Munged(self.dir)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conf = self.dir / "slurm.conf"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self) -> Slurm:
        reason = missing()
        if reason:
            raise SlurmUnavailable(reason)
        try:
            self.munge.start()
        except MungeUnavailable as exc:
            raise SlurmUnavailable(str(exc)) from None
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(_conf(self.dir, self.munge.socket))
        (self.dir / "burst_buffer.conf").write_text(
            "Directive=BB_LUA\nStageInTimeout=120\nStageOutTimeout=120\nOtherTimeout=120\n"
        )
        shutil.copy(self.lua, self.dir / "burst_buffer.lua")
        daemon_env = {**self.env(), **self.extra_env}
        self._spawn(["slurmctld", "-D", "-i", "-f", str(self.conf)], daemon_env)
        self._spawn(["slurmd", "-D", "-N", NODE, "-f", str(self.conf)], daemon_env)
        self._wait_node_idle()
        return self

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.dir / f"{argv[0]}.out", "wb")  # noqa: SIM115 - closed with the proc
        self.procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def _wait_node_idle(self) -> None:
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout
            if out.strip() in ("idle", "mixed"):
                return
            time.sleep(0.2)  # polling the node state, bounded by the deadline
        raise SlurmUnavailable("slurmd did not become idle:\n" + self.logs())

    def logs(self) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
            path = self.dir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def run(self, argv: list[str], *, check: bool = True, user: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        result = subprocess.run(argv, env=self.env(), capture_output=True, text=True,
                                timeout=60, user=user, cwd=cwd)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed: {result.stderr}\n{self.logs()}")
        return result

    def stop(self) -> None:
        if self.procs:  # jobs first, so that their steps end the normal way
            self.run(["scancel", "--quiet", "--partition=debug"], check=False)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        self._reap_steps()
        self.munge.stop()

    def _reap_steps(self) -> None:
        """slurmstepd daemonizes, and a job's script may outlive it: end what this Slurm
        started (they all carry our SLURM_CONF in their environment; nothing else does)."""
        mark = f"SLURM_CONF={self.conf}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue  # gone meanwhile, or not ours to read

    def __enter__(self) -> Slurm:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
